//! The block map: for every block in the namespace, its file, its expected length and the
//! datanodes holding a replica. Soft state: the block → file part is rebuilt from the inodes at
//! start-up and the replica part from block reports.

use std::collections::{BTreeSet, HashMap, HashSet};

use granary_client::{BlockId, DatanodeId, InodeId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    pub file: InodeId,
    pub replication: u16,
    /// `None` while the file is under construction (the writer has not said yet).
    pub length: Option<u64>,
    pub replicas: BTreeSet<DatanodeId>,
}

/// Whether a reported replica belongs in the map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicaVerdict {
    Accept,
    /// No file has this block (deleted, abandoned, never allocated).
    Unknown,
    /// The replica's length differs from the complete file's block.
    WrongLength,
}

#[derive(Debug, Default)]
pub struct BlockMap {
    blocks: HashMap<BlockId, BlockInfo>,
    /// Reverse index, so a dead datanode or a full report touches only its own replicas.
    by_datanode: HashMap<DatanodeId, HashSet<BlockId>>,
}

/// Replica health of the blocks of complete files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockHealth {
    pub blocks: u64,
    pub under_replicated: u64,
    pub missing: u64,
}

impl BlockMap {
    /// Registers a block of a file; `length` is `None` while the file is under construction.
    pub fn insert(&mut self, block: BlockId, file: InodeId, replication: u16, length: Option<u64>) {
        let info = BlockInfo {
            file,
            replication,
            length,
            replicas: BTreeSet::new(),
        };
        if let Some(old) = self.blocks.insert(block, info) {
            self.forget_replicas(block, &old);
        }
    }

    pub fn get(&self, block: BlockId) -> Option<&BlockInfo> {
        self.blocks.get(&block)
    }

    /// Called when the file completes: the block's length is now known.
    pub fn set_length(&mut self, block: BlockId, length: u64) {
        if let Some(info) = self.blocks.get_mut(&block) {
            info.length = Some(length);
        }
    }

    /// Removes a block that left the namespace; returns the datanodes that held it.
    pub fn remove(&mut self, block: BlockId) -> Vec<DatanodeId> {
        match self.blocks.remove(&block) {
            Some(info) => {
                self.forget_replicas(block, &info);
                info.replicas.into_iter().collect()
            }
            None => Vec::new(),
        }
    }

    pub fn check_replica(&self, block: BlockId, length: u64) -> ReplicaVerdict {
        match self.blocks.get(&block) {
            None => ReplicaVerdict::Unknown,
            Some(info) if info.length.is_some_and(|l| l != length) => ReplicaVerdict::WrongLength,
            Some(_) => ReplicaVerdict::Accept,
        }
    }

    /// Records a replica of a known block; false when the block is unknown.
    pub fn add_replica(&mut self, block: BlockId, datanode: &DatanodeId) -> bool {
        let Some(info) = self.blocks.get_mut(&block) else {
            return false;
        };
        if info.replicas.insert(datanode.clone()) {
            self.by_datanode
                .entry(datanode.clone())
                .or_default()
                .insert(block);
        }
        true
    }

    pub fn remove_replica(&mut self, block: BlockId, datanode: &DatanodeId) -> bool {
        let removed = self
            .blocks
            .get_mut(&block)
            .is_some_and(|info| info.replicas.remove(datanode));
        if let Some(set) = self.by_datanode.get_mut(datanode) {
            set.remove(&block);
        }
        removed
    }

    /// Forgets every replica on `datanode` (it died, or a full report replaces them).
    pub fn remove_datanode(&mut self, datanode: &DatanodeId) -> usize {
        let held = self.by_datanode.remove(datanode).unwrap_or_default();
        for block in &held {
            if let Some(info) = self.blocks.get_mut(block) {
                info.replicas.remove(datanode);
            }
        }
        held.len()
    }

    /// Replaces the replicas of `datanode` with a full report. Returns the reported replicas
    /// the datanode should delete.
    pub fn apply_full_report(
        &mut self,
        datanode: &DatanodeId,
        reported: &[(BlockId, u64)],
    ) -> Vec<BlockId> {
        self.remove_datanode(datanode);
        let mut to_delete = Vec::new();
        for &(block, length) in reported {
            match self.check_replica(block, length) {
                ReplicaVerdict::Accept => {
                    self.add_replica(block, datanode);
                }
                ReplicaVerdict::Unknown | ReplicaVerdict::WrongLength => to_delete.push(block),
            }
        }
        to_delete
    }

    /// Replicas the map places on `datanode`.
    pub fn replica_count(&self, datanode: &DatanodeId) -> u64 {
        self.by_datanode.get(datanode).map_or(0, |s| s.len() as u64)
    }

    /// Counts over blocks of complete files; `is_live` says which replicas count.
    pub fn health(&self, is_live: impl Fn(&DatanodeId) -> bool) -> BlockHealth {
        let mut health = BlockHealth::default();
        for info in self.blocks.values().filter(|i| i.length.is_some()) {
            health.blocks += 1;
            let live = info.replicas.iter().filter(|d| is_live(d)).count();
            if live == 0 {
                health.missing += 1;
            } else if live < info.replication as usize {
                health.under_replicated += 1;
            }
        }
        health
    }

    fn forget_replicas(&mut self, block: BlockId, info: &BlockInfo) {
        for datanode in &info.replicas {
            if let Some(set) = self.by_datanode.get_mut(datanode) {
                set.remove(&block);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dn(name: &str) -> DatanodeId {
        DatanodeId(name.to_string())
    }

    #[test]
    fn full_report_replaces_and_flags_unknown_or_wrong_length() {
        let mut map = BlockMap::default();
        map.insert(BlockId(1), InodeId(5), 2, Some(100));
        map.insert(BlockId(2), InodeId(5), 2, None);
        map.insert(BlockId(3), InodeId(5), 2, Some(10));
        assert!(map.add_replica(BlockId(3), &dn("a")));
        let delete = map.apply_full_report(
            &dn("a"),
            &[
                (BlockId(1), 100),
                (BlockId(2), 7),
                (BlockId(9), 1),
                (BlockId(1), 100),
            ],
        );
        assert_eq!(delete, vec![BlockId(9)]);
        assert!(map.get(BlockId(3)).unwrap().replicas.is_empty());
        assert_eq!(map.replica_count(&dn("a")), 2);
        assert_eq!(
            map.check_replica(BlockId(1), 99),
            ReplicaVerdict::WrongLength
        );
    }

    #[test]
    fn health_counts_complete_blocks_only() {
        let mut map = BlockMap::default();
        map.insert(BlockId(1), InodeId(5), 2, Some(1));
        map.insert(BlockId(2), InodeId(5), 2, Some(1));
        map.insert(BlockId(3), InodeId(5), 2, Some(1));
        map.insert(BlockId(4), InodeId(6), 2, None);
        map.add_replica(BlockId(1), &dn("a"));
        map.add_replica(BlockId(1), &dn("b"));
        map.add_replica(BlockId(2), &dn("a"));
        map.add_replica(BlockId(3), &dn("dead"));
        let health = map.health(|d| d.0 != "dead");
        assert_eq!(
            health,
            BlockHealth {
                blocks: 3,
                under_replicated: 1,
                missing: 1
            }
        );
        assert_eq!(map.remove_datanode(&dn("a")), 2);
        assert_eq!(map.remove(BlockId(1)), vec![dn("b")]);
        assert_eq!(map.replica_count(&dn("b")), 0);
    }
}
