//! Datanode calls: registration, heartbeats, full and incremental block reports, the lifeline
//! and the command long-poll.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::Json;
use granary_client::protocol::{
    BlockReceivedRequest, BlockReportRequest, BlockReportResponse, DatanodeQuery, HeartbeatRequest,
    HeartbeatResponse, RegisterRequest, RegisterResponse, ReplicationFailedRequest,
};
use granary_client::server::{ApiJson, ApiQuery, ApiResult};

use super::Empty;
use crate::namesystem::Namesystem;

type Nn = State<Arc<Namesystem>>;

pub async fn register(
    State(nn): Nn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<Json<RegisterResponse>> {
    Ok(Json(nn.register(req, peer.ip())?))
}

pub async fn heartbeat(
    State(nn): Nn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<HeartbeatRequest>,
) -> ApiResult<Json<HeartbeatResponse>> {
    Ok(Json(nn.heartbeat(req, peer.ip())?))
}

pub async fn block_report(
    State(nn): Nn,
    ApiJson(req): ApiJson<BlockReportRequest>,
) -> ApiResult<Json<BlockReportResponse>> {
    Ok(Json(nn.block_report(req)?))
}

pub async fn block_received(
    State(nn): Nn,
    ApiJson(req): ApiJson<BlockReceivedRequest>,
) -> ApiResult<Json<Empty>> {
    nn.block_received(req)?;
    Ok(Json(Empty {}))
}

pub async fn replication_failed(
    State(nn): Nn,
    ApiJson(req): ApiJson<ReplicationFailedRequest>,
) -> ApiResult<Json<Empty>> {
    nn.replication_failed(req)?;
    Ok(Json(Empty {}))
}

/// Held open until the datanode's body ends (see `namesystem::liveness`).
pub async fn lifeline(
    State(nn): Nn,
    ApiQuery(query): ApiQuery<DatanodeQuery>,
    body: Body,
) -> ApiResult<Json<Empty>> {
    nn.lifeline(&query.id, body).await?;
    Ok(Json(Empty {}))
}

pub async fn commands(
    State(nn): Nn,
    ApiQuery(query): ApiQuery<DatanodeQuery>,
) -> ApiResult<Json<HeartbeatResponse>> {
    Ok(Json(nn.poll_commands(&query.id).await?))
}
