//! Block recoveries in flight: for each file whose last block is being recovered (its
//! writer's lease expired, `recover_lease`, or a truncate's cut), the generation the
//! recovery runs at, its primary datanode and when it was ordered. Memory only: a restart
//! forgets them, and the file is simply open again with a fresh soft limit.
//!
//! The namesystem (`namesystem::recovery`) starts recoveries, sends the primary its
//! `Recover` command once the new generation is durable, accepts `commit_block_sync` only
//! at the latest generation, and after `recovery_timeout` starts again under a new
//! generation with another primary.

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use granary_client::protocol::DatanodeInfo;
use granary_client::{BlockId, DatanodeId, Generation, InodeId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockRecovery {
    pub file: InodeId,
    pub block: BlockId,
    pub generation: Generation,
    /// A truncate's cut: the bytes to keep. `None`: the longest common prefix.
    pub length: Option<u64>,
    pub primary: DatanodeId,
    /// Every primary this recovery has had, the current one last.
    pub primaries: Vec<DatanodeId>,
    pub ordered: Instant,
}

#[derive(Debug, Default)]
pub struct Recoveries {
    by_file: HashMap<InodeId, BlockRecovery>,
    by_block: HashMap<BlockId, InodeId>,
}

impl Recoveries {
    /// Records a recovery, replacing the file's earlier one (a timeout started it again).
    pub fn start(&mut self, recovery: BlockRecovery) {
        self.by_block.insert(recovery.block, recovery.file);
        self.by_file.insert(recovery.file, recovery);
    }

    pub fn of_file(&self, file: InodeId) -> Option<&BlockRecovery> {
        self.by_file.get(&file)
    }

    pub fn of_block(&self, block: BlockId) -> Option<&BlockRecovery> {
        self.by_file.get(self.by_block.get(&block)?)
    }

    pub fn is_recovering(&self, file: InodeId) -> bool {
        self.by_file.contains_key(&file)
    }

    /// The recovery ended (committed, or its file closed or was removed).
    pub fn finish(&mut self, file: InodeId) -> Option<BlockRecovery> {
        let recovery = self.by_file.remove(&file)?;
        self.by_block.remove(&recovery.block);
        Some(recovery)
    }

    /// Files whose recovery was ordered `timeout` ago or more without a commit.
    pub fn timed_out(&self, now: Instant, timeout: Duration) -> Vec<InodeId> {
        self.by_file
            .values()
            .filter(|r| now.saturating_duration_since(r.ordered) >= timeout)
            .map(|r| r.file)
            .collect()
    }

    pub fn len(&self) -> usize {
        self.by_file.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_file.is_empty()
    }
}

/// The primary of a (re)started recovery among the live nodes that may hold the block: one
/// that was never primary yet, else the one primary longest ago.
pub fn choose_primary<'a>(
    candidates: &'a [DatanodeInfo],
    earlier: &[DatanodeId],
) -> Option<&'a DatanodeInfo> {
    candidates
        .iter()
        .find(|c| !earlier.contains(&c.id))
        .or_else(|| {
            earlier
                .iter()
                .find_map(|id| candidates.iter().find(|c| &c.id == id))
        })
}
