//! Client namespace calls.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use granary_client::protocol::{routes, Ack, ListResponse, ServerDefaults};
use granary_client::server::{ApiResult, CallerName, Req, Resp};
use granary_client::Error;

use crate::namespace::Caller;
use crate::namesystem::Namesystem;

type Nn = State<Arc<Namesystem>>;

/// The caller of a request with its groups on this host (see `users`).
fn who(nn: &Namesystem, CallerName(name): CallerName) -> Caller {
    nn.users().caller(&name)
}

pub async fn create(
    State(nn): Nn,
    caller: CallerName,
    Req(req): Req<routes::Create>,
) -> ApiResult<Resp<routes::Create>> {
    Ok(Resp(nn.create_as(&who(&nn, caller), req).await?))
}

pub async fn add_block(
    State(nn): Nn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Req(req): Req<routes::AddBlock>,
) -> ApiResult<Resp<routes::AddBlock>> {
    Ok(Resp(nn.add_block(req, Some(peer.ip())).await?))
}

pub async fn add_cloned_block(
    State(nn): Nn,
    Req(req): Req<routes::AddClonedBlock>,
) -> ApiResult<Resp<routes::AddClonedBlock>> {
    Ok(Resp(nn.add_cloned_block(req).await?))
}

pub async fn abandon_block(
    State(nn): Nn,
    Req(req): Req<routes::AbandonBlock>,
) -> ApiResult<Resp<routes::AbandonBlock>> {
    nn.abandon_block(req).await?;
    Ok(Resp(Ack {}))
}

pub async fn complete(
    State(nn): Nn,
    Req(req): Req<routes::Complete>,
) -> ApiResult<Resp<routes::Complete>> {
    let completed = nn.complete(req).await?;
    fail::fail_point!("complete::before_ack");
    Ok(Resp(completed))
}

pub async fn mkdir(
    State(nn): Nn,
    caller: CallerName,
    Req(req): Req<routes::Mkdir>,
) -> ApiResult<Resp<routes::Mkdir>> {
    Ok(Resp(nn.mkdir_as(&who(&nn, caller), req).await?))
}

pub async fn delete(
    State(nn): Nn,
    caller: CallerName,
    Req(req): Req<routes::Delete>,
) -> ApiResult<Resp<routes::Delete>> {
    Ok(Resp(nn.delete_as(&who(&nn, caller), req).await?))
}

pub async fn rename(
    State(nn): Nn,
    caller: CallerName,
    Req(req): Req<routes::Rename>,
) -> ApiResult<Resp<routes::Rename>> {
    Ok(Resp(nn.rename_as(&who(&nn, caller), req).await?))
}

pub async fn stat(
    State(nn): Nn,
    caller: CallerName,
    Req(query): Req<routes::Stat>,
) -> ApiResult<Resp<routes::Stat>> {
    Ok(Resp(nn.stat_as(&who(&nn, caller), &query.path)?))
}

pub async fn list(
    State(nn): Nn,
    caller: CallerName,
    Req(query): Req<routes::List>,
) -> ApiResult<Resp<routes::List>> {
    let caller = who(&nn, caller);
    let page = nn.list_as(
        &caller,
        &query.path,
        query.start_after.as_deref(),
        query.limit,
    )?;
    Ok(Resp(ListResponse {
        entries: page.entries,
        next_start_after: page.next_start_after,
    }))
}

/// A content summary walks a whole subtree: on a blocking thread, so it holds no runtime
/// worker while it steps.
pub async fn content_summary(
    State(nn): Nn,
    caller: CallerName,
    Req(query): Req<routes::GetContentSummary>,
) -> ApiResult<Resp<routes::GetContentSummary>> {
    nn.check_read(&who(&nn, caller), &query.path)?;
    let summary = tokio::task::spawn_blocking(move || nn.content_summary(&query.path))
        .await
        .map_err(|e| Error::internal(format!("content summary failed: {e}")))??;
    Ok(Resp(summary))
}

