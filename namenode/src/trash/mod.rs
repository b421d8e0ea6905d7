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

use self::namespace::NamesystemTrash;
use crate::namesystem::Namesystem;

/// Runs the emptier every `period`, at the multiples of `period` since the Unix epoch (as
/// HDFS's emptier), so a namenode restarted more often than `period` still empties its trash,
/// until the task is aborted with the namenode.
pub async fn run_emptier(namesystem: Arc<Namesystem>, period: Duration, interval: Duration) {
    let ns = NamesystemTrash::new(namesystem);
    tracing::info!(?period, ?interval, "trash emptier running");
    loop {
        tokio::time::sleep(until_next_multiple(names::now_ms(), period)).await;
        if let Err(e) = empty_every_trash(&ns, interval, names::now_ms()).await {
            log_failure(names::HOME_ROOT, &e);
        }
    }
}

/// The time from `now_ms` to the next multiple of `period` since the epoch (a whole period
/// when `now_ms` is one).
fn until_next_multiple(now_ms: u64, period: Duration) -> Duration {
    let period_ms = u64::try_from(period.as_millis()).unwrap_or(u64::MAX).max(1);
    Duration::from_millis(period_ms - now_ms % period_ms)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_fall_on_multiples_of_the_period() {
        let hour = Duration::from_secs(3600);
        assert_eq!(
            until_next_multiple(7_200_000 + 1_000, hour),
            hour - Duration::from_secs(1)
        );
        assert_eq!(until_next_multiple(7_200_000, hour), hour);
        assert_eq!(
            until_next_multiple(1_500, Duration::from_secs(1)),
            Duration::from_millis(500)
        );
    }
}
