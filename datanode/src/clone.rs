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
