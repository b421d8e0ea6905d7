//! The HTTP API: exactly the namenode routes of `granary_client::protocol::routes`. Every
//! failure, including unknown routes, wrong methods and malformed bodies or queries, is a JSON
//! `WireError` with a 4xx or 5xx status.

mod admin;
mod datanode;
mod jobs;
mod namespace;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use granary_client::protocol::routes;
use granary_compute::tracker::JobTracker;

use crate::namesystem::Namesystem;

/// Largest full block report accepted: about 1.5 million replicas.
const MAX_BLOCK_REPORT_BYTES: usize = 64 << 20;

/// The namesystem's routes and the job tracker's, each with its own state.
pub fn router(namesystem: Arc<Namesystem>, tracker: Arc<JobTracker>) -> Router {
    Router::new()
        .route(routes::HEALTH, get(admin::health))
        .route(routes::CREATE, post(namespace::create))
        .route(routes::ADD_BLOCK, post(namespace::add_block))
        .route(routes::ABANDON_BLOCK, post(namespace::abandon_block))
        .route(routes::COMPLETE, post(namespace::complete))
        .route(routes::MKDIR, post(namespace::mkdir))
        .route(routes::DELETE, post(namespace::delete))
        .route(routes::RENAME, post(namespace::rename))
        .route(routes::STAT, get(namespace::stat))
        .route(routes::LIST, get(namespace::list))
        .route(routes::LOCATE, get(namespace::locate))
        .route(
            routes::REPORT_BAD_REPLICA,
            post(namespace::report_bad_replica),
        )
        .route(routes::SET_REPLICATION, post(namespace::set_replication))
        .route(routes::ADMIN_REPORT, get(admin::report))
        .route(routes::ADMIN_FSCK, get(admin::fsck))
        .route(routes::ADMIN_SAFEMODE, post(admin::safe_mode))
        .route(routes::ADMIN_DECOMMISSION, post(admin::decommission))
        .route(routes::ADMIN_RECOMMISSION, post(admin::recommission))
        .route(routes::ADMIN_MAINTENANCE, post(admin::maintenance))
        .route(routes::REGISTER, post(datanode::register))
        .route(routes::HEARTBEAT, post(datanode::heartbeat))
        .route(
            routes::BLOCK_REPORT,
            post(datanode::block_report).layer(DefaultBodyLimit::max(MAX_BLOCK_REPORT_BYTES)),
        )
        .route(routes::BLOCK_RECEIVED, post(datanode::block_received))
        .route(
            routes::REPLICATION_FAILED,
            post(datanode::replication_failed),
        )
        .route(routes::LIFELINE, post(datanode::lifeline))
        .route(routes::COMMANDS, get(datanode::commands))
        .with_state(namesystem)
        .merge(jobs::router(tracker))
        .fallback(granary_client::server::not_found)
        .method_not_allowed_fallback(granary_client::server::method_not_allowed)
}

/// The body of calls that answer nothing but success.
#[derive(serde::Serialize)]
struct Empty {}
