//! The datanode's HTTP router and the state its handlers share.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use axum::Router;
use granary_client::protocol::{routes, HealthResponse};
use granary_client::server::{method_not_allowed, not_found, Resp, RouterExt};
use granary_client::{BlockId, Error, ErrorKind};

use crate::heartbeat::{BadReplicaSignal, ReportQueue};
use crate::store::BlockStore;
use crate::{compute, pipeline, read};

/// What every handler needs.
pub struct AppState {
    pub store: Arc<BlockStore>,
    /// Client for block transfers to other datanodes.
    pub http: reqwest::Client,
    /// Finalized and deleted replicas, for the incremental block reports.
    pub reports: ReportQueue,
    pub transfers: TransferCounter,
    /// Wakes the reporter of corrupt replicas.
    pub bad_replicas: BadReplicaSignal,
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

/// Block reads and writes, health, and the shuffle server over this node's map output.
pub fn router(state: Arc<AppState>) -> Router {
    let shuffle = granary_compute::shuffle::router(compute::jobs_dir(state.store.data_dir()));
    Router::new()
        .endpoint(routes::ReadBlock, read::get_block)
        .endpoint(routes::WriteBlock, pipeline::put_block)
        .typed(routes::Health, health)
        .with_state(state)
        .merge(shuffle)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn health() -> Resp<routes::Health> {
    Resp(HealthResponse {
        status: "ok".into(),
    })
}

/// Block reads and writes in progress, reported in heartbeats as a load hint.
#[derive(Clone, Default)]
pub struct TransferCounter(Arc<AtomicU32>);

/// Counts one transfer until dropped.
pub struct TransferGuard(Arc<AtomicU32>);

impl TransferCounter {
    pub fn start(&self) -> TransferGuard {
        self.0.fetch_add(1, Ordering::Relaxed);
        TransferGuard(Arc::clone(&self.0))
    }

    pub fn active(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Drop for TransferGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use granary_client::ErrorKind;

    use crate::test_support::*;

    #[tokio::test]
    async fn malformed_requests_get_json_errors() {
        let node = start_node().await;
        let (status, error) = wire_error(get(&node.info, "/v1/blocks/abc").await).await;
        assert_eq!((status, error.kind), (400, ErrorKind::InvalidArgument));
        for id in ["abc", "..%2F1", "-1", "18446744073709551616"] {
            let response = client()
                .put(format!("http://{}/v1/blocks/{id}", node.info.addr))
                .send()
                .await
                .unwrap();
            assert_eq!(wire_error(response).await.0, 400, "{id}");
        }
        let (status, error) = wire_error(get(&node.info, "/v1/nothing").await).await;
        assert_eq!((status, error.kind), (404, ErrorKind::NotFound));
        let response = client()
            .post(format!("http://{}/v1/blocks/1", node.info.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(wire_error(response).await.0, 405);
        assert_eq!(get(&node.info, "/v1/health").await.status(), 200);
    }
}
