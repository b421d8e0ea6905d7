//! Client namespace calls.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::Json;
use granary_client::protocol::{
    AbandonBlockRequest, AddBlockRequest, AddBlockResponse, CompleteRequest, CompleteResponse,
    CreateRequest, CreateResponse, DeleteRequest, DeleteResponse, FileStatus, ListQuery,
    ListResponse, LocatedFile, MkdirRequest, PathQuery, RenameRequest, RenameResponse,
    ReportBadReplicaRequest, SetReplicationRequest,
};
use granary_client::server::{ApiJson, ApiQuery, ApiResult};

use super::Empty;
use crate::namesystem::Namesystem;

type Nn = State<Arc<Namesystem>>;

pub async fn create(
    State(nn): Nn,
    ApiJson(req): ApiJson<CreateRequest>,
) -> ApiResult<Json<CreateResponse>> {
    Ok(Json(nn.create(req).await?))
}

pub async fn add_block(
    State(nn): Nn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<AddBlockRequest>,
) -> ApiResult<Json<AddBlockResponse>> {
    Ok(Json(nn.add_block(req, Some(peer.ip())).await?))
}

pub async fn abandon_block(
    State(nn): Nn,
    ApiJson(req): ApiJson<AbandonBlockRequest>,
) -> ApiResult<Json<Empty>> {
    nn.abandon_block(req).await?;
    Ok(Json(Empty {}))
}

pub async fn complete(
    State(nn): Nn,
    ApiJson(req): ApiJson<CompleteRequest>,
) -> ApiResult<Json<CompleteResponse>> {
    let completed = nn.complete(req).await?;
    fail::fail_point!("complete::before_ack");
    Ok(Json(completed))
}

pub async fn mkdir(
    State(nn): Nn,
    ApiJson(req): ApiJson<MkdirRequest>,
) -> ApiResult<Json<FileStatus>> {
    Ok(Json(nn.mkdir(req).await?))
}

pub async fn delete(
    State(nn): Nn,
    ApiJson(req): ApiJson<DeleteRequest>,
) -> ApiResult<Json<DeleteResponse>> {
    Ok(Json(nn.delete(req).await?))
}

pub async fn rename(
    State(nn): Nn,
    ApiJson(req): ApiJson<RenameRequest>,
) -> ApiResult<Json<RenameResponse>> {
    Ok(Json(nn.rename(req).await?))
}

pub async fn stat(
    State(nn): Nn,
    ApiQuery(query): ApiQuery<PathQuery>,
) -> ApiResult<Json<FileStatus>> {
    Ok(Json(nn.stat(&query.path)?))
}

pub async fn list(
    State(nn): Nn,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<ListResponse>> {
    let page = nn.list(&query.path, query.start_after.as_deref(), query.limit)?;
    Ok(Json(ListResponse {
        entries: page.entries,
        next_start_after: page.next_start_after,
    }))
}

pub async fn locate(
    State(nn): Nn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiQuery(query): ApiQuery<PathQuery>,
) -> ApiResult<Json<LocatedFile>> {
    Ok(Json(nn.locate(&query.path, Some(peer.ip()))?))
}

pub async fn report_bad_replica(
    State(nn): Nn,
    ApiJson(req): ApiJson<ReportBadReplicaRequest>,
) -> ApiResult<Json<Empty>> {
    nn.report_bad_replica(req)?;
    Ok(Json(Empty {}))
}

pub async fn set_replication(
    State(nn): Nn,
    ApiJson(req): ApiJson<SetReplicationRequest>,
) -> ApiResult<Json<FileStatus>> {
    Ok(Json(nn.set_replication(req).await?))
}
