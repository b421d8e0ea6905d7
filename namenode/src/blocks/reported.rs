//! What datanodes reported about the replicas of blocks being written, and committing a
//! block at it: the namenode takes a block's generation, length and digest from the
//! datanodes that stored it (as HDFS commits block lengths from datanodes), never from the
//! writer alone.

use granary_client::checksum::Digest;
use granary_client::{BlockId, DatanodeId, Generation};

use super::BlockMap;

/// A finalized replica as its datanode described it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reported {
    pub generation: Generation,
    pub length: u64,
    pub sha256: Digest,
}

impl BlockMap {
    /// Records what `datanode` reported about its replica of a block being written (a block
    /// of a closed file has its length and digest already).
    pub fn record_reported(&mut self, block: BlockId, datanode: &DatanodeId, reported: Reported) {
        self.update(block, |info| {
            if !info.is_complete() && info.replicas.contains(datanode) {
                info.reported.insert(datanode.clone(), reported);
            }
        });
    }

    /// The block's file closed with it at `generation`, `length` and `sha256`: replicas
    /// reported with anything else, or known at an older generation, leave the map and are
    /// returned, to be deleted. Replicas reported without a digest (by an older datanode) at
    /// the generation stay, held to `length` by later reports.
    pub fn commit(
        &mut self,
        block: BlockId,
        generation: Generation,
        length: u64,
        sha256: Digest,
    ) -> Vec<DatanodeId> {
        let committed = Reported {
            generation,
            length,
            sha256,
        };
        let wrong = self
            .update(block, |info| {
                info.length = Some(length);
                info.generation = generation;
                info.pipeline.clear();
                let reported = std::mem::take(&mut info.reported);
                let mut wrong: Vec<DatanodeId> = reported
                    .into_iter()
                    .filter(|(_, r)| *r != committed)
                    .map(|(datanode, _)| datanode)
                    .collect();
                wrong.extend(stale_replicas(info, generation));
                wrong.sort();
                wrong.dedup();
                wrong
            })
            .unwrap_or_default();
        for datanode in &wrong {
            self.remove_replica(block, datanode);
        }
        wrong
    }

    /// A flush committed the block (still being written) at `generation`: replicas older
    /// than it leave the map and are returned, to be deleted.
    pub fn commit_generation(&mut self, block: BlockId, generation: Generation) -> Vec<DatanodeId> {
        let stale = self
            .update(block, |info| {
                info.generation = generation;
                info.reported.retain(|_, r| r.generation >= generation);
                stale_replicas(info, generation)
            })
            .unwrap_or_default();
        for datanode in &stale {
            self.remove_replica(block, datanode);
        }
        stale
    }
}

fn stale_replicas(info: &super::BlockInfo, generation: Generation) -> Vec<DatanodeId> {
    info.replica_generations
        .iter()
        .filter(|(_, &g)| g < generation)
        .map(|(datanode, _)| datanode.clone())
        .collect()
}
