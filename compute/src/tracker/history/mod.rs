//! The job history: each job's last persisted status, in a sled database of its own
//! (`<meta_dir>/jobs`, apart from the namespace's), so `job status` and `job list` survive a
//! namenode restart. A job is written at submission, at each phase change and at its end, never
//! on progress ticks. Writes are group-committed off the tracker's lock (`writer`).

mod writer;

use std::path::Path;

use granary_client::protocol::{JobId, JobPhase, JobState, JobStatus};
use granary_client::{Error, ErrorKind, RequestId};
use serde::{Deserialize, Serialize};

pub use writer::HistoryWriter;

/// Why a job that was running when the namenode stopped is failed at the next start: its
/// attempts' state lived only in memory.
pub const INTERRUPTED: &str =
    "the namenode restarted while the job was running; partial output removed";

/// A job as the history keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub status: JobStatus,
    /// The submission's request id: a retried submission gets this job back.
    pub request_id: RequestId,
    /// The job failed or was killed and its output directory is not deleted yet.
    #[serde(default)]
    pub cleanup_pending: bool,
}

/// A change the tracker's state asks the history to make.
#[derive(Clone, Debug, PartialEq)]
pub enum HistoryChange {
    /// Boxed: a record is far larger than an id.
    Save(Box<JobRecord>),
    Remove(JobId),
}

/// Where the history's changes land: sled in the namenode; tests put a failing one in its place.
pub trait HistoryStore: Send + 'static {
    /// Applies `changes` in order and makes them durable, with one flush.
    fn write(&mut self, changes: &[HistoryChange]) -> Result<(), Error>;
}

/// The job history: loaded at start-up, then written by group commit ([`HistoryWriter`]).
pub struct History {
    writer: HistoryWriter,
}

impl History {
    /// Opens (or creates) the history in `dir` and loads every record. Jobs that were running
    /// are marked failed, with their output to be removed, and saved so before this returns.
    pub fn open(dir: &Path, now_ms: u64) -> Result<(History, Vec<JobRecord>), Error> {
        let db = sled::Config::new()
            .path(dir)
            .open()
            .map_err(|e| store_error(&format!("cannot open {}", dir.display()), e))?;
        let mut store = SledHistory { db };
        let mut records = Vec::new();
        let mut interrupted = Vec::new();
        for item in store.db.iter() {
            let (key, value) = item.map_err(|e| store_error("reading the job history", e))?;
            match serde_json::from_slice::<JobRecord>(&value) {
                Ok(mut record) => {
                    if mark_interrupted(&mut record, now_ms) {
                        tracing::warn!(job = %record.status.id, "{INTERRUPTED}");
                        interrupted.push(HistoryChange::Save(Box::new(record.clone())));
                    }
                    records.push(record);
                }
                Err(e) => tracing::warn!(
                    key = %String::from_utf8_lossy(&key),
                    "skipping an unreadable job record: {e}"
                ),
            }
        }
        if !interrupted.is_empty() {
            store.write(&interrupted)?;
        }
        Ok((History::with_store(Box::new(store))?, records))
    }

    /// A history writing to `store` (already loaded by the caller).
    pub fn with_store(store: Box<dyn HistoryStore>) -> Result<History, Error> {
        Ok(History {
            writer: HistoryWriter::start(store)?,
        })
    }

    /// Queues changes in the order they happened; see [`HistoryWriter::queue`].
    pub fn queue(&self, changes: Vec<HistoryChange>) -> u64 {
        self.writer.queue(changes)
    }

    /// Waits until the change with this ticket (and every one before it) is on disk.
    pub async fn wait_durable(&self, ticket: u64) -> Result<(), Error> {
        self.writer.wait_durable(ticket).await
    }

    /// The error every job change gets once a history write failed.
    pub fn broken(&self) -> Option<Error> {
        self.writer.broken()
    }
}

/// The history in its own sled database: one JSON [`JobRecord`] per job id.
struct SledHistory {
    db: sled::Db,
}

impl HistoryStore for SledHistory {
    fn write(&mut self, changes: &[HistoryChange]) -> Result<(), Error> {
        for change in changes {
            match change {
                HistoryChange::Save(record) => {
                    let value = serde_json::to_vec(record)
                        .map_err(|e| Error::internal(format!("encoding a job record: {e}")))?;
                    self.db
                        .insert(record.status.id.0.as_bytes(), value)
                        .map_err(|e| store_error("saving a job record", e))?;
                }
                HistoryChange::Remove(id) => {
                    self.db
                        .remove(id.0.as_bytes())
                        .map_err(|e| store_error("removing a job record", e))?;
                }
            }
        }
        self.db
            .flush()
            .map(|_| ())
            .map_err(|e| store_error("flushing the job history", e))
    }
}

