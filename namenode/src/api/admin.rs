//! Operator endpoints: health, the cluster report, fsck, safe mode, and the admin states of
//! datanodes.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use granary_client::protocol::{
    ClusterReport, DatanodeAdminRequest, DatanodeReport, FsckQuery, FsckReport, HealthResponse,
    MaintenanceRequest, SafeModeRequest, SafeModeStatus,
};
use granary_client::server::{ApiJson, ApiQuery, ApiResult};

use crate::namesystem::Namesystem;

type Nn = State<Arc<Namesystem>>;

pub async fn health() -> Json<HealthResponse> {
    Json(HealthResponse {
        status: "ok".into(),
    })
}

pub async fn report(State(nn): Nn) -> Json<ClusterReport> {
    Json(nn.cluster_report())
}

pub async fn fsck(
    State(nn): Nn,
    ApiQuery(query): ApiQuery<FsckQuery>,
) -> ApiResult<Json<FsckReport>> {
    Ok(Json(nn.fsck(&query.path)?))
}

pub async fn safe_mode(
    State(nn): Nn,
    ApiJson(req): ApiJson<SafeModeRequest>,
) -> Json<SafeModeStatus> {
    Json(nn.safe_mode(req.action))
}

pub async fn decommission(
    State(nn): Nn,
    ApiJson(req): ApiJson<DatanodeAdminRequest>,
) -> ApiResult<Json<DatanodeReport>> {
    Ok(Json(nn.decommission(&req.datanode).await?))
}

pub async fn recommission(
    State(nn): Nn,
    ApiJson(req): ApiJson<DatanodeAdminRequest>,
) -> ApiResult<Json<DatanodeReport>> {
    Ok(Json(nn.recommission(&req.datanode).await?))
}

pub async fn maintenance(
    State(nn): Nn,
    ApiJson(req): ApiJson<MaintenanceRequest>,
) -> ApiResult<Json<DatanodeReport>> {
    Ok(Json(nn.maintenance(&req).await?))
}
