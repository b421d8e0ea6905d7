//! The block map: for every block in the namespace, its file, its expected length and
//! replication, the datanodes holding a replica, and which of those replicas are known corrupt
//! or already ordered deleted as excess. Soft state: the block → file part is rebuilt from the
//! inodes at start-up and the replica part from block reports.
//!
//! Every change marks its block *dirty*; the replication monitor drains the dirty set and
//! re-examines only those blocks, so healing work never needs a scan of the whole map.

mod marks;
mod open;
mod reported;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use granary_client::{BlockId, DatanodeId, Generation, InodeId};

pub use reported::Reported;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    pub file: InodeId,
    pub replication: u16,
    /// `None` while the block is being written or recovered (its file is open).
    pub length: Option<u64>,
    /// The committed generation: a replica older than it is stale, never a location.
    pub generation: Generation,
    /// Every datanode known to hold a replica, good or not.
    pub replicas: BTreeSet<DatanodeId>,
    /// The generation each replica in `replicas` was reported at.
    pub replica_generations: BTreeMap<DatanodeId, Generation>,
    /// While the block is being written: the pipeline it was given, the nodes that may hold
    /// it before they report it (what a lease recovery asks besides the reported ones).
    pub pipeline: Vec<DatanodeId>,
    /// Datanodes whose replica is known corrupt. A mark outlives the replica's presence in
    /// `replicas` (its node may die and come back): it clears only when that datanode reports
    /// the replica deleted or leaves it out of a full report, so re-reporting a corrupt
    /// replica can never make it good again.
    pub corrupt: BTreeSet<DatanodeId>,
    /// Replicas ordered deleted as excess and not yet reported gone: they no longer count,
    /// so a second trim cannot pick another victim meanwhile.
    pub excess: BTreeSet<DatanodeId>,
    /// While the block is being written: the generation, length and digest each datanode
    /// reported when it finalized its replica, what `complete` and `flush` commit the block
    /// at. Emptied when the file closes.
    pub reported: BTreeMap<DatanodeId, Reported>,
}

impl BlockInfo {
    /// A block of a complete file: the only blocks replication cares about.
    pub fn is_complete(&self) -> bool {
        self.length.is_some()
    }

    /// `(complete, complete with a reported replica)`, what safe mode counts.
    fn safe_state(&self) -> (bool, bool) {
        let complete = self.is_complete();
        (complete, complete && !self.replicas.is_empty())
    }
}

/// Whether a reported replica belongs in the map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicaVerdict {
    Accept,
    /// No file has this block (deleted, abandoned, never allocated).
    Unknown,
    /// The replica's length differs from the complete file's block.
    WrongLength,
    /// The replica's reported digest differs from the complete file's block.
    WrongDigest,
    /// The replica is older than the block's committed generation: it missed an append, a
    /// flush, a recovery or a truncate.
    Stale,
}

#[derive(Debug, Default)]
pub struct BlockMap {
    blocks: HashMap<BlockId, BlockInfo>,
    /// Reverse index, so a dead datanode or a full report touches only its own replicas.
    by_datanode: HashMap<DatanodeId, HashSet<BlockId>>,
    /// Corrupt marks by datanode, so a full report clears the ones it no longer lists even
    /// when the replica had left `replicas` (its node died meanwhile).
    corrupt_by_datanode: HashMap<DatanodeId, HashSet<BlockId>>,
    /// Blocks changed since the replication monitor last looked.
    dirty: HashSet<BlockId>,
    /// Blocks of complete files.
    complete: u64,
    /// Blocks of complete files with at least one replica reported.
    reported: u64,
}

