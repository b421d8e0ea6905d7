//! The job tracker: runs inside the namenode. It validates and plans submitted jobs, hands
//! attempts to polling executors (delay scheduling for locality), retries failed attempts,
//! commits the winners' output and keeps the job history.
//!
//! [`JobTracker`] is an async shell around a pure state machine (`state`), guarded by one
//! mutex that is never held across an `.await`. The shell talks to the namespace as any client
//! does, through a [`Granary`] pointed at the namenode's own address: planning lists and locates
//! the input, commits rename part files, cleanups delete. History changes the state records
//! are written to sled under the same lock, so they land in the order they happened.

mod config;
mod history;
mod output;
mod plan;
mod state;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use granary_client::protocol::{
    ExecutorPoll, ExecutorPollResponse, JobId, JobList, JobStatus, SubmitJobRequest, TaskReport,
};
use granary_client::{DatanodeId, Error, Granary};

pub use config::{
    TrackerConfig, MAX_LOCALITY_WAIT, MAX_REDUCERS, MAX_SORT_BUFFER, MIN_SORT_BUFFER,
};
pub use history::INTERRUPTED;

use history::History;
use state::{NewJob, OutputWork, TrackerState};

/// How often the background pass looks for lost executors and stragglers and retries
/// namespace work that failed.
const TICK: Duration = Duration::from_millis(500);
/// Rounds of a job's output work done inline by a report or a kill: a commit, then the
/// finalization it may enable. Anything left is retried by [`JobTracker::run`].
const INLINE_WORK_ROUNDS: usize = 2;

pub struct JobTracker {
    state: Mutex<TrackerState>,
    history: History,
    fs: Granary,
    config: TrackerConfig,
}

impl JobTracker {
    /// Opens the history in `history_dir` (jobs that were running are marked failed; their
    /// output is deleted by [`JobTracker::run`]) and connects to the namenode at `namenode_url`.
    pub fn open(
        history_dir: &Path,
        namenode_url: &str,
        config: TrackerConfig,
    ) -> Result<Arc<Self>, Error> {
        let start_ms = now_ms();
        let (history, records) = History::open(history_dir, start_ms)?;
        let fs = Granary::connect(namenode_url)?;
        let state = TrackerState::new(config.clone(), start_ms, records);
        let tracker = JobTracker {
            state: Mutex::new(state),
            history,
            fs,
            config,
        };
        // Evictions decided while loading are written at once.
        tracker.with_state(|_| ());
        Ok(Arc::new(tracker))
    }

    /// Validates, plans and starts a job. Nothing is created before the whole spec, the output
    /// and the inputs have been checked.
    pub async fn submit(&self, req: SubmitJobRequest) -> Result<JobStatus, Error> {
        if let Some(status) = self.with_state(|s| s.by_request(&req.request_id, Instant::now())) {
            return Ok(status);
        }
        let settings = plan::validate(&req.spec, &self.config)?;
        let live = self.with_state(|s| s.live_executors(Instant::now()));
        let plan = plan::plan(&self.fs, &req.spec, settings, live).await?;
        self.fs
            .mkdir(&req.spec.output.join("_temporary")?, true)
            .await?;
        let new = NewJob {
            request_id: req.request_id,
            spec: req.spec,
            plan,
            submitted_ms: now_ms(),
        };
        let job = self.with_state(|s| s.register(new, Instant::now()))?;
        // A job with nothing to compute may already be done.
        self.perform_output_work(Some(&job.id), INLINE_WORK_ROUNDS)
            .await;
        self.status(&job.id)
    }

    pub fn status(&self, id: &JobId) -> Result<JobStatus, Error> {
        self.with_state(|s| s.status(id, Instant::now()))
    }

    /// Every job the tracker knows, newest first.
    pub fn list(&self) -> JobList {
        self.with_state(|s| s.list(Instant::now()))
    }

    /// Kills a running job and deletes its output; a finished job is left as it is.
    pub async fn kill(&self, id: &JobId) -> Result<JobStatus, Error> {
        self.with_state(|s| s.kill(id, Instant::now()))?;
        self.perform_output_work(Some(id), 1).await;
        self.status(id)
    }

    /// An executor's poll: progress in, attempts to launch and to kill out.
    pub fn poll(&self, poll: ExecutorPoll) -> ExecutorPollResponse {
        self.with_state(|s| s.poll(poll, Instant::now()))
    }

    /// An executor's report of a finished attempt. A winning reduce (or map of a map-only job)
    /// is committed before this returns, and so is the job's output when it was the last.
    pub async fn report(&self, report: TaskReport) -> Result<(), Error> {
        let job = report.job.clone();
        self.with_state(|s| s.report(report, Instant::now()));
        self.perform_output_work(Some(&job), INLINE_WORK_ROUNDS)
            .await;
        Ok(())
    }

    /// The namenode declared this datanode dead (its lifeline broke, or it missed heartbeats):
    /// its executor's attempts and the map output it held are re-run at once.
    pub fn executor_died(&self, datanode: &DatanodeId) {
        self.with_state(|s| s.executor_died(datanode, Instant::now()));
    }

    /// Whether any attempt is running (the namenode paces non-urgent healing meanwhile).
    pub fn has_running_tasks(&self) -> bool {
        self.lock().has_running_attempts()
    }

    /// The background pass, every [`TICK`]: lost executors, stragglers, and namespace work that
    /// failed before (e.g. while the namenode was in safe mode).
    pub async fn run(self: Arc<Self>) {
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            self.with_state(|s| s.tick(Instant::now()));
            self.perform_output_work(None, 1).await;
        }
    }

    /// Makes the history durable (at shutdown).
    pub fn flush(&self) -> Result<(), Error> {
        self.history.flush()
    }

    /// Runs `f` on the state under the lock, then writes the history changes it recorded.
    fn with_state<T>(&self, f: impl FnOnce(&mut TrackerState) -> T) -> T {
        let mut state = self.lock();
        let out = f(&mut state);
        for change in state.take_history_changes() {
            if let Err(e) = self.history.apply(&change) {
                tracing::error!("job history not updated: {e}");
            }
        }
        out
    }

    fn lock(&self) -> MutexGuard<'_, TrackerState> {
        granary_client::sync::lock(&self.state, "job tracker")
    }

    /// Performs output work (of one job, or all) for up to `rounds` rounds; each round's
    /// results may enable more (a last commit enables the finalization).
    async fn perform_output_work(&self, only: Option<&JobId>, rounds: usize) {
        for _ in 0..rounds {
            let work = self.with_state(|s| s.take_output_work(only, Instant::now()));
            if work.is_empty() {
                return;
            }
            let mut batch = WorkBatch {
                tracker: self,
                items: work,
            };
            while let Some(item) = batch.items.last().cloned() {
                let result = output::perform(&self.fs, &item).await;
                batch.items.pop();
                self.with_state(|s| s.output_work_finished(&item, result, Instant::now()));
            }
        }
    }
}

/// Output work taken from the state and not finished yet. A request handler performing it may
/// be dropped mid-way (its client disconnected); what is left then goes back to the state, so
/// the background pass does it.
struct WorkBatch<'a> {
    tracker: &'a JobTracker,
    items: Vec<OutputWork>,
}

impl Drop for WorkBatch<'_> {
    fn drop(&mut self) {
        if self.items.is_empty() {
            return;
        }
        let items = std::mem::take(&mut self.items);
        self.tracker.with_state(|s| {
            for item in &items {
                s.output_work_abandoned(item);
            }
        });
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
