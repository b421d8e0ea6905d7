//! The primary's calls to the recovery routes of a replica's datanode, each bounded: a node
//! that does not answer within [`CALL_FACTOR`] stall timeouts (time for it to stop a write
//! and verify a whole replica) is left out. A `busy` node is asked again until then.

use std::time::Duration;

use granary_client::protocol::routes::{self, Route};
use granary_client::protocol::{CutReplicaRequest, DatanodeInfo, ReplicaState, ReplicaStateQuery};
use granary_client::{BlockId, Error, ErrorKind, WireError};
use tokio::time::Instant;

use crate::downstream::describe;
use crate::state::AppState;

/// A call's bound, in stall timeouts.
pub const CALL_FACTOR: u32 = 4;
const BUSY_PAUSE: Duration = Duration::from_millis(200);

pub async fn state(
    node: &AppState,
    target: &DatanodeInfo,
    block: BlockId,
    at: Option<u64>,
) -> Result<ReplicaState, Error> {
    call::<routes::ReplicaStateOf>(node, target, block, &ReplicaStateQuery { at }).await
}

pub async fn cut(
    node: &AppState,
    target: &DatanodeInfo,
    block: BlockId,
    request: CutReplicaRequest,
) -> Result<ReplicaState, Error> {
    call::<routes::CutReplica>(node, target, block, &request).await
}

async fn call<R: Route<Params = BlockId>>(
    node: &AppState,
    target: &DatanodeInfo,
    block: BlockId,
    request: &R::Request,
) -> Result<R::Response, Error> {
    let deadline = Instant::now() + node.stall_timeout * CALL_FACTOR;
    loop {
        let builder = routes::request::<R>(&node.http, target.addr, &block);
        let attempt = tokio::time::timeout_at(
            deadline,
            send::<R>(routes::with_request::<R>(builder, request), target),
        )
        .await;
        match attempt {
            Err(_) => {
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    format!("{} did not answer about {block} in time", target.id),
                )
                .with_datanode(target.id.clone()))
            }
            Ok(Err(e)) if e.kind == ErrorKind::Busy && Instant::now() + BUSY_PAUSE < deadline => {
                tokio::time::sleep(BUSY_PAUSE).await;
            }
            Ok(result) => return result,
        }
    }
}

async fn send<R: Route>(
    request: reqwest::RequestBuilder,
    target: &DatanodeInfo,
) -> Result<R::Response, Error> {
    let unavailable = |e: reqwest::Error| {
        Error::new(
            ErrorKind::Unavailable,
            format!("{}: {}", target.id, describe(&e)),
        )
        .with_datanode(target.id.clone())
    };
    let response = request.send().await.map_err(unavailable)?;
    let status = response.status();
    let body = response.bytes().await.map_err(unavailable)?;
    if status.is_success() {
        return serde_json::from_slice(&body)
            .map_err(|e| Error::internal(format!("{} sent a malformed answer: {e}", target.id)));
    }
    Err(match serde_json::from_slice::<WireError>(&body) {
        Ok(wire) => Error::from(wire),
        Err(_) => Error::new(
            ErrorKind::Unavailable,
            format!("{} answered {status}", target.id),
        ),
    }
    .with_datanode(target.id.clone()))
}
