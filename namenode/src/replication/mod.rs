//! Keeping every block at its replication: which blocks need copies (`queue`), the copies on
//! their way (`pending`), what a block's replicas are worth (`counts`), which excess replicas
//! to delete (`excess`), and the periodic pass that decides all of it (`monitor`).

mod choose;
pub mod counts;
mod excess;
pub mod monitor;
pub mod pending;
pub mod queue;
#[cfg(test)]
mod tests;

use std::time::Duration;

use granary_client::{BlockId, DatanodeId};

pub use counts::{count, replica_kind, Health, ReplicaCounts, ReplicaKind};
pub(crate) use monitor::run_pass;
pub use monitor::Pass;

use crate::config::NamenodeConfig;
use pending::PendingCopies;
use queue::NeededQueue;

/// The replication monitor's state, under the namesystem lock.
#[derive(Debug, Default)]
pub struct ReplicationState {
    pub needed: NeededQueue,
    pub pending: PendingCopies,
    /// Bytes of confirmed copies since the namenode started.
    pub re_replicated_bytes: u64,
    /// Job tasks are running: blocks that still have two replicas are copied one at a time in
    /// the whole cluster, so healing them does not take the CPU and disks from the tasks.
    pub yield_to_jobs: bool,
}

impl ReplicationState {
    /// `target` reported a replica of `length` bytes: true if it was a copy we ordered.
    pub fn copy_landed(&mut self, block: BlockId, target: &DatanodeId, length: u64) -> bool {
        let landed = self.pending.received(block, target);
        if landed {
            self.re_replicated_bytes = self.re_replicated_bytes.saturating_add(length);
        }
        landed
    }

    /// The block left the namespace.
    pub fn forget_block(&mut self, block: BlockId) {
        self.pending.forget_block(block);
        self.needed.remove(block);
    }
}

/// The knobs of the monitor, from the configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Copies one datanode may send, and receive, at once.
    pub max_streams: usize,
    /// A copy not confirmed this long is given up.
    pub timeout: Duration,
    /// How long a target that timed out is avoided for that block.
    pub avoid_for: Duration,
}

impl Settings {
    pub fn from_config(config: &NamenodeConfig) -> Self {
        Settings {
            max_streams: config.max_replication_streams,
            timeout: config.replication_timeout,
            // Long enough that a busy node gets to finish what it has; short enough that a
            // small cluster, where that node may be the only possible target, heals anyway.
            avoid_for: config.replication_timeout * 2,
        }
    }
}
