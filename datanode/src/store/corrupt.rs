//! Replicas known to be damaged. Marking one makes every read of it fail at once with
//! `checksum_mismatch`, so nobody is sent bytes we already know are bad; it stays on disk (and
//! in block reports) until the namenode, having a good copy elsewhere, orders its deletion.

use granary_client::BlockId;

use super::BlockStore;

impl BlockStore {
    /// Marks a finalized replica corrupt. `false` if there is no such replica (deleted
    /// meanwhile) or it was already marked.
    pub fn mark_corrupt(&self, block: BlockId, reason: impl Into<String>) -> bool {
        let mut index = self.lock();
        if !index.replicas.contains_key(&block) || index.corrupt.contains_key(&block) {
            return false;
        }
        index.corrupt.insert(block, reason.into());
        true
    }

    /// Why the replica is marked corrupt, if it is.
    pub fn corruption(&self, block: BlockId) -> Option<String> {
        self.lock().corrupt.get(&block).cloned()
    }

    pub fn is_corrupt(&self, block: BlockId) -> bool {
        self.lock().corrupt.contains_key(&block)
    }

    /// Every replica marked corrupt and why, sorted by block id.
    pub fn corrupt_replicas(&self) -> Vec<(BlockId, String)> {
        let mut out: Vec<_> = self
            .lock()
            .corrupt
            .iter()
            .map(|(&block, reason)| (block, reason.clone()))
            .collect();
        out.sort_by_key(|(block, _)| *block);
        out
    }
}
