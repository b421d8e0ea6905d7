//! Datanode calls: registration, heartbeats, full and incremental block reports.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use granary_client::protocol::{
    BlockReceivedRequest, BlockReportRequest, BlockReportResponse, HeartbeatRequest,
    HeartbeatResponse, RegisterRequest, RegisterResponse,
};
use granary_client::server::{ApiJson, ApiResult};

use super::Empty;
use crate::namesystem::Namesystem;

type Nn = State<Arc<Namesystem>>;

pub async fn register(
    State(nn): Nn,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<Json<RegisterResponse>> {
    Ok(Json(nn.register(req)?))
}

pub async fn heartbeat(
    State(nn): Nn,
    ApiJson(req): ApiJson<HeartbeatRequest>,
) -> ApiResult<Json<HeartbeatResponse>> {
    Ok(Json(nn.heartbeat(req)?))
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
