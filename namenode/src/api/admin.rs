//! Operator endpoints: health, the cluster report, fsck, safe mode, and the admin states of
//! datanodes.

use std::sync::Arc;

use axum::extract::State;
use granary_client::protocol::{routes, HealthResponse};
use granary_client::server::{ApiResult, Req, Resp};
use granary_client::Error;

use crate::namesystem::Namesystem;

type Nn = State<Arc<Namesystem>>;

pub async fn health() -> Resp<routes::Health> {
    Resp(HealthResponse {
        status: "ok".into(),
    })
}

pub async fn report(State(nn): Nn) -> Resp<routes::AdminReport> {
    Resp(nn.cluster_report())
}

/// fsck walks a whole subtree: on a blocking thread, so it holds no runtime worker.
pub async fn fsck(State(nn): Nn, Req(query): Req<routes::Fsck>) -> ApiResult<Resp<routes::Fsck>> {
    let report = tokio::task::spawn_blocking(move || nn.fsck(&query.path, query.open_for_write))
        .await
        .map_err(|e| Error::internal(format!("fsck failed: {e}")))??;
    Ok(Resp(report))
}

pub async fn safe_mode(State(nn): Nn, Req(req): Req<routes::SafeMode>) -> Resp<routes::SafeMode> {
    Resp(nn.safe_mode(req.action))
}

pub async fn decommission(
    State(nn): Nn,
    Req(req): Req<routes::Decommission>,
) -> ApiResult<Resp<routes::Decommission>> {
    Ok(Resp(nn.decommission(&req.datanode).await?))
}

pub async fn recommission(
    State(nn): Nn,
    Req(req): Req<routes::Recommission>,
) -> ApiResult<Resp<routes::Recommission>> {
    Ok(Resp(nn.recommission(&req.datanode).await?))
}

pub async fn maintenance(
    State(nn): Nn,
    Req(req): Req<routes::Maintenance>,
) -> ApiResult<Resp<routes::Maintenance>> {
    Ok(Resp(nn.maintenance(&req).await?))
}
