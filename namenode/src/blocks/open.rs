//! Blocks of open files: the pipeline a block is written through, reopening a block of a
//! closed file (an append, a truncate's cut), and blocks changing files (concat).

use granary_client::{BlockId, DatanodeId, InodeId};

use super::BlockMap;

impl BlockMap {
    /// The block is written (again) through `pipeline`; until its file closes it is not
    /// healed, trimmed or counted by safe mode.
    pub fn reopen(&mut self, block: BlockId, pipeline: Vec<DatanodeId>) {
        self.update(block, |info| {
            info.length = None;
            info.pipeline = pipeline;
        });
    }

    /// The block now belongs to `file`, at its replication (concat).
    pub fn set_file(&mut self, block: BlockId, file: InodeId, replication: u16) {
        self.update(block, |info| {
            info.file = file;
            info.replication = replication;
        });
    }

    /// Live-or-not nodes that hold the block or were given it to write: what a lease
    /// recovery asks.
    pub fn possible_holders(&self, block: BlockId) -> Vec<DatanodeId> {
        let Some(info) = self.blocks.get(&block) else {
            return Vec::new();
        };
        let mut holders: Vec<DatanodeId> = info
            .replicas
            .iter()
            .filter(|dn| !info.corrupt.contains(*dn))
            .cloned()
            .collect();
        for dn in &info.pipeline {
            if !holders.contains(dn) {
                holders.push(dn.clone());
            }
        }
        holders
    }
}
