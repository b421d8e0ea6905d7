//! Group commit. A mutation stages its records and waits until a commit that started after
//! it has made them durable. One flusher thread serves everyone: while it appends to the
//! journal and syncs, new mutations pile up and the next commit, which starts the moment the
//! sync returns, covers them all; concurrent mutations share one journal record and one
//! `fdatasync` instead of paying one each. (A thread of its own, rather than a task handing
//! each commit to the blocking pool, saves two thread hand-offs per commit.) A checkpointer
//! brings sled up to date every `checkpoint_interval` and whenever a journal segment fills, so
//! the journal stays short.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use granary_client::{Error, ErrorKind};
use tokio::sync::{watch, Notify};

use super::store::Store;

#[derive(Clone, Copy, Debug, Default)]
struct FlushState {
    /// Every epoch up to this one is durable.
    flushed: u64,
    /// Commits failed for every epoch up to this one (`u64::MAX` once broken).
    failed_through: u64,
}

pub struct GroupCommit {
    store: Store,
    /// The flusher thread, unparked when something is staged.
    flusher: OnceLock<Thread>,
    /// Tells the flusher thread to exit.
    stop: AtomicBool,
    /// Runs a checkpoint before the next tick (a commit asked for one).
    checkpoint_wake: Notify,
    state: watch::Sender<FlushState>,
    /// Completed flushes, to report how well commits were grouped.
    flushes: AtomicU64,
    /// Set when a commit failed: memory is ahead of the journal (or sled behind it), so every
    /// later mutation is refused until a restart reloads the namespace from disk.
    broken: AtomicBool,
}

impl GroupCommit {
    pub fn new(store: Store) -> Arc<Self> {
        Arc::new(GroupCommit {
            store,
            flusher: OnceLock::new(),
            stop: AtomicBool::new(false),
            checkpoint_wake: Notify::new(),
            state: watch::Sender::new(FlushState::default()),
            flushes: AtomicU64::new(0),
            broken: AtomicBool::new(false),
        })
    }

    /// Tells the flusher that something was staged.
    pub fn staged(&self) {
        if let Some(flusher) = self.flusher.get() {
            flusher.unpark();
        }
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

    /// Runs the flusher thread until this task is aborted (or the store fails).
    pub async fn run_flusher(self: Arc<Self>) {
        let this = self.clone();
        let thread = std::thread::Builder::new()
            .name("granary-flusher".into())
            .spawn(move || this.flush_loop());
        let thread = match thread {
            Ok(thread) => thread,
            Err(e) => {
                self.mark_broken(&format!("cannot start the flusher thread: {e}"));
                return;
            }
        };
        // Stops and joins the thread when this task ends (it is aborted at shutdown).
        struct Stop(Arc<GroupCommit>, Option<std::thread::JoinHandle<()>>);
        impl Drop for Stop {
            fn drop(&mut self) {
                self.0.stop.store(true, Ordering::Release);
                if let Some(thread) = self.1.take() {
                    thread.thread().unpark();
                    let _ = thread.join();
                }
            }
        }
        let _stop = Stop(self, Some(thread));
        std::future::pending::<()>().await;
    }

    fn flush_loop(self: Arc<Self>) {
        let _ = self.flusher.set(std::thread::current());
        let mut flushed = self.state.borrow().flushed;
        while !self.stop.load(Ordering::Acquire) {
            if self.latest() == flushed {
                // An unpark between the check and here makes this return at once.
                std::thread::park();
                continue;
            }
            let committed = self
                .store
                .commit(|epoch| self.state.send_modify(|s| s.flushed = epoch));
            match committed {
                Ok(committed) => {
                    self.flushes.fetch_add(1, Ordering::Relaxed);
                    flushed = committed.epoch;
                    if committed.checkpoint_due {
                        self.checkpoint_wake.notify_one();
                    }
                }
                Err(e) => {
                    self.mark_broken(&e.message);
                    return;
                }
            }
        }
    }

    /// Checkpoints every `interval`, and when a commit asks for one; runs until its task is
    /// aborted. A failed checkpoint is retried next time; meanwhile the journal keeps
    /// everything.
    pub async fn run_checkpointer(self: Arc<Self>, interval: Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = self.checkpoint_wake.notified() => {}
            }
            let store = self.store.clone();
            match tokio::task::spawn_blocking(move || store.checkpoint()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("metadata checkpoint failed: {}", e.message),
                Err(e) => tracing::warn!("metadata checkpoint task failed: {e}"),
            }
        }
    }
}
