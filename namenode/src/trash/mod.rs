//! The trash emptier (HDFS's `TrashPolicyDefault.Emptier`): every `trash_emptier_period` it
//! goes through `/user/*/.Trash`, deletes the checkpoints older than `trash_interval` and
//! checkpoints each `Current` (the same steps as `fs expunge`, from
//! `granary_client::trash`). Every change is a normal namespace call (journaled, blocks
//! freed); the namesystem lock is held only inside those calls, one at a time.

mod namespace;

use std::sync::Arc;
use std::time::Duration;

use granary_client::protocol::FileKind;
use granary_client::trash::{names, Trash, TrashNamespace};
use granary_client::{Error, ErrorKind, FsPath};
use tokio::time::{Instant, MissedTickBehavior};

use self::namespace::NamesystemTrash;
use crate::namesystem::Namesystem;

/// Runs the emptier every `period` (the first pass one period after start-up) until the
/// task is aborted with the namenode.
pub async fn run_emptier(namesystem: Arc<Namesystem>, period: Duration, interval: Duration) {
    let ns = NamesystemTrash::new(namesystem);
    let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tracing::info!(?period, ?interval, "trash emptier running");
    loop {
        ticker.tick().await;
        if let Err(e) = empty_every_trash(&ns, interval, names::now_ms()).await {
            log_failure("/user", &e);
        }
    }
}

/// One pass over every user's trash at `now_ms`.
pub(crate) async fn empty_every_trash(
    ns: &(impl TrashNamespace + ?Sized),
    interval: Duration,
    now_ms: u64,
) -> Result<(), Error> {
    let homes = FsPath::parse(names::HOME_ROOT)?;
    match ns.try_stat(&homes).await? {
        Some(status) if status.path == homes && status.kind == FileKind::Directory => {}
        _ => return Ok(()),
    }
    for home in ns.children(&homes).await? {
        if home.kind != FileKind::Directory {
            continue;
        }
        let root = home.path.join(names::TRASH_DIR)?;
        let trash = Trash::new(ns, root.clone(), interval)?;
        match trash.expunge(now_ms).await {
            Ok(done) => {
                for deleted in &done.deleted {
                    tracing::info!(checkpoint = %deleted, "deleted trash checkpoint");
                }
                if let Some(created) = &done.created {
                    tracing::info!(checkpoint = %created, "created trash checkpoint");
                }
            }
            Err(e) => log_failure(root.as_str(), &e),
        }
    }
    Ok(())
}

/// Safe mode refuses every change for a while after a start: not worth a warning.
fn log_failure(what: &str, e: &Error) {
    match e.kind {
        ErrorKind::SafeMode => tracing::debug!(%what, "trash emptier waits for safe mode: {e}"),
        _ => tracing::warn!(%what, "trash emptier: {e}"),
    }
}
