//! Group commit of the job history, as the namespace's `durability` does it for the journal.
//! The tracker queues each batch of history changes under its state lock (so they are queued
//! in the order they happened) and gets a ticket; one writer thread takes everything queued,
//! applies it to the store in order, makes it durable with one flush, and then wakes every
//! waiter whose ticket the flush covered. Callers await their ticket outside the lock, so no
//! request waits on an fsync while holding it, and concurrent changes share one flush.
//!
//! A failed write breaks the history for good: what is in memory is then ahead of the disk, so
//! every waiter of that batch and of any later one gets an error, and nothing more is written
//! (a later change may build on a lost one). A restart reloads the history from disk.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{JoinHandle, Thread};

use granary_client::{Error, ErrorKind};
use tokio::sync::watch;

use super::{HistoryChange, HistoryStore};

#[derive(Clone, Debug, Default)]
struct Durability {
    /// Every ticket up to this one is on disk.
    durable: u64,
    /// Why the history broke; every ticket not durable by then fails.
    broken: Option<String>,
}

#[derive(Default)]
struct Queue {
    changes: Vec<HistoryChange>,
    /// The ticket of the last change queued.
    last: u64,
}

struct Shared {
    queue: Mutex<Queue>,
    state: watch::Sender<Durability>,
    /// The writer thread, unparked when something is queued.
    writer: OnceLock<Thread>,
    stop: AtomicBool,
}

/// The queue and its writer thread; dropping it writes what is queued and stops the thread.
pub struct HistoryWriter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl HistoryWriter {
    pub fn start(store: Box<dyn HistoryStore>) -> Result<Self, Error> {
        let shared = Arc::new(Shared {
            queue: Mutex::default(),
            state: watch::Sender::new(Durability::default()),
            writer: OnceLock::new(),
            stop: AtomicBool::new(false),
        });
        let for_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("granary-job-history".into())
            .spawn(move || write_loop(&for_thread, store))
            .map_err(|e| Error::io("cannot start the job history writer", e))?;
        Ok(HistoryWriter {
            shared,
            thread: Some(thread),
        })
    }

    /// Queues `changes` (in order, after everything queued before) and returns the ticket to
    /// wait for. No changes: the ticket of the last change queued, so an answer that depends on
    /// earlier changes waits for them too.
    pub fn queue(&self, changes: Vec<HistoryChange>) -> u64 {
        let mut queue = granary_client::sync::lock(&self.shared.queue, "job history queue");
        if changes.is_empty() {
            return queue.last;
        }
        queue.last += changes.len() as u64;
        queue.changes.extend(changes);
        let ticket = queue.last;
        drop(queue);
        if let Some(writer) = self.shared.writer.get() {
            writer.unpark();
        }
        ticket
    }

    /// Waits until everything up to `ticket` is on disk; an error if it never will be.
    pub async fn wait_durable(&self, ticket: u64) -> Result<(), Error> {
        let mut rx = self.shared.state.subscribe();
        let state = rx
            .wait_for(|s| s.durable >= ticket || s.broken.is_some())
            .await
            .map_err(|_| Error::new(ErrorKind::Unavailable, "the job history is closed"))?
            .clone();
        match state.broken {
            Some(reason) if state.durable < ticket => Err(broken_error(&reason)),
            _ => Ok(()),
        }
    }

    /// The error every change gets once the history broke.
    pub fn broken(&self) -> Option<Error> {
        self.shared
            .state
            .borrow()
            .broken
            .as_deref()
            .map(broken_error)
    }
}

impl Drop for HistoryWriter {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

fn broken_error(reason: &str) -> Error {
    Error::new(
        ErrorKind::Io,
        format!("the job history could not be written ({reason}); restart the namenode"),
    )
}

/// Breaks the history if the writer thread unwinds: its waiters would otherwise wait forever
/// for a flush that never comes.
struct BreakOnPanic<'a>(&'a Shared);

impl Drop for BreakOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0
                .state
                .send_modify(|s| s.broken = Some("the history writer thread panicked".into()));
        }
    }
}