impl BlockMap {
    /// Registers a block of a file at its committed generation; `length` is `None` while
    /// the block is being written.
    pub fn insert(
        &mut self,
        block: BlockId,
        file: InodeId,
        replication: u16,
        length: Option<u64>,
        generation: Generation,
    ) {
        self.remove(block);
        let info = BlockInfo {
            file,
            replication,
            length,
            generation,
            replicas: BTreeSet::new(),
            replica_generations: BTreeMap::new(),
            pipeline: Vec::new(),
            corrupt: BTreeSet::new(),
            excess: BTreeSet::new(),
            reported: BTreeMap::new(),
        };
        self.adjust((false, false), info.safe_state());
        self.blocks.insert(block, info);
        self.dirty.insert(block);
    }

    pub fn get(&self, block: BlockId) -> Option<&BlockInfo> {
        self.blocks.get(&block)
    }

    pub fn iter(&self) -> impl Iterator<Item = (BlockId, &BlockInfo)> {
        self.blocks.iter().map(|(&id, info)| (id, info))
    }

    /// The block's length is now known (as a completed file's are); tests build maps with it.
    #[cfg(test)]
    pub fn set_length(&mut self, block: BlockId, length: u64) {
        self.update(block, |info| info.length = Some(length));
    }

    /// The file's replication changed (setrep).
    pub fn set_replication(&mut self, block: BlockId, replication: u16) {
        self.update(block, |info| info.replication = replication);
    }

    /// Removes a block that left the namespace; returns the datanodes that held it.
    pub fn remove(&mut self, block: BlockId) -> Vec<DatanodeId> {
        let Some(info) = self.blocks.remove(&block) else {
            return Vec::new();
        };
        self.adjust(info.safe_state(), (false, false));
        for datanode in &info.replicas {
            remove_from(&mut self.by_datanode, datanode, block);
        }
        for datanode in &info.corrupt {
            remove_from(&mut self.corrupt_by_datanode, datanode, block);
        }
        self.dirty.remove(&block);
        info.replicas.into_iter().collect()
    }

    /// Whether a replica reported at `length` and `generation` belongs in the map. A block
    /// being written accepts any length at its committed generation or newer.
    pub fn check_replica(
        &self,
        block: BlockId,
        length: u64,
        generation: Generation,
    ) -> ReplicaVerdict {
        match self.blocks.get(&block) {
            None => ReplicaVerdict::Unknown,
            Some(info) if generation < info.generation => ReplicaVerdict::Stale,
            Some(info) if info.length.is_some_and(|l| l != length) => ReplicaVerdict::WrongLength,
            Some(_) => ReplicaVerdict::Accept,
        }
    }

    /// Records a replica of a known block at `generation`; false when the block is unknown.
    pub fn add_replica(
        &mut self,
        block: BlockId,
        datanode: &DatanodeId,
        generation: Generation,
    ) -> bool {
        let added = self.update(block, |info| {
            info.replica_generations
                .insert(datanode.clone(), generation);
            info.replicas.insert(datanode.clone())
        });
        match added {
            None => false,
            Some(new) => {
                if new {
                    let held = self.by_datanode.entry(datanode.clone()).or_default();
                    held.insert(block);
                }
                true
            }
        }
    }

    /// The datanode no longer holds the replica (it reported it deleted): it leaves the map
    /// with its corrupt and excess marks.
    pub fn remove_replica(&mut self, block: BlockId, datanode: &DatanodeId) -> bool {
        let removed = self.update(block, |info| {
            info.excess.remove(datanode);
            info.corrupt.remove(datanode);
            info.reported.remove(datanode);
            info.replica_generations.remove(datanode);
            info.replicas.remove(datanode)
        });
        remove_from(&mut self.by_datanode, datanode, block);
        remove_from(&mut self.corrupt_by_datanode, datanode, block);
        removed.unwrap_or(false)
    }

    /// Forgets every replica on `datanode` (it died). Corrupt marks stay: if the node comes
    /// back and lists those replicas again, they are still corrupt.
    pub fn remove_datanode(&mut self, datanode: &DatanodeId) -> usize {
        let held = self.by_datanode.remove(datanode).unwrap_or_default();
        for &block in &held {
            self.update(block, |info| {
                info.excess.remove(datanode);
                info.reported.remove(datanode);
                info.replica_generations.remove(datanode);
                info.replicas.remove(datanode);
            });
        }
        held.len()
    }

