//! Replica copies ordered and not yet confirmed. A pending copy counts toward its block's
//! replication while scheduling, so the same copy is never ordered twice; it clears when its
//! target reports the replica, or times out. A target that timed out is avoided for that block
//! for a while: a busy node that cannot finish a copy must not be handed the same copy again
//! and again (MooseFS #319).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use granary_client::{BlockId, DatanodeId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Copy {
    pub source: DatanodeId,
    /// Targets that have not confirmed yet, in pipeline order.
    pub targets: Vec<DatanodeId>,
    pub deadline: Instant,
}

/// A copy that timed out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedOut {
    pub block: BlockId,
    pub source: DatanodeId,
    pub targets: Vec<DatanodeId>,
}

#[derive(Debug, Default)]
pub struct PendingCopies {
    by_block: HashMap<BlockId, Vec<Copy>>,
    /// Copies each node is sending.
    as_source: HashMap<DatanodeId, usize>,
    /// Copies each node is receiving.
    as_target: HashMap<DatanodeId, usize>,
    /// (block, target) pairs that timed out, avoided until the instant.
    avoid: HashMap<(BlockId, DatanodeId), Instant>,
    /// Target copies pending in all.
    targets: usize,
}

impl PendingCopies {
    pub fn add(
        &mut self,
        block: BlockId,
        source: DatanodeId,
        targets: Vec<DatanodeId>,
        deadline: Instant,
    ) {
        *self.as_source.entry(source.clone()).or_default() += 1;
        for target in &targets {
            *self.as_target.entry(target.clone()).or_default() += 1;
        }
        self.targets += targets.len();
        let copy = Copy {
            source,
            targets,
            deadline,
        };
        self.by_block.entry(block).or_default().push(copy);
    }

    /// Replicas of `block` on their way.
    pub fn pending_for(&self, block: BlockId) -> usize {
        self.by_block
            .get(&block)
            .map_or(0, |copies| copies.iter().map(|c| c.targets.len()).sum())
    }

    pub fn has(&self, block: BlockId) -> bool {
        self.by_block.contains_key(&block)
    }

    pub fn is_target(&self, block: BlockId, node: &DatanodeId) -> bool {
        self.by_block
            .get(&block)
            .is_some_and(|copies| copies.iter().any(|c| c.targets.contains(node)))
    }

    pub fn source_load(&self, node: &DatanodeId) -> usize {
        self.as_source.get(node).copied().unwrap_or(0)
    }

    pub fn target_load(&self, node: &DatanodeId) -> usize {
        self.as_target.get(node).copied().unwrap_or(0)
    }

    pub fn is_avoided(&self, block: BlockId, node: &DatanodeId, now: Instant) -> bool {
        self.avoid
            .get(&(block, node.clone()))
            .is_some_and(|&until| until > now)
    }

    /// Target copies pending in all.
    pub fn len(&self) -> usize {
        self.targets
    }

    pub fn is_empty(&self) -> bool {
        self.targets == 0
    }

    /// `target` reported the block: true if that was a pending copy, now done.
    pub fn received(&mut self, block: BlockId, target: &DatanodeId) -> bool {
        let Some(copies) = self.by_block.get_mut(&block) else {
            return false;
        };
        let Some(index) = copies.iter().position(|c| c.targets.contains(target)) else {
            return false;
        };
        let copy = &mut copies[index];
        copy.targets.retain(|t| t != target);
        decrement(&mut self.as_target, target);
        self.targets -= 1;
        if copy.targets.is_empty() {
            let done = copies.remove(index);
            decrement(&mut self.as_source, &done.source);
        }
        if copies.is_empty() {
            self.by_block.remove(&block);
        }
        true
    }

    /// Drops the copies past their deadline; their targets are avoided for `avoid_for`.
    pub fn expire(&mut self, now: Instant, avoid_for: Duration) -> Vec<TimedOut> {
        self.avoid.retain(|_, until| *until > now);
        let mut timed_out = Vec::new();
        for (&block, copies) in &mut self.by_block {
            copies.retain(|copy| {
                if copy.deadline > now {
                    return true;
                }
                timed_out.push(TimedOut {
                    block,
                    source: copy.source.clone(),
                    targets: copy.targets.clone(),
                });
                false
            });
        }
        self.by_block.retain(|_, copies| !copies.is_empty());
        for out in &timed_out {
            self.release(&out.source, &out.targets);
            for target in &out.targets {
                self.avoid
                    .insert((out.block, target.clone()), now + avoid_for);
            }
        }
        timed_out
    }

    /// A node died or restarted, so the copies it was part of will not finish: copies from
    /// it are dropped, and it leaves the targets of the others. Returns the blocks affected.
    pub fn forget_node(&mut self, node: &DatanodeId) -> Vec<BlockId> {
        let mut affected = Vec::new();
        let mut released = Vec::new();
        for (&block, copies) in &mut self.by_block {
            let before = (
                copies.len(),
                copies.iter().map(|c| c.targets.len()).sum::<usize>(),
            );
            copies.retain_mut(|copy| {
                if copy.source == *node {
                    released.push((Some(copy.source.clone()), copy.targets.clone()));
                    return false;
                }
                if copy.targets.contains(node) {
                    copy.targets.retain(|t| t != node);
                    released.push((None, vec![node.clone()]));
                    if copy.targets.is_empty() {
                        released.push((Some(copy.source.clone()), Vec::new()));
                        return false;
                    }
                }
                true
            });
            let after = (
                copies.len(),
                copies.iter().map(|c| c.targets.len()).sum::<usize>(),
            );
            if before != after {
                affected.push(block);
            }
        }
        self.by_block.retain(|_, copies| !copies.is_empty());
        for (source, targets) in released {
            match source {
                Some(source) => self.release(&source, &targets),
                None => self.release_targets(&targets),
            }
        }
        affected
    }

