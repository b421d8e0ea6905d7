//! What the handlers, the heartbeat link, the scanner and the compute glue share: the block
//! store, the transfer client, the report queues, and the admission limit on block transfers.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use granary_client::{BlockId, Error, ErrorKind};

use crate::heartbeat::{BadReplicaSignal, ReportQueue};
use crate::store::BlockStore;

/// What every handler needs.
pub struct AppState {
    pub store: Arc<BlockStore>,
    /// Client for block transfers to other datanodes.
    pub http: reqwest::Client,
    /// Finalized and deleted replicas, for the incremental block reports.
    pub reports: ReportQueue,
    pub transfers: Transfers,
    /// Wakes the reporter of corrupt replicas.
    pub bad_replicas: BadReplicaSignal,
    /// `stall_timeout`: a peer of a block transfer that makes no progress for this long is
    /// given up.
    pub stall_timeout: Duration,
    /// Set as shutdown begins, before the lifeline ends: health then answers `unavailable`,
    /// so the namenode's probe after the lifeline ends declares this node dead at once
    /// instead of finding it still serving its last requests.
    pub stopping: AtomicBool,
}

impl AppState {
    /// Marks a replica corrupt, so it is no longer served and is reported to the namenode.
    /// `false` if it was already marked or is gone.
    pub fn mark_corrupt(&self, block: BlockId, reason: impl Into<String>) -> bool {
        let marked = self.store.mark_corrupt(block, reason);
        if marked {
            self.bad_replicas.wake();
        }
        marked
    }

    /// A read (a client's, a map task's or a copy's) that found bad bytes on disk marks the replica
    /// corrupt, which stops it being served and has it reported to the namenode (which
    /// re-replicates a good copy and deletes it).
    pub fn note_corruption(&self, block: BlockId, error: &Error) {
        if error.kind == ErrorKind::ChecksumMismatch {
            tracing::warn!(%block, "a read found a corrupt replica: {}", error.message);
            self.mark_corrupt(block, error.message.clone());
        }
    }
}

/// Block reads and writes in progress, capped like HDFS's xceiver count: each holds a
/// blocking thread for its whole length, so past `max_transfers` a new one is refused with
/// `busy` (the client tries another replica or retries later) instead of queueing behind the
/// others. The count is also reported in heartbeats as a load hint.
#[derive(Clone)]
pub struct Transfers {
    active: Arc<AtomicU32>,
    max: u32,
}

/// Counts one admitted transfer until dropped.
pub struct TransferGuard(Arc<AtomicU32>);

impl Transfers {
    pub fn new(max: u32) -> Self {
        Transfers {
            active: Arc::default(),
            max,
        }
    }

    /// Admits one more transfer, or refuses it with `busy` when `max_transfers` are running.
    pub fn admit(&self, what: &str) -> Result<TransferGuard, Error> {
        let admitted = self
            .active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            });
        match admitted {
            Ok(_) => Ok(TransferGuard(Arc::clone(&self.active))),
            Err(n) => Err(Error::new(
                ErrorKind::Busy,
                format!("{what} refused: {n} block transfers already running (max_transfers)"),
            )),
        }
    }

    pub fn active(&self) -> u32 {
        self.active.load(Ordering::Relaxed)
    }
}

impl Drop for TransferGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfers_past_the_limit_are_refused_until_one_ends() {
        let transfers = Transfers::new(2);
        let first = transfers.admit("read").unwrap();
        let _second = transfers.admit("read").unwrap();
        let refused = transfers.admit("write").err().unwrap();
        assert_eq!(refused.kind, ErrorKind::Busy);
        assert_eq!(transfers.active(), 2);
        drop(first);
        assert_eq!(transfers.active(), 1);
        assert!(transfers.admit("write").is_ok());
    }
}