fn write_loop(shared: &Shared, mut store: Box<dyn HistoryStore>) {
    let _ = shared.writer.set(std::thread::current());
    let _guard = BreakOnPanic(shared);
    loop {
        let (changes, through) = {
            let mut queue = granary_client::sync::lock(&shared.queue, "job history queue");
            (std::mem::take(&mut queue.changes), queue.last)
        };
        if changes.is_empty() {
            if shared.stop.load(Ordering::Acquire) {
                return;
            }
            // An unpark between the check and here makes this return at once.
            std::thread::park();
            continue;
        }
        if shared.state.borrow().broken.is_some() {
            continue;
        }
        match store.write(&changes) {
            Ok(()) => shared.state.send_modify(|s| s.durable = through),
            Err(e) => {
                tracing::error!(
                    "job history write failed; refusing job changes until a restart: {e}"
                );
                shared
                    .state
                    .send_modify(|s| s.broken = Some(e.message.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use granary_client::protocol::JobId;

    use super::*;

    /// Records each batch it is given; fails once `fail` is set.
    struct Recording {
        batches: mpsc::Sender<Vec<HistoryChange>>,
        fail: Arc<AtomicBool>,
    }

    impl HistoryStore for Recording {
        fn write(&mut self, changes: &[HistoryChange]) -> Result<(), Error> {
            if self.fail.load(Ordering::Acquire) {
                return Err(Error::new(ErrorKind::Io, "disk full"));
            }
            let _ = self.batches.send(changes.to_vec());
            Ok(())
        }
    }

    fn remove(id: &str) -> HistoryChange {
        HistoryChange::Remove(JobId(id.into()))
    }

    #[tokio::test]
    async fn changes_are_written_in_order_and_failures_break_every_later_ticket() {
        let (tx, rx) = mpsc::channel();
        let fail = Arc::new(AtomicBool::new(false));
        let store = Recording {
            batches: tx,
            fail: Arc::clone(&fail),
        };
        let writer = HistoryWriter::start(Box::new(store)).unwrap();
        assert_eq!(writer.queue(Vec::new()), 0, "nothing queued yet");
        writer.wait_durable(0).await.unwrap();
        let first = writer.queue(vec![remove("job_1_0001"), remove("job_1_0002")]);
        let second = writer.queue(vec![remove("job_1_0003")]);
        assert_eq!((first, second), (2, 3));
        writer.wait_durable(second).await.unwrap();
        writer.wait_durable(first).await.unwrap();
        let written: Vec<HistoryChange> = rx.try_iter().flatten().collect();
        let ids = ["job_1_0001", "job_1_0002", "job_1_0003"];
        assert_eq!(written, ids.map(remove));
        assert!(writer.broken().is_none());

        fail.store(true, Ordering::Release);
        let failed = writer.queue(vec![remove("job_1_0004")]);
        let err = writer.wait_durable(failed).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Io);
        assert!(err.message.contains("disk full"), "{}", err.message);
        fail.store(false, Ordering::Release);
        let later = writer.queue(vec![remove("job_1_0005")]);
        assert!(writer.wait_durable(later).await.is_err(), "broken for good");
        assert!(writer.broken().is_some());
        writer.wait_durable(second).await.unwrap();
        drop(writer);
        assert!(rx.try_iter().next().is_none(), "nothing after the failure");
    }

    struct Panicking;

    impl HistoryStore for Panicking {
        fn write(&mut self, _: &[HistoryChange]) -> Result<(), Error> {
            panic!("a bug in the store");
        }
    }

    #[tokio::test]
    async fn a_writer_thread_that_panics_breaks_the_history_instead_of_hanging_waiters() {
        let writer = HistoryWriter::start(Box::new(Panicking)).unwrap();
        let ticket = writer.queue(vec![remove("job_1_0001")]);
        let waited = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            writer.wait_durable(ticket),
        )
        .await
        .expect("the waiter is answered");
        let err = waited.unwrap_err();
        assert!(err.message.contains("panicked"), "{}", err.message);
        assert!(writer.broken().is_some());
    }
}