pub async fn locate(
    State(nn): Nn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    caller: CallerName,
    Req(query): Req<routes::Locate>,
) -> ApiResult<Resp<routes::Locate>> {
    nn.check_read(&who(&nn, caller), &query.path)?;
    let located = nn.locate(&query.path, Some(peer.ip()))?;
    nn.record_access(&query.path).await;
    Ok(Resp(located))
}

pub async fn report_bad_replica(
    State(nn): Nn,
    Req(req): Req<routes::ReportBadReplica>,
) -> ApiResult<Resp<routes::ReportBadReplica>> {
    nn.report_bad_replica(req)?;
    Ok(Resp(Ack {}))
}

pub async fn set_replication(
    State(nn): Nn,
    caller: CallerName,
    Req(req): Req<routes::SetReplication>,
) -> ApiResult<Resp<routes::SetReplication>> {
    Ok(Resp(nn.set_replication_as(&who(&nn, caller), req).await?))
}

pub async fn append(
    State(nn): Nn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    caller: CallerName,
    Req(req): Req<routes::Append>,
) -> ApiResult<Resp<routes::Append>> {
    let caller = who(&nn, caller);
    Ok(Resp(nn.append_as(&caller, req, Some(peer.ip())).await?))
}

pub async fn reopen_block(
    State(nn): Nn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Req(req): Req<routes::ReopenBlock>,
) -> ApiResult<Resp<routes::ReopenBlock>> {
    Ok(Resp(nn.reopen_block(req, Some(peer.ip())).await?))
}

pub async fn flush(State(nn): Nn, Req(req): Req<routes::Flush>) -> ApiResult<Resp<routes::Flush>> {
    nn.flush_block(req).await?;
    Ok(Resp(Ack {}))
}

pub async fn renew_lease(
    State(nn): Nn,
    Req(req): Req<routes::RenewLease>,
) -> ApiResult<Resp<routes::RenewLease>> {
    nn.renew_lease(&req);
    Ok(Resp(Ack {}))
}

pub async fn recover_lease(
    State(nn): Nn,
    caller: CallerName,
    Req(req): Req<routes::RecoverLease>,
) -> ApiResult<Resp<routes::RecoverLease>> {
    Ok(Resp(nn.recover_lease_as(&who(&nn, caller), req).await?))
}

pub async fn truncate(
    State(nn): Nn,
    caller: CallerName,
    Req(req): Req<routes::Truncate>,
) -> ApiResult<Resp<routes::Truncate>> {
    Ok(Resp(nn.truncate_as(&who(&nn, caller), req).await?))
}

pub async fn concat(
    State(nn): Nn,
    caller: CallerName,
    Req(req): Req<routes::Concat>,
) -> ApiResult<Resp<routes::Concat>> {
    Ok(Resp(nn.concat_as(&who(&nn, caller), req).await?))
}

/// The settings clients follow (HDFS's `getServerDefaults`): `fs rm` reads the trash interval.
pub async fn server_defaults(State(nn): Nn) -> Resp<routes::GetServerDefaults> {
    let config = nn.config();
    let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    Resp(ServerDefaults {
        default_block_size: config.default_block_size,
        default_replication: config.default_replication,
        trash_interval_ms: ms(config.trash_interval),
        trash_checkpoint_interval_ms: config.trash_emptier_period().map_or(0, ms),
    })
}

pub async fn set_permission(
    State(nn): Nn,
    caller: CallerName,
    Req(req): Req<routes::SetPermission>,
) -> ApiResult<Resp<routes::SetPermission>> {
    Ok(Resp(nn.set_permission_as(&who(&nn, caller), req).await?))
}

pub async fn set_owner(
    State(nn): Nn,
    caller: CallerName,
    Req(req): Req<routes::SetOwner>,
) -> ApiResult<Resp<routes::SetOwner>> {
    Ok(Resp(nn.set_owner_as(&who(&nn, caller), req).await?))
}
