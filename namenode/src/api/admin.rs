//! Operator endpoints: health and the cluster report.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use granary_client::protocol::ClusterReport;

use crate::namesystem::Namesystem;

#[derive(serde::Serialize)]
pub struct Health {
    status: &'static str,
}

pub async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

pub async fn report(State(nn): State<Arc<Namesystem>>) -> Json<ClusterReport> {
    Json(nn.cluster_report())
}