/// Fails a job that was running when the namenode stopped; true if it was.
pub fn mark_interrupted(record: &mut JobRecord, now_ms: u64) -> bool {
    if record.status.state != JobState::Running {
        return false;
    }
    let status = &mut record.status;
    status.state = JobState::Failed;
    status.phase = JobPhase::Done;
    status.error = Some(INTERRUPTED.to_string());
    status.finished_ms = Some(now_ms.max(status.submitted_ms));
    status.counters.total_ms = now_ms.saturating_sub(status.submitted_ms);
    record.cleanup_pending = true;
    true
}

fn store_error(context: &str, e: sled::Error) -> Error {
    Error::new(ErrorKind::Io, format!("job history: {context}: {e}"))
}

#[cfg(test)]
mod tests {
    use granary_client::protocol::{Builtin, JobCounters, JobProgram, JobSpec};
    use granary_client::FsPath;

    use super::*;

    fn record(id: &str, state: JobState) -> JobRecord {
        let output = FsPath::parse("/out").unwrap();
        JobRecord {
            status: JobStatus {
                id: JobId(id.into()),
                state,
                phase: JobPhase::Map,
                spec: JobSpec::new(
                    vec!["/in".into()],
                    output.clone(),
                    JobProgram::Builtin(Builtin::Wordcount),
                ),
                output,
                maps_total: 2,
                maps_done: 1,
                reduces_total: 1,
                reduces_done: 0,
                error: None,
                submitted_ms: 1_000,
                finished_ms: None,
                counters: JobCounters::default(),
            },
            request_id: RequestId(format!("req-{id}")),
            cleanup_pending: false,
        }
    }

    /// Opens a history just closed. sled releases its directory lock from a background thread
    /// after the last handle is dropped, so an immediate reopen may briefly find it held.
    fn reopen(dir: &Path, now_ms: u64) -> (History, Vec<JobRecord>) {
        let mut last = None;
        for _ in 0..100 {
            match History::open(dir, now_ms) {
                Ok(opened) => return opened,
                Err(e) => last = Some(e),
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("history did not reopen: {last:?}");
    }

    /// Writes `changes` and waits until they are on disk.
    async fn write(history: &History, changes: Vec<HistoryChange>) {
        let ticket = history.queue(changes);
        history.wait_durable(ticket).await.unwrap();
    }

    #[tokio::test]
    async fn a_restart_fails_running_jobs_and_keeps_finished_ones() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (history, loaded) = History::open(dir.path(), 0).unwrap();
            assert!(loaded.is_empty());
            let running = record("job_1_0001", JobState::Running);
            let mut done = record("job_1_0002", JobState::Succeeded);
            done.status.phase = JobPhase::Done;
            let saves = [running, done].map(|r| HistoryChange::Save(Box::new(r)));
            write(&history, saves.to_vec()).await;
        }
        let (_history, loaded) = reopen(dir.path(), 5_000);
        assert_eq!(loaded.len(), 2);
        let failed = loaded
            .iter()
            .find(|r| r.status.id.0 == "job_1_0001")
            .unwrap();
        assert_eq!(failed.status.state, JobState::Failed);
        assert_eq!(failed.status.phase, JobPhase::Done);
        assert_eq!(failed.status.error.as_deref(), Some(INTERRUPTED));
        assert_eq!(failed.status.finished_ms, Some(5_000));
        assert!(failed.cleanup_pending);
        let done = loaded
            .iter()
            .find(|r| r.status.id.0 == "job_1_0002")
            .unwrap();
        assert_eq!(done.status.state, JobState::Succeeded);
        assert!(!done.cleanup_pending);
    }

    #[tokio::test]
    async fn removed_records_stay_removed() {
        let dir = tempfile::tempdir().unwrap();
        let (history, _) = History::open(dir.path(), 0).unwrap();
        let killed = record("job_1_0001", JobState::Killed);
        write(&history, vec![HistoryChange::Save(Box::new(killed))]).await;
        write(
            &history,
            vec![HistoryChange::Remove(JobId("job_1_0001".into()))],
        )
        .await;
        drop(history);
        let (_history, loaded) = reopen(dir.path(), 0);
        assert!(loaded.is_empty());
    }
}