    /// The source reported that its copy of `block` to `targets` failed: the copy is dropped
    /// so the block can be ordered again, its targets avoided for `avoid_for`. Targets that
    /// confirmed already left the copy, so they are matched by what remains. True if such a
    /// copy was pending.
    pub fn failed(
        &mut self,
        block: BlockId,
        source: &DatanodeId,
        targets: &[DatanodeId],
        now: Instant,
        avoid_for: Duration,
    ) -> bool {
        let Some(copies) = self.by_block.get_mut(&block) else {
            return false;
        };
        let Some(index) = copies
            .iter()
            .position(|c| c.source == *source && c.targets.iter().all(|t| targets.contains(t)))
        else {
            return false;
        };
        let copy = copies.remove(index);
        if copies.is_empty() {
            self.by_block.remove(&block);
        }
        self.release(&copy.source, &copy.targets);
        for target in copy.targets {
            self.avoid.insert((block, target), now + avoid_for);
        }
        true
    }

    /// The block left the namespace.
    pub fn forget_block(&mut self, block: BlockId) {
        for copy in self.by_block.remove(&block).unwrap_or_default() {
            self.release(&copy.source, &copy.targets);
        }
    }

    fn release(&mut self, source: &DatanodeId, targets: &[DatanodeId]) {
        decrement(&mut self.as_source, source);
        self.release_targets(targets);
    }

    fn release_targets(&mut self, targets: &[DatanodeId]) {
        for target in targets {
            decrement(&mut self.as_target, target);
        }
        self.targets = self.targets.saturating_sub(targets.len());
    }
}

fn decrement(loads: &mut HashMap<DatanodeId, usize>, node: &DatanodeId) {
    if let Some(load) = loads.get_mut(node) {
        *load = load.saturating_sub(1);
        if *load == 0 {
            loads.remove(node);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dn(id: &str) -> DatanodeId {
        DatanodeId(id.into())
    }

    #[test]
    fn copies_clear_on_receipt_and_time_out_into_avoidance() {
        let now = Instant::now();
        let timeout = Duration::from_secs(30);
        let mut pending = PendingCopies::default();
        pending.add(BlockId(1), dn("a"), vec![dn("b"), dn("c")], now + timeout);
        pending.add(BlockId(2), dn("a"), vec![dn("c")], now + timeout);
        assert_eq!((pending.len(), pending.pending_for(BlockId(1))), (3, 2));
        assert_eq!(
            (pending.source_load(&dn("a")), pending.target_load(&dn("c"))),
            (2, 2)
        );

        assert!(pending.received(BlockId(1), &dn("b")));
        assert!(!pending.received(BlockId(1), &dn("b")), "only once");
        assert_eq!(pending.source_load(&dn("a")), 2, "c has not confirmed yet");
        assert!(pending.received(BlockId(1), &dn("c")));
        assert_eq!(pending.source_load(&dn("a")), 1);
        assert!(!pending.has(BlockId(1)));

        assert!(pending
            .expire(now + Duration::from_secs(1), timeout)
            .is_empty());
        let later = now + timeout + Duration::from_secs(1);
        let out = pending.expire(later, timeout);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].targets, vec![dn("c")]);
        assert!(pending.is_empty());
        assert_eq!(pending.source_load(&dn("a")), 0);
        assert!(pending.is_avoided(BlockId(2), &dn("c"), later));
        assert!(!pending.is_avoided(BlockId(2), &dn("b"), later));
        assert!(!pending.is_avoided(BlockId(2), &dn("c"), later + timeout));
    }

    #[test]
    fn a_failed_copy_is_dropped_at_once_and_its_targets_avoided_briefly() {
        let now = Instant::now();
        let mut pending = PendingCopies::default();
        pending.add(
            BlockId(7),
            dn("a"),
            vec![dn("b"), dn("c")],
            now + Duration::from_secs(30),
        );
        // A failure from another source, or for other targets, matches nothing.
        assert!(!pending.failed(
            BlockId(7),
            &dn("x"),
            &[dn("b"), dn("c")],
            now,
            Duration::from_secs(1)
        ));
        assert!(!pending.failed(
            BlockId(7),
            &dn("a"),
            &[dn("b")],
            now,
            Duration::from_secs(1)
        ));
        assert!(pending.failed(
            BlockId(7),
            &dn("a"),
            &[dn("b"), dn("c")],
            now,
            Duration::from_secs(1)
        ));
        assert!(!pending.has(BlockId(7)));
        assert_eq!(
            (pending.source_load(&dn("a")), pending.target_load(&dn("b"))),
            (0, 0)
        );
        assert!(pending.is_avoided(BlockId(7), &dn("b"), now));
        assert!(!pending.is_avoided(BlockId(7), &dn("b"), now + Duration::from_secs(2)));
    }

    #[test]
    fn a_lost_node_releases_its_copies() {
        let now = Instant::now();
        let mut pending = PendingCopies::default();
        pending.add(BlockId(1), dn("a"), vec![dn("b")], now);
        pending.add(BlockId(2), dn("c"), vec![dn("a"), dn("b")], now);
        pending.add(BlockId(3), dn("c"), vec![dn("b")], now);
        let mut affected = pending.forget_node(&dn("a"));
        affected.sort();
        assert_eq!(affected, vec![BlockId(1), BlockId(2)]);
        assert_eq!(pending.len(), 2);
        assert_eq!(pending.target_load(&dn("b")), 2);
        assert_eq!(pending.source_load(&dn("c")), 2);
        pending.forget_block(BlockId(2));
        assert_eq!((pending.len(), pending.source_load(&dn("c"))), (1, 1));
    }
}
