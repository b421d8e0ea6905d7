//! The datanode's HTTP router.

use std::sync::Arc;

use axum::Router;
use granary_client::protocol::{routes, HealthResponse};
use granary_client::server::{method_not_allowed, not_found, Resp, RouterExt};

use crate::state::AppState;
use crate::{compute, pipeline, read};

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
