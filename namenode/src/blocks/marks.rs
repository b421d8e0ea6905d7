//! The block map's marks: corrupt and excess replicas, and the dirty set the replication
//! monitor drains.

use granary_client::{BlockId, DatanodeId};

use super::BlockMap;

impl BlockMap {
    /// Marks the replica on `datanode` corrupt; false when no file has the block.
    pub fn mark_corrupt(&mut self, block: BlockId, datanode: &DatanodeId) -> bool {
        let marked = self.update(block, |info| info.corrupt.insert(datanode.clone()));
        if marked.is_some() {
            let marks = self
                .corrupt_by_datanode
                .entry(datanode.clone())
                .or_default();
            marks.insert(block);
        }
        marked.is_some()
    }

    pub fn is_corrupt(&self, block: BlockId, datanode: &DatanodeId) -> bool {
        self.blocks
            .get(&block)
            .is_some_and(|info| info.corrupt.contains(datanode))
    }

    /// The replica on `datanode` was ordered deleted as excess.
    pub fn mark_excess(&mut self, block: BlockId, datanode: &DatanodeId) {
        self.update(block, |info| info.excess.insert(datanode.clone()));
    }

    pub fn is_excess(&self, block: BlockId, datanode: &DatanodeId) -> bool {
        self.blocks
            .get(&block)
            .is_some_and(|info| info.excess.contains(datanode))
    }

    /// Asks the monitor to look at a block again (a copy timed out, a holder changed state).
    pub fn mark_dirty(&mut self, block: BlockId) {
        if self.blocks.contains_key(&block) {
            self.dirty.insert(block);
        }
    }

    /// Every block with a replica on `datanode` needs another look (its state changed).
    pub fn mark_datanode_dirty(&mut self, datanode: &DatanodeId) {
        if let Some(held) = self.by_datanode.get(datanode) {
            self.dirty.extend(held.iter().copied());
        }
    }

    /// Up to `limit` dirty blocks, no longer dirty.
    pub fn take_dirty(&mut self, limit: usize) -> Vec<BlockId> {
        let taken: Vec<BlockId> = self.dirty.iter().take(limit).copied().collect();
        for block in &taken {
            self.dirty.remove(block);
        }
        taken
    }

    pub fn dirty_len(&self) -> usize {
        self.dirty.len()
    }
}
