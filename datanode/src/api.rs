//! The datanode's HTTP router.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::Router;
use granary_client::protocol::{routes, HealthResponse};
use granary_client::server::{method_not_allowed, not_found, ApiResult, Resp, RouterExt};
use granary_client::{Error, ErrorKind};

use crate::state::AppState;
use crate::{clone, compute, pipeline, read, recovery};

/// Block reads and writes, the recovery routes, health, and the shuffle server over this
/// node's map output.
pub fn router(state: Arc<AppState>) -> Router {
    let shuffle = granary_compute::shuffle::router(compute::jobs_dir(state.store.data_dir()));
    Router::new()
        .endpoint(routes::ReadBlock, read::get_block)
        .endpoint(routes::WriteBlock, pipeline::put_block)
        .typed(routes::CloneReplica, clone::clone_replica)
        .typed(routes::ReplicaStateOf, recovery::routes::replica_state)
        .typed(routes::CutReplica, recovery::routes::cut_replica)
        .typed(routes::Health, health)
        .with_state(state)
        .merge(shuffle)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// `ok` while serving; `unavailable` once shutdown has begun (see `AppState::stopping`).
async fn health(State(state): State<Arc<AppState>>) -> ApiResult<Resp<routes::Health>> {
    if state.stopping.load(Ordering::SeqCst) {
        return Err(Error::new(ErrorKind::Unavailable, "the datanode is shutting down").into());
    }
    Ok(Resp(HealthResponse {
        status: "ok".into(),
    }))
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

    #[tokio::test]
    async fn health_answers_unavailable_once_shutdown_begins() {
        use std::sync::atomic::Ordering;

        let dir = tempfile::tempdir().unwrap();
        let state = test_state(&dir);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = super::router(state.clone());
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let url = format!("http://{addr}/v1/health");
        assert_eq!(client().get(&url).send().await.unwrap().status(), 200);
        // The namenode probes health when our lifeline ends: it must not find us serving.
        state.stopping.store(true, Ordering::SeqCst);
        let (status, error) = wire_error(client().get(&url).send().await.unwrap()).await;
        assert_eq!((status, error.kind), (503, ErrorKind::Unavailable));
        server.abort();
    }
}
