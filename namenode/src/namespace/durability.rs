//! Group commit. A mutation stages its records and waits until a flush that started after
//! it has finished. One background flusher serves everyone: while it writes and fsyncs, new
//! mutations pile up and the next flush covers them all, so concurrent mutations share one
//! `apply_batch` and one fsync instead of paying one each.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use granary_client::{Error, ErrorKind};
use tokio::sync::{watch, Notify};

use super::store::Store;

/// Scheduler rounds the flusher waits for more mutations before flushing.
const GATHER_ROUNDS: usize = 8;

#[derive(Clone, Copy, Debug, Default)]
struct FlushState {
    /// Every epoch up to this one is durable.
    flushed: u64,
    /// The last flush attempt covering epochs up to this one failed.
    failed_through: u64,
}

pub struct GroupCommit {
    store: Store,
    wake: Notify,
    state: watch::Sender<FlushState>,
    /// Completed flushes, to report how well commits were grouped.
    flushes: AtomicU64,
    /// Set when staged changes could not be written: memory is ahead of disk, so every later
    /// mutation is refused until a restart reloads the namespace from disk.
    broken: AtomicBool,
}

/// Why a flush failed.
enum FlushError {
    /// The staged batch could not be applied; it is lost.
    Write(Error),
    /// The batch was applied but not synced; a later flush may still make it durable.
    Sync(Error, u64),
}

impl GroupCommit {
    pub fn new(store: Store) -> Arc<Self> {
        Arc::new(GroupCommit {
            store,
            wake: Notify::new(),
            state: watch::Sender::new(FlushState::default()),
            flushes: AtomicU64::new(0),
            broken: AtomicBool::new(false),
        })
    }

    /// Tells the flusher that something was staged.
    pub fn staged(&self) {
        self.wake.notify_one();
    }

    /// The latest epoch staged so far (for answers that depend on earlier writes).
    pub fn latest(&self) -> u64 {
        self.store.staged_epoch()
    }

    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }

    /// Refuses every later mutation, and fails every waiter.
    pub fn mark_broken(&self, reason: &str) {
        if !self.broken.swap(true, Ordering::AcqRel) {
            tracing::error!(
                "metadata store failed, refusing further changes until a restart: {reason}"
            );
        }
        self.state.send_modify(|s| s.failed_through = u64::MAX);
    }

    /// `(mutations staged, flushes done)` since start-up.
    pub fn stats(&self) -> (u64, u64) {
        (self.latest(), self.flushes.load(Ordering::Relaxed))
    }

    /// Waits until everything up to `epoch` is on disk.
    pub async fn wait_durable(&self, epoch: u64) -> Result<(), Error> {
        if self.state.borrow().flushed >= epoch {
            return Ok(());
        }
        let mut rx = self.state.subscribe();
        let state = *rx
            .wait_for(|s| s.flushed >= epoch || s.failed_through >= epoch)
            .await
            .map_err(|_| Error::new(ErrorKind::Unavailable, "the namenode is shutting down"))?;
        if state.flushed >= epoch {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Io,
                "could not make the change durable: metadata flush failed (see the namenode log)",
            ))
        }
    }

    /// The flusher loop; runs until its task is aborted.
    pub async fn run_flusher(self: Arc<Self>) {
        let mut flushed = 0;
        loop {
            let mut target = self.latest();
            if target == flushed {
                self.wake.notified().await;
                continue;
            }
            // Let the requests that are already running reach their commit first: one flush
            // then covers them too. Stops as soon as a round adds nothing.
            for _ in 0..GATHER_ROUNDS {
                tokio::task::yield_now().await;
                let now = self.latest();
                if now == target {
                    break;
                }
                target = now;
            }
            let store = self.store.clone();
            let write_and_sync = move || {
                let covered = store.write_staged().map_err(FlushError::Write)?;
                store.flush().map_err(|e| FlushError::Sync(e, covered))?;
                Ok(covered)
            };
            let result = match tokio::task::spawn_blocking(write_and_sync).await {
                Ok(result) => result,
                Err(e) => Err(FlushError::Write(Error::internal(format!(
                    "flush task failed: {e}"
                )))),
            };
            match result {
                Ok(covered) => {
                    self.flushes.fetch_add(1, Ordering::Relaxed);
                    flushed = covered;
                    self.state.send_modify(|s| s.flushed = covered);
                }
                Err(FlushError::Write(e)) => {
                    self.mark_broken(&e.message);
                    return;
                }
                Err(FlushError::Sync(e, covered)) => {
                    tracing::error!(epoch = covered, "metadata flush failed: {}", e.message);
                    self.state.send_modify(|s| s.failed_through = covered);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}
