//! Datanode calls: registration, heartbeats, full and incremental block reports, the end of
//! a block recovery, the lifeline and the command long-poll.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::Json;
use granary_client::protocol::{routes, Ack, DatanodeQuery};
use granary_client::server::{ApiQuery, ApiResult, Req, Resp};

use crate::namesystem::Namesystem;

type Nn = State<Arc<Namesystem>>;

pub async fn register(
    State(nn): Nn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Req(req): Req<routes::Register>,
) -> ApiResult<Resp<routes::Register>> {
    Ok(Resp(nn.register_datanode(req, peer.ip()).await?))
}

pub async fn heartbeat(
    State(nn): Nn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Req(req): Req<routes::Heartbeat>,
) -> ApiResult<Resp<routes::Heartbeat>> {
    Ok(Resp(nn.heartbeat(req, peer.ip())?))
}

pub async fn block_report(
    State(nn): Nn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Req(req): Req<routes::BlockReport>,
) -> ApiResult<Resp<routes::BlockReport>> {
    Ok(Resp(nn.block_report(req, peer.ip())?))
}

pub async fn block_received(
    State(nn): Nn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Req(req): Req<routes::BlockReceived>,
) -> ApiResult<Resp<routes::BlockReceived>> {
    nn.block_received(req, peer.ip())?;
    Ok(Resp(Ack {}))
}

pub async fn replication_failed(
    State(nn): Nn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Req(req): Req<routes::ReplicationFailed>,
) -> ApiResult<Resp<routes::ReplicationFailed>> {
    nn.replication_failed(req, peer.ip())?;
    Ok(Resp(Ack {}))
}

pub async fn commit_block_sync(
    State(nn): Nn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Req(req): Req<routes::CommitBlockSync>,
) -> ApiResult<Resp<routes::CommitBlockSync>> {
    nn.commit_block_sync(req, peer.ip()).await?;
    Ok(Resp(Ack {}))
}

/// Held open until the datanode's body ends (see `namesystem::liveness`).
pub async fn lifeline(
    State(nn): Nn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiQuery(query): ApiQuery<DatanodeQuery>,
    body: Body,
) -> ApiResult<Json<Ack>> {
    nn.lifeline(&query.id, peer.ip(), body).await?;
    Ok(Json(Ack {}))
}

pub async fn commands(
    State(nn): Nn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Req(query): Req<routes::Commands>,
) -> ApiResult<Resp<routes::Commands>> {
    Ok(Resp(nn.poll_commands(&query.id, peer.ip()).await?))
}
