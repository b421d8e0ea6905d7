//! Lease renewal: while any writer of this client is open, one task renews the client's leases
//! every half soft limit (as HDFS's `LeaseRenewer`), so a slow writer never loses its file.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::ids::LeaseHolder;
use crate::namenode::NamenodeClient;
use crate::protocol::RenewLeaseRequest;
use crate::sync::lock;

/// Shared by every clone of a [`crate::Granary`].
#[derive(Debug, Default)]
pub(crate) struct LeaseRenewer {
    state: Mutex<RenewerState>,
}

#[derive(Debug, Default)]
struct RenewerState {
    open_writers: usize,
    task: Option<JoinHandle<()>>,
}

/// Held by an open writer; the renewal stops when the last one is dropped.
pub(crate) struct LeaseGuard {
    renewer: Arc<LeaseRenewer>,
}

impl LeaseRenewer {
    /// Renews `holder`'s leases every `soft_limit / 2` until the guard (and every other one)
    /// is dropped. Needs a tokio runtime.
    pub(crate) fn hold(
        self: &Arc<Self>,
        namenode: &NamenodeClient,
        holder: &LeaseHolder,
        soft_limit: Duration,
    ) -> LeaseGuard {
        let mut state = lock(&self.state, "lease renewer");
        state.open_writers += 1;
        if state.task.is_none() {
            let every = (soft_limit / 2).max(Duration::from_millis(10));
            let (namenode, holder) = (namenode.clone(), holder.clone());
            state.task = Some(tokio::spawn(async move {
                let request = RenewLeaseRequest { holder };
                loop {
                    tokio::time::sleep(every).await;
                    if let Err(e) = namenode.renew_lease(&request).await {
                        tracing::warn!("renewing the leases of {}: {e}", request.holder);
                    }
                }
            }));
        }
        LeaseGuard {
            renewer: Arc::clone(self),
        }
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        let mut state = lock(&self.renewer.state, "lease renewer");
        state.open_writers -= 1;
        if state.open_writers == 0 {
            if let Some(task) = state.task.take() {
                task.abort();
            }
        }
    }
}
