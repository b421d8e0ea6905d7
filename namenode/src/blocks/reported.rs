//! What datanodes reported about the replicas of blocks under construction, and committing a
//! block at it when its file completes: the namenode takes a block's length and digest from
//! the datanodes that stored it (as HDFS commits block lengths from datanodes), never from
//! the writer alone.

use granary_client::checksum::Digest;
use granary_client::{BlockId, DatanodeId};

use super::BlockMap;

/// A finalized replica as its datanode described it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reported {
    pub length: u64,
    pub sha256: Digest,
}

impl BlockMap {
    /// Records what `datanode` reported about its replica of a block under construction (a
    /// block of a complete file has its length and digest already).
    pub fn record_reported(&mut self, block: BlockId, datanode: &DatanodeId, reported: Reported) {
        self.update(block, |info| {
            if !info.is_complete() && info.replicas.contains(datanode) {
                info.reported.insert(datanode.clone(), reported);
            }
        });
    }

    /// The file completed with this block at `length` and `sha256`: replicas reported with
    /// anything else leave the map and are returned, to be deleted. Replicas reported
    /// without a digest (by an older datanode) stay, held to `length` by later reports.
    pub fn commit(&mut self, block: BlockId, length: u64, sha256: Digest) -> Vec<DatanodeId> {
        let committed = Reported { length, sha256 };
        let wrong = self
            .update(block, |info| {
                info.length = Some(length);
                let reported = std::mem::take(&mut info.reported);
                reported
                    .into_iter()
                    .filter(|(_, r)| *r != committed)
                    .map(|(datanode, _)| datanode)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for datanode in &wrong {
            self.remove_replica(block, datanode);
        }
        wrong
    }
}
