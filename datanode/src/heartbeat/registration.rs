//! Whether the namenode knows this datanode, shared by every loop that talks to it.
//!
//! Each successful registration starts a new session (its epoch counts up from 1). The loops
//! that need a registered datanode (lifeline, command poll) wait for a session; when the
//! namenode answers one of them `unknown_datanode` (it restarted), they ask the heartbeat
//! lifecycle to register again, naming the session they saw, so that several loops noticing
//! the same restart cause one registration, not one each.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{watch, Notify};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Session {
    /// 0 until the first registration.
    pub epoch: u64,
    /// The namenode has had this session's first full block report.
    pub reported: bool,
}

pub struct Registration {
    session: watch::Sender<Session>,
    /// Highest epoch someone found the namenode had forgotten.
    forgotten: AtomicU64,
    wake: Notify,
}

impl Default for Registration {
    fn default() -> Self {
        Registration {
            session: watch::Sender::new(Session::default()),
            forgotten: AtomicU64::new(0),
            wake: Notify::new(),
        }
    }
}

impl Registration {
    pub fn subscribe(&self) -> watch::Receiver<Session> {
        self.session.subscribe()
    }

    pub fn epoch(&self) -> u64 {
        self.session.borrow().epoch
    }

    /// Waits for a session newer than `seen` and returns its epoch.
    pub async fn registered_after(&self, seen: u64) -> u64 {
        let mut sessions = self.subscribe();
        let epoch = sessions.wait_for(|s| s.epoch > seen).await.map(|s| s.epoch);
        match epoch {
            Ok(epoch) => epoch,
            // Cannot happen while `self` (the sender) lives; never spin if it somehow does.
            Err(_) => std::future::pending().await,
        }
    }

    /// The namenode answered `unknown_datanode` to a call made in session `seen`.
    pub fn namenode_forgot(&self, seen: u64) {
        self.forgotten.fetch_max(seen, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Completes once someone reports that the namenode forgot session `epoch`; reports about
    /// older sessions (already re-registered) are ignored.
    pub(super) async fn forgotten(&self, epoch: u64) {
        loop {
            self.wake.notified().await;
            if self.forgotten.load(Ordering::SeqCst) >= epoch {
                return;
            }
        }
    }

    /// Starts a new session and returns its epoch.
    pub(super) fn registered(&self) -> u64 {
        let mut epoch = 0;
        self.session.send_modify(|s| {
            s.epoch += 1;
            s.reported = false;
            epoch = s.epoch;
        });
        epoch
    }

    pub(super) fn full_report_sent(&self) {
        self.session
            .send_if_modified(|s| !std::mem::replace(&mut s.reported, true));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn only_reports_about_the_current_session_count() {
        let registration = Registration::default();
        let first = registration.registered();
        registration.namenode_forgot(first);
        registration.namenode_forgot(first);
        let woke = tokio::time::timeout(Duration::from_secs(5), registration.forgotten(first));
        assert!(woke.await.is_ok());
        let second = registration.registered();
        assert_eq!(registration.registered_after(first).await, second);
        // The duplicate report about the first session must not end the second one.
        let stale = tokio::time::timeout(Duration::from_millis(50), registration.forgotten(second));
        assert!(stale.await.is_err());
    }
}
