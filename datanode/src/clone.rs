//! `POST /v1/blocks/{id}/clone`: a new replica of block `{id}` copied locally from this
//! node's finalized replica of another block (a server-side copy), then reported to the
//! namenode exactly as a replica received from a pipeline is, so the writer's `complete`
//! commits it the same way.

use std::sync::Arc;

use axum::extract::State;
use granary_client::protocol::{routes, ReplicaReport, WriteBlockAck};
use granary_client::server::{ApiResult, Params, Req, Resp};
use granary_client::Error;

use crate::state::AppState;

pub async fn clone_replica(
    State(state): State<Arc<AppState>>,
    Params(target): Params<routes::CloneReplica>,
    Req(request): Req<routes::CloneReplica>,
) -> ApiResult<Resp<routes::CloneReplica>> {
    let source = request.source;
    let _transfer = state
        .transfers
        .admit(&format!("cloning {source} to {target}"))?;
    let node = Arc::clone(&state);
    let ack = tokio::task::spawn_blocking(move || {
        let prepared = node.store.clone_replica(
            source,
            request.source_generation,
            request.length,
            target,
            request.generation,
        )?;
        let (length, sha256) = (prepared.length(), prepared.digest());
        node.store.commit(prepared)?;
        node.reports.received(ReplicaReport {
            block: target,
            generation: request.generation,
            length,
            sha256: Some(sha256),
        });
        Ok::<_, Error>(WriteBlockAck {
            block: target,
            generation: request.generation,
            length,
            sha256,
            persisted_on: vec![node.store.id().clone()],
        })
    })
    .await
    .map_err(|e| Error::internal(format!("cloning {source} to {target}: {e}")))??;
    tracing::debug!(%source, %target, length = ack.length, "replica cloned");
    Ok(Resp(ack))
}

#[cfg(test)]
mod tests {
    use granary_client::checksum::{block_digest_of, CHUNK_SIZE};
    use granary_client::protocol::{routes, CloneReplicaRequest, WriteBlockAck};
    use granary_client::{BlockId, ErrorKind, Generation};

    use crate::fake_namenode::start_fake_namenode;
    use crate::test_support::*;

    async fn clone_call(
        node: &TestNode,
        target: u64,
        request: &CloneReplicaRequest,
    ) -> reqwest::Response {
        let builder =
            routes::request::<routes::CloneReplica>(&client(), node.info.addr, &BlockId(target));
        routes::with_request::<routes::CloneReplica>(builder, request)
            .send()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_clone_is_acknowledged_readable_and_reported_as_a_received_replica() {
        let (url, nn) = start_fake_namenode().await;
        let node = start_node_with(&url).await;
        let bytes = data(2 * CHUNK_SIZE + 9, 4);
        write_replica(&node.store, 10, &bytes);
        let request = CloneReplicaRequest {
            source: BlockId(10),
            source_generation: Generation(1),
            generation: Generation(1),
            length: bytes.len() as u64,
        };
        let response = clone_call(&node, 11, &request).await;
        assert_eq!(response.status(), 200);
        let ack: WriteBlockAck = response.json().await.unwrap();
        assert_eq!((ack.block, ack.length), (BlockId(11), bytes.len() as u64));
        assert_eq!(ack.sha256, block_digest_of(&bytes));
        assert_eq!(ack.persisted_on, vec![node.info.id.clone()]);
        assert_eq!(read_back(&node.info, 11).await, bytes);
        let reported = || {
            nn.incremental
                .lock()
                .unwrap()
                .iter()
                .flat_map(|r| r.received.clone())
                .any(|r| r.block == BlockId(11) && r.sha256 == Some(ack.sha256))
        };
        wait_until("the clone is reported", reported).await;

        // A second clone onto the same id, or from a source not as located, is refused.
        let (status, error) = wire_error(clone_call(&node, 11, &request).await).await;
        assert_eq!((status, error.kind), (409, ErrorKind::AlreadyExists));
        let stale = CloneReplicaRequest {
            length: 5,
            ..request
        };
        let (_, error) = wire_error(clone_call(&node, 12, &stale).await).await;
        assert_eq!(error.kind, ErrorKind::StaleReplica);
        assert!(!node.store.contains(BlockId(12)));
    }
}
