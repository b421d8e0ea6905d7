//! The blocks that need replicas, in priority order: fewest counted replicas first (a block
//! with one copy left is at more risk than one with two), block id among equals. Blocks with
//! nothing to copy from (missing, or only corrupt replicas) stay in the queue, last, so they
//! are never forgotten: a replica reported later makes them copyable again.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use granary_client::BlockId;

/// Priority of blocks with no good replica: after every block that can be healed.
pub const NOTHING_TO_COPY: u16 = u16::MAX;

#[derive(Debug, Default)]
pub struct NeededQueue {
    order: BTreeSet<(u16, BlockId)>,
    priority: HashMap<BlockId, u16>,
    /// Blocks that found no source or no target at all: skipped until then, so a block that
    /// cannot be healed now does not cost a placement attempt every pass.
    parked: HashMap<BlockId, Instant>,
}

impl NeededQueue {
    /// Adds the block, or moves it to its new priority.
    pub fn set(&mut self, block: BlockId, priority: u16) {
        if let Some(old) = self.priority.insert(block, priority) {
            self.order.remove(&(old, block));
        }
        self.order.insert((priority, block));
    }

    pub fn remove(&mut self, block: BlockId) {
        if let Some(old) = self.priority.remove(&block) {
            self.order.remove(&(old, block));
        }
        self.parked.remove(&block);
    }

    pub fn contains(&self, block: BlockId) -> bool {
        self.priority.contains_key(&block)
    }

    pub fn priority(&self, block: BlockId) -> Option<u16> {
        self.priority.get(&block).copied()
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Up to `limit` blocks that are not parked at `now`, highest priority first.
    pub fn next_batch(&self, now: Instant, limit: usize) -> Vec<BlockId> {
        self.order
            .iter()
            .map(|&(_, block)| block)
            .filter(|block| match self.parked.get(block) {
                Some(&until) => until <= now,
                None => true,
            })
            .take(limit)
            .collect()
    }

    pub fn park(&mut self, block: BlockId, until: Instant) {
        if self.contains(block) {
            self.parked.insert(block, until);
        }
    }

    pub fn unpark(&mut self, block: BlockId) {
        self.parked.remove(&block);
    }

    /// Something changed for every block (a datanode joined or returned).
    pub fn unpark_all(&mut self) {
        self.parked.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn fewest_replicas_first_and_parked_blocks_wait() {
        let now = Instant::now();
        let mut queue = NeededQueue::default();
        queue.set(BlockId(5), 2);
        queue.set(BlockId(9), 1);
        queue.set(BlockId(1), NOTHING_TO_COPY);
        queue.set(BlockId(7), 1);
        assert_eq!(
            queue.next_batch(now, 10),
            vec![BlockId(7), BlockId(9), BlockId(5), BlockId(1)]
        );
        queue.set(BlockId(5), 0);
        assert_eq!(queue.next_batch(now, 2), vec![BlockId(5), BlockId(7)]);
        queue.park(BlockId(5), now + Duration::from_secs(1));
        assert_eq!(queue.next_batch(now, 1), vec![BlockId(7)]);
        assert_eq!(
            queue.next_batch(now + Duration::from_secs(2), 1),
            vec![BlockId(5)]
        );
        queue.remove(BlockId(7));
        assert_eq!(queue.len(), 3);
        assert!(!queue.contains(BlockId(7)));
        assert_eq!(queue.priority(BlockId(1)), Some(NOTHING_TO_COPY));
    }
}
