//! The HTTP API: exactly the namenode routes of `granary_client::protocol::routes`, each
//! handler registered by its route type (`RouterExt::typed`), which fixes its method, path,
//! request and response. Every failure, including unknown routes, wrong methods and malformed
//! bodies or queries, is a JSON `WireError` with a 4xx or 5xx status.

mod admin;
mod datanode;
mod jobs;
mod namespace;

use std::sync::Arc;

use axum::Router;
use granary_client::protocol::routes;
use granary_client::server::RouterExt;
use granary_compute::tracker::JobTracker;

use crate::namesystem::Namesystem;

/// Largest full block report accepted: about 1.5 million replicas.
const MAX_BLOCK_REPORT_BYTES: usize = 64 << 20;

/// The namesystem's routes and the job tracker's, each with its own state.
pub fn router(namesystem: Arc<Namesystem>, tracker: Arc<JobTracker>) -> Router {
    Router::new()
        .typed(routes::Health, admin::health)
        .typed(routes::Create, namespace::create)
        .typed(routes::AddBlock, namespace::add_block)
        .typed(routes::AddClonedBlock, namespace::add_cloned_block)
        .typed(routes::AbandonBlock, namespace::abandon_block)
        .typed(routes::Complete, namespace::complete)
        .typed(routes::Mkdir, namespace::mkdir)
        .typed(routes::Delete, namespace::delete)
        .typed(routes::Rename, namespace::rename)
        .typed(routes::Stat, namespace::stat)
        .typed(routes::List, namespace::list)
        .typed(routes::Locate, namespace::locate)
        .typed(routes::GetContentSummary, namespace::content_summary)
        .typed(routes::ReportBadReplica, namespace::report_bad_replica)
        .typed(routes::SetReplication, namespace::set_replication)
        .typed(routes::Append, namespace::append)
        .typed(routes::ReopenBlock, namespace::reopen_block)
        .typed(routes::Flush, namespace::flush)
        .typed(routes::RenewLease, namespace::renew_lease)
        .typed(routes::RecoverLease, namespace::recover_lease)
        .typed(routes::Truncate, namespace::truncate)
        .typed(routes::Concat, namespace::concat)
        .typed(routes::SetPermission, namespace::set_permission)
        .typed(routes::SetOwner, namespace::set_owner)
        .typed(routes::GetServerDefaults, namespace::server_defaults)
        .typed(routes::AdminReport, admin::report)
        .typed(routes::Fsck, admin::fsck)
        .typed(routes::SafeMode, admin::safe_mode)
        .typed(routes::Decommission, admin::decommission)
        .typed(routes::Recommission, admin::recommission)
        .typed(routes::Maintenance, admin::maintenance)
        .typed(routes::Register, datanode::register)
        .typed(routes::Heartbeat, datanode::heartbeat)
        .typed_limited(
            routes::BlockReport,
            datanode::block_report,
            MAX_BLOCK_REPORT_BYTES,
        )
        .typed(routes::BlockReceived, datanode::block_received)
        .typed(routes::ReplicationFailed, datanode::replication_failed)
        .typed(routes::CommitBlockSync, datanode::commit_block_sync)
        .endpoint(routes::Lifeline, datanode::lifeline)
        .typed(routes::Commands, datanode::commands)
        .with_state(namesystem)
        .merge(jobs::router(tracker))
        .fallback(granary_client::server::not_found)
        .method_not_allowed_fallback(granary_client::server::method_not_allowed)
}
