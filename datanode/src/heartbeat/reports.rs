//! Incremental block reports: replicas finalized or deleted are queued as they happen and a
//! background task sends them to the namenode promptly, batching whatever has accumulated and
//! keeping entries until a send succeeds.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use granary_client::protocol::{BlockReceivedRequest, ReplicaReport};
use granary_client::{BlockId, DatanodeId};
use tokio::sync::mpsc;

use super::link::NamenodeLink;
use super::throttle::{Backoff, LogThrottle};

enum ReplicaChange {
    Received(ReplicaReport),
    Deleted(BlockId),
}

/// Where handlers and commands record replica changes. Never blocks; changes queued while no
/// reporter runs (tests) are simply dropped.
#[derive(Clone)]
pub struct ReportQueue(mpsc::UnboundedSender<ReplicaChange>);

pub struct ReportReceiver(mpsc::UnboundedReceiver<ReplicaChange>);

impl ReportQueue {
    pub fn new() -> (Self, ReportReceiver) {
        let (tx, rx) = mpsc::unbounded_channel();
        (ReportQueue(tx), ReportReceiver(rx))
    }

    pub fn received(&self, replica: ReplicaReport) {
        let _ = self.0.send(ReplicaChange::Received(replica));
    }

    pub fn deleted(&self, block: BlockId) {
        let _ = self.0.send(ReplicaChange::Deleted(block));
    }
}

/// Sends queued changes until every [`ReportQueue`] is gone.
pub async fn send_incremental_reports(
    link: Arc<NamenodeLink>,
    id: DatanodeId,
    mut changes: ReportReceiver,
) {
    // The latest change per block wins: `Some(replica)` received, `None` deleted.
    let mut pending: BTreeMap<BlockId, Option<ReplicaReport>> = BTreeMap::new();
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    let mut log = LogThrottle::new(Duration::from_secs(10));
    loop {
        if pending.is_empty() {
            match changes.0.recv().await {
                Some(change) => record(&mut pending, change),
                None => return,
            }
        }
        while let Ok(change) = changes.0.try_recv() {
            record(&mut pending, change);
        }
        let request = BlockReceivedRequest {
            id: id.clone(),
            received: pending.values().flatten().copied().collect(),
            deleted: pending
                .iter()
                .filter(|(_, replica)| replica.is_none())
                .map(|(&block, _)| block)
                .collect(),
        };
        match link.block_received(&request).await {
            Ok(()) => {
                tracing::debug!(
                    received = request.received.len(),
                    deleted = request.deleted.len(),
                    "incremental report sent"
                );
                pending.clear();
                backoff.reset();
            }
            Err(e) => {
                log.warn(format_args!(
                    "incremental block report failed ({} pending): {e}",
                    pending.len()
                ));
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
}

fn record(pending: &mut BTreeMap<BlockId, Option<ReplicaReport>>, change: ReplicaChange) {
    match change {
        ReplicaChange::Received(replica) => pending.insert(replica.block, Some(replica)),
        ReplicaChange::Deleted(block) => pending.insert(block, None),
    };
}
