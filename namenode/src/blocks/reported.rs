//! What datanodes reported about the replicas of blocks being written, and committing a
//! block at it: the namenode takes a block's generation, length and digest from the
//! datanodes that stored it (as HDFS commits block lengths from datanodes), never from the
//! writer alone.

use granary_client::checksum::Digest;
use granary_client::{BlockId, DatanodeId, Generation};

use super::{BlockInfo, BlockMap};

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

    /// The block's file closed with it at `generation`, `length` and `sha256`. Replicas
    /// reported at that generation with another length or digest leave the map and are
    /// returned, to be deleted. Replicas known only at an older generation leave the map too
    /// (never located again); they are returned for deletion unless they were in the block's
    /// pipeline, whose report of the new state may merely be late (a full report deletes them
    /// if it never comes). Replicas reported without a digest (by an older datanode) at the
    /// generation stay, held to `length` by later reports.
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
        let (gone, to_delete) = self
            .update(block, |info| {
                info.length = Some(length);
                let reported = std::mem::take(&mut info.reported);
                let wrong: Vec<DatanodeId> = reported
                    .into_iter()
                    .filter(|(_, r)| r.generation == generation && *r != committed)
                    .map(|(datanode, _)| datanode)
                    .collect();
                let (mut gone, mut to_delete) = older_than(info, generation);
                info.pipeline.clear();
                gone.extend(wrong.iter().cloned());
                to_delete.extend(wrong);
                (gone, to_delete)
            })
            .unwrap_or_default();
        self.forget(block, &gone);
        to_delete
    }

    /// A flush (or `add_block`'s `previous`) committed the block, still being written, at
    /// `generation`: replicas older than it leave the map; those to delete (not in the
    /// pipeline, see [`BlockMap::commit`]) are returned.
    pub fn commit_generation(&mut self, block: BlockId, generation: Generation) -> Vec<DatanodeId> {
        let (gone, to_delete) = self
            .update(block, |info| {
                info.generation = generation;
                info.reported.retain(|_, r| r.generation >= generation);
                older_than(info, generation)
            })
            .unwrap_or_default();
        self.forget(block, &gone);
        to_delete
    }

    fn forget(&mut self, block: BlockId, gone: &[DatanodeId]) {
        for datanode in gone {
            self.remove_replica(block, datanode);
        }
    }
}

/// Sets the committed generation and answers the replicas older than it, and those of them
/// not in the pipeline (to delete).
fn older_than(info: &mut BlockInfo, generation: Generation) -> (Vec<DatanodeId>, Vec<DatanodeId>) {
    info.generation = generation;
    let older: Vec<DatanodeId> = info
        .replica_generations
        .iter()
        .filter(|(_, &g)| g < generation)
        .map(|(datanode, _)| datanode.clone())
        .collect();
    let to_delete = older
        .iter()
        .filter(|dn| !info.pipeline.contains(dn))
        .cloned()
        .collect();
    (older, to_delete)
}
