//! What a block's replicas are worth: each replica is classified by its holder's state and
//! the block's marks, and the counts decide whether the block is healthy, under- or
//! over-replicated, missing or corrupt. The monitor, fsck and the cluster report all use this
//! one definition.

use granary_client::DatanodeId;

use crate::blocks::BlockInfo;
use crate::datanodes::{DatanodeManager, Liveness};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicaKind {
    /// On an alive, in-service node: counts, readable, a copy source.
    Live,
    /// On a node in maintenance (running or away): counts; readable and a source only while
    /// the node runs.
    Maintenance,
    /// On a decommissioning or decommissioned node: readable and the preferred copy source,
    /// but does not count (it is leaving).
    Leaving,
    /// Known corrupt: never read, never copied, never counted.
    Corrupt,
    /// Ordered deleted as excess: about to disappear.
    Excess,
    /// Its node is dead or unknown.
    Unavailable,
}

pub fn replica_kind(info: &BlockInfo, holder: &DatanodeId, nodes: &DatanodeManager) -> ReplicaKind {
    let Some(node) = nodes.get(holder) else {
        return ReplicaKind::Unavailable;
    };
    let maintenance = node.admin.is_maintenance();
    match node.liveness {
        Liveness::Dead => return ReplicaKind::Unavailable,
        Liveness::Away if !maintenance => return ReplicaKind::Unavailable,
        Liveness::Away | Liveness::Alive => {}
    }
    if info.corrupt.contains(holder) {
        ReplicaKind::Corrupt
    } else if info.excess.contains(holder) {
        ReplicaKind::Excess
    } else if maintenance {
        ReplicaKind::Maintenance
    } else if node.admin.is_leaving() {
        ReplicaKind::Leaving
    } else {
        ReplicaKind::Live
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplicaCounts {
    pub live: u16,
    pub maintenance: u16,
    pub leaving: u16,
    pub corrupt: u16,
    pub excess: u16,
    /// The file's replication.
    pub expected: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Healthy,
    UnderReplicated,
    OverReplicated,
    /// No replica at all.
    Missing,
    /// Replicas exist, but every one is corrupt.
    Corrupt,
}

pub fn count(info: &BlockInfo, nodes: &DatanodeManager) -> ReplicaCounts {
    let mut counts = ReplicaCounts {
        expected: info.replication,
        ..ReplicaCounts::default()
    };
    for holder in &info.replicas {
        let slot = match replica_kind(info, holder, nodes) {
            ReplicaKind::Live => &mut counts.live,
            ReplicaKind::Maintenance => &mut counts.maintenance,
            ReplicaKind::Leaving => &mut counts.leaving,
            ReplicaKind::Corrupt => &mut counts.corrupt,
            ReplicaKind::Excess => &mut counts.excess,
            ReplicaKind::Unavailable => continue,
        };
        *slot = slot.saturating_add(1);
    }
    counts
}

impl ReplicaCounts {
    /// Replicas that count toward the replication.
    pub fn counted(&self) -> u16 {
        self.live + self.maintenance
    }

    /// Replicas that can be read or copied (some once their node runs again).
    pub fn good(&self) -> u16 {
        self.live + self.maintenance + self.leaving
    }

    /// Copies to make. Maintenance replicas count, except that a block whose only good
    /// replicas are in maintenance gets one copy elsewhere (HDFS's maintenance minimum of 1).
    pub fn needed(&self) -> u16 {
        let missing = self.expected.saturating_sub(self.counted());
        if self.live == 0 && self.maintenance > 0 {
            missing.max(1)
        } else {
            missing
        }
    }

    pub fn health(&self) -> Health {
        if self.good() + self.excess == 0 {
            if self.corrupt > 0 {
                Health::Corrupt
            } else {
                Health::Missing
            }
        } else if self.needed() > 0 {
            Health::UnderReplicated
        } else if self.live > self.expected {
            Health::OverReplicated
        } else {
            Health::Healthy
        }
    }
}