    /// Replaces the replicas of `datanode` with a full report. Returns the reported replicas
    /// the datanode should delete: of unknown blocks, of the wrong length, stale, or ordered
    /// deleted as excess earlier and still there. Corrupt marks of replicas the report leaves
    /// out are cleared; those of replicas it lists stay.
    pub fn apply_full_report(
        &mut self,
        datanode: &DatanodeId,
        reported: &[(BlockId, u64, Generation)],
    ) -> Vec<BlockId> {
        let listed: HashSet<BlockId> = reported.iter().map(|&(block, ..)| block).collect();
        let held = self.by_datanode.remove(datanode).unwrap_or_default();
        for &block in &held {
            let still_held = listed.contains(&block);
            self.update(block, |info| {
                if !still_held {
                    info.excess.remove(datanode);
                    info.reported.remove(datanode);
                }
                info.replica_generations.remove(datanode);
                info.replicas.remove(datanode);
            });
        }
        let mut to_delete = Vec::new();
        let mut accepted = HashSet::new();
        for &(block, length, generation) in reported {
            match self.check_replica(block, length, generation) {
                ReplicaVerdict::Accept => {
                    self.add_replica(block, datanode, generation);
                    accepted.insert(block);
                    if self.is_excess(block, datanode) && !to_delete.contains(&block) {
                        to_delete.push(block);
                    }
                }
                ReplicaVerdict::Unknown
                | ReplicaVerdict::WrongLength
                | ReplicaVerdict::WrongDigest
                | ReplicaVerdict::Stale => to_delete.push(block),
            }
        }
        let marks = self
            .corrupt_by_datanode
            .remove(datanode)
            .unwrap_or_default();
        for block in marks {
            if accepted.contains(&block) {
                self.corrupt_by_datanode
                    .entry(datanode.clone())
                    .or_default()
                    .insert(block);
            } else {
                self.update(block, |info| info.corrupt.remove(datanode));
            }
        }
        to_delete
    }

    /// The blocks with a replica on `datanode`.
    pub fn blocks_on(&self, datanode: &DatanodeId) -> impl Iterator<Item = BlockId> + '_ {
        self.by_datanode
            .get(datanode)
            .into_iter()
            .flat_map(|held| held.iter().copied())
    }

    /// Replicas the map places on `datanode`.
    pub fn replica_count(&self, datanode: &DatanodeId) -> u64 {
        self.by_datanode.get(datanode).map_or(0, |s| s.len() as u64)
    }

    /// `(blocks of complete files with a reported replica, blocks of complete files)`.
    pub fn safe_counts(&self) -> (u64, u64) {
        (self.reported, self.complete)
    }

    /// Applies `change` to a known block, keeping the safe-mode counters right and marking
    /// the block dirty; `None` when the block is unknown.
    fn update<R>(&mut self, block: BlockId, change: impl FnOnce(&mut BlockInfo) -> R) -> Option<R> {
        let info = self.blocks.get_mut(&block)?;
        let before = info.safe_state();
        let result = change(info);
        let after = info.safe_state();
        self.adjust(before, after);
        self.dirty.insert(block);
        Some(result)
    }

    fn adjust(&mut self, before: (bool, bool), after: (bool, bool)) {
        let step = |count: &mut u64, was: bool, is: bool| match (was, is) {
            (false, true) => *count += 1,
            (true, false) => *count = count.saturating_sub(1),
            _ => {}
        };
        step(&mut self.complete, before.0, after.0);
        step(&mut self.reported, before.1, after.1);
    }
}

fn remove_from(
    index: &mut HashMap<DatanodeId, HashSet<BlockId>>,
    key: &DatanodeId,
    block: BlockId,
) {
    if let Some(set) = index.get_mut(key) {
        set.remove(&block);
        if set.is_empty() {
            index.remove(key);
        }
    }
}
