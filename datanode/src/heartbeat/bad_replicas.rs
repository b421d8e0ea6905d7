//! Reporting corrupt replicas to the namenode, which stops handing them out and orders their
//! deletion once a good copy exists elsewhere. The store's set of corrupt replicas is the
//! source of truth: a report is retried until delivered, for as long as its replica is still
//! marked corrupt (it leaves the set when deleted). A restarted namenode has forgotten every
//! report, and the full block report of a new session lists the corrupt replicas like any
//! other, so all of them are sent again after each session's first full report.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use granary_client::protocol::ReportBadReplicaRequest;
use granary_client::{BlockId, DatanodeId};
use tokio::sync::Notify;

use super::link::NamenodeLink;
use super::registration::Registration;
use super::throttle::{Backoff, LogThrottle};
use super::WARN_EVERY;
use crate::store::BlockStore;

/// Wakes the reporter after a replica was marked corrupt.
#[derive(Clone, Default)]
pub struct BadReplicaSignal(Arc<Notify>);

impl BadReplicaSignal {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Sends reports until the task is aborted.
pub async fn send_bad_replica_reports(
    link: Arc<NamenodeLink>,
    store: Arc<BlockStore>,
    id: DatanodeId,
    registration: Arc<Registration>,
    signal: BadReplicaSignal,
) {
    let mut sessions = registration.subscribe();
    let mut reported = HashSet::new();
    let mut resent_for_session = 0;
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    let mut log = LogThrottle::new(WARN_EVERY);
    loop {
        let session = *sessions.borrow_and_update();
        if session.reported && session.epoch != resent_for_session {
            reported.clear();
            resent_for_session = session.epoch;
        }
        let retry = if send_pending(&link, &store, &id, &mut reported, &mut log).await {
            backoff.reset();
            None
        } else {
            Some(backoff.next_delay())
        };
        tokio::select! {
            () = signal.0.notified() => {}
            changed = sessions.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            () = tokio::time::sleep(retry.unwrap_or_default()), if retry.is_some() => {}
        }
    }
}

/// Sends every corrupt replica not yet in `reported`; `false` if a send failed.
async fn send_pending(
    link: &NamenodeLink,
    store: &BlockStore,
    id: &DatanodeId,
    reported: &mut HashSet<BlockId>,
    log: &mut LogThrottle,
) -> bool {
    let corrupt = store.corrupt_replicas();
    reported.retain(|block| corrupt.iter().any(|(c, _)| c == block));
    for (block, reason) in corrupt {
        if reported.contains(&block) {
            continue;
        }
        let request = ReportBadReplicaRequest {
            block,
            datanode: id.clone(),
            reason,
        };
        match link.report_bad_replica(&request).await {
            Ok(()) => {
                tracing::info!(%block, "reported the corrupt replica to the namenode");
                reported.insert(block);
            }
            Err(e) => {
                log.warn(format_args!(
                    "reporting corrupt replica {block} failed (retrying): {e}"
                ));
                return false;
            }
        }
    }
    true
}
