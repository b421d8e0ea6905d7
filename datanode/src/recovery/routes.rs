//! The routes a recovery primary calls on every replica's datanode (itself included):
//! `GET /v1/recovery/{id}?at=` (its verified state, possibly as if cut) and
//! `POST /v1/recovery/{id}/cut`. Each first stops a write of the block in progress (its
//! writer lost its lease) and waits, up to `stall_timeout`, for it to end; only then does it
//! take a transfer slot, so the write it stopped frees one.

use std::sync::Arc;

use axum::extract::State;
use granary_client::protocol::{routes, ReplicaReport, ReplicaState};
use granary_client::server::{ApiResult, Params, Req, Resp};
use granary_client::{BlockId, Error};

use crate::state::AppState;
use crate::store::meta::BlockMeta;

pub async fn replica_state(
    State(state): State<Arc<AppState>>,
    Params(block): Params<routes::ReplicaStateOf>,
    Req(query): Req<routes::ReplicaStateOf>,
) -> ApiResult<Resp<routes::ReplicaStateOf>> {
    let mark = state.store.take_mark(block, state.stall_timeout).await?;
    let _transfer = state
        .transfers
        .admit(&format!("the recovery state of {block}"))?;
    let store = Arc::clone(&state.store);
    let meta = tokio::task::spawn_blocking(move || store.replica_state(&mark, query.at))
        .await
        .map_err(|e| Error::internal(format!("reading the state of {block}: {e}")))??;
    Ok(Resp(describe(&state, block, &meta)))
}

pub async fn cut_replica(
    State(state): State<Arc<AppState>>,
    Params(block): Params<routes::CutReplica>,
    Req(request): Req<routes::CutReplica>,
) -> ApiResult<Resp<routes::CutReplica>> {
    let mark = state.store.take_mark(block, state.stall_timeout).await?;
    let _transfer = state.transfers.admit(&format!("cutting {block}"))?;
    let store = Arc::clone(&state.store);
    let meta = tokio::task::spawn_blocking(move || {
        store.cut_replica(&mark, request.generation, request.length)
    })
    .await
    .map_err(|e| Error::internal(format!("cutting {block}: {e}")))??;
    state.reports.received(ReplicaReport {
        block,
        generation: meta.generation,
        length: meta.length,
        sha256: Some(meta.block_digest),
    });
    Ok(Resp(describe(&state, block, &meta)))
}

fn describe(state: &AppState, block: BlockId, meta: &BlockMeta) -> ReplicaState {
    ReplicaState {
        block,
        datanode: state.store.id().clone(),
        generation: meta.generation,
        length: meta.length,
        chunks: meta.chunks.clone(),
        sha256: meta.block_digest,
    }
}
