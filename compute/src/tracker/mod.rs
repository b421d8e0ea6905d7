//! The job tracker: runs inside the namenode. It validates and plans submitted jobs, hands
//! attempts to polling executors (delay scheduling for locality), retries failed attempts,
//! commits the winners' output and keeps the job history.
//!
//! [`JobTracker`] is an async shell around a pure state machine (`state`), guarded by one
//! mutex that is never held across an `.await`. The shell reaches the namespace it runs next
//! to in process, through [`TrackerNamespace`]: planning lists and locates the input, commits
//! rename part files, cleanups delete. Facts of the namespace (a datanode died, safe mode
//! ended) arrive as [`NamespaceEvent`]s.
//!
//! Durability: the history changes a state transition records are queued under the lock, in
//! the order they happened, and group-committed by the history's writer thread (`history`).
//! Every operation that changes something waits, outside the lock, until what it did (and
//! everything before it) is on disk, and answers an error if that write failed:
//! - submit, kill and report answer only once the job's record is durable;
//! - a poll hands out its launches only once the phase changes it made are durable; if the
//!   write failed it answers an error, the executor never starts them, and they are lost
//!   (re-queued) like any attempt missing from the next poll;
//! - namespace work (commits, `_SUCCESS`, cleanups) is performed only once the state it
//!   follows from (a task's win, the commit phase, a job's end) is durable;
//! - the background pass (lost executors, stragglers, jobs ending) acknowledges nobody, but
//!   waits for its changes too, and does no namespace work when they failed.
//!
//! A failed history write breaks the history for good (memory is ahead of disk): every later
//! change is refused until the namenode restarts and reloads the history from disk, where a
//! job whose submission never became durable does not exist. Reads (`status`, `list`) answer
//! from memory, which is ahead of the disk by at most the writes in flight.

mod config;
mod history;
pub mod namespace;
mod output;
mod plan;
mod state;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use granary_client::protocol::{
    ExecutorPoll, ExecutorPollResponse, JobId, JobList, JobStatus, SubmitJobRequest, TaskReport,
};
use granary_client::{DatanodeId, Error, FsPath};
use tokio::sync::{mpsc, watch};

pub use config::{
    TrackerConfig, MAX_LOCALITY_WAIT, MAX_REDUCERS, MAX_SORT_BUFFER, MIN_SORT_BUFFER,
};
pub use history::INTERRUPTED;
pub use namespace::{ListPage, NamespaceEvent, NsFuture, TrackerNamespace};

use history::{History, JobRecord};
use state::{NewJob, OutputWork, TrackerState};

/// Rounds of output work done at once by a report, a submission or the end of safe mode: a
/// commit, then the finalization it may enable. Anything left is retried by the next tick.
const INLINE_WORK_ROUNDS: usize = 2;

pub struct JobTracker {
    state: Mutex<TrackerState>,
    history: History,
    ns: Arc<dyn TrackerNamespace>,
    config: TrackerConfig,
    /// Whether any attempt runs; the namenode paces non-urgent healing meanwhile.
    attempts_running: watch::Sender<bool>,
}

impl JobTracker {
    /// Opens the history in `history_dir` (jobs that were running are marked failed; their
    /// output is deleted by [`JobTracker::run`]); the namespace is reached through `ns`.
    pub fn open(
        history_dir: &Path,
        ns: Arc<dyn TrackerNamespace>,
        config: TrackerConfig,
    ) -> Result<Arc<Self>, Error> {
        let start_ms = now_ms();
        let (history, records) = History::open(history_dir, start_ms)?;
        Ok(Self::with_history(history, records, ns, config, start_ms))
    }

    fn with_history(
        history: History,
        records: Vec<JobRecord>,
        ns: Arc<dyn TrackerNamespace>,
        config: TrackerConfig,
        start_ms: u64,
    ) -> Arc<Self> {
        let state = TrackerState::new(config.clone(), start_ms, records);
        let tracker = JobTracker {
            state: Mutex::new(state),
            history,
            ns,
            config,
            attempts_running: watch::Sender::new(false),
        };
        // Evictions decided while loading are queued at once.
        tracker.locked(|_| ());
        Arc::new(tracker)
    }

    /// Validates, plans and starts a job. Nothing is created before the whole spec, the output
    /// and the inputs have been checked; the answer comes once the job is durable.
    pub async fn submit(&self, req: SubmitJobRequest) -> Result<JobStatus, Error> {
        if let Some(e) = self.history.broken() {
            return Err(e);
        }
        let (known, ticket) = self.locked(|s| s.by_request(&req.request_id, Instant::now()));
        if let Some(status) = known {
            self.history.wait_durable(ticket).await?;
            return Ok(status);
        }
        let settings = plan::validate(&req.spec, &self.config)?;
        let (live, _) = self.locked(|s| s.live_executors(Instant::now()));
        let plan = plan::plan(&*self.ns, &req.spec, settings, live).await?;
        if let Some(user) = &req.spec.submitter {
            let mut inputs: Vec<FsPath> = plan.splits.iter().map(|s| s.file.clone()).collect();
            inputs.dedup();
            self.ns
                .check_submitter(user, inputs, &req.spec.output)
                .await?;
        }
        self.ns.mkdirs(&req.spec.output.join("_temporary")?).await?;
        let new = NewJob {
            request_id: req.request_id,
            spec: req.spec,
            plan,
            submitted_ms: now_ms(),
        };
        let (job, ticket) = self.locked(|s| s.register(new, Instant::now()));
        let job = job?;
        self.history.wait_durable(ticket).await?;
        // A job with nothing to compute may already be done.
        self.perform_output_work(Some(&job.id), INLINE_WORK_ROUNDS)
            .await?;
        self.durable_status(&job.id).await
    }

    /// A job's status as it is in memory.
    pub fn status(&self, id: &JobId) -> Result<JobStatus, Error> {
        self.locked(|s| s.status(id, Instant::now())).0
    }

    /// Every job the tracker knows, newest first.
    pub fn list(&self) -> JobList {
        self.locked(|s| s.list(Instant::now())).0
    }

    /// Kills a running job and deletes its output; a finished job is left as it is.
    pub async fn kill(&self, id: &JobId) -> Result<JobStatus, Error> {
        let (killed, ticket) = self.locked(|s| s.kill(id, Instant::now()));
        killed?;
        self.history.wait_durable(ticket).await?;
        self.perform_output_work(Some(id), 1).await?;
        self.durable_status(id).await
    }

    /// An executor's poll: progress in, attempts to launch and to kill out, answered once the
    /// changes it made are durable. Its map outputs are fetched at the address its datanode
    /// registered with, whatever the poll says; an executor whose datanode is not alive is
    /// offered no work.
    pub async fn poll(&self, mut poll: ExecutorPoll) -> Result<ExecutorPollResponse, Error> {
        match self.ns.datanode_addr(&poll.datanode) {
            Some(addr) => poll.addr = addr,
            None => {
                tracing::debug!(executor = %poll.datanode, "poll from an unregistered datanode");
                poll.slots = 0;
            }
        }
        let (answer, ticket) = self.locked(|s| s.poll(poll, Instant::now()));
        self.history.wait_durable(ticket).await?;
        Ok(answer)
    }

    /// An executor's report of a finished attempt. A winning reduce (or map of a map-only job)
    /// is committed before this returns, and so is the job's output when it was the last.
    pub async fn report(&self, report: TaskReport) -> Result<(), Error> {
        let job = report.job.clone();
        let ((), ticket) = self.locked(|s| s.report(report, Instant::now()));
        self.history.wait_durable(ticket).await?;
        self.perform_output_work(Some(&job), INLINE_WORK_ROUNDS)
            .await?;
        let ((), ticket) = self.locked(|_| ());
        self.history.wait_durable(ticket).await
    }

    /// The namenode declared this datanode dead (its lifeline broke, or it missed heartbeats):
    /// its executor's attempts and the map output it held are re-run at once.
    pub fn executor_died(&self, datanode: &DatanodeId) {
        self.locked(|s| s.executor_died(datanode, Instant::now()));
    }

    /// Whether any attempt is running, now and whenever it changes.
    pub fn attempts_running(&self) -> watch::Receiver<bool> {
        self.attempts_running.subscribe()
    }

    /// The background pass, every `tick_interval` from now (lost executors, stragglers, and
    /// namespace work that failed before), and the namespace's events as they come. Runs
    /// until aborted.
    pub async fn run(self: Arc<Self>, events: mpsc::UnboundedReceiver<NamespaceEvent>) {
        let mut events = Some(events);
        let period = self.config.tick_interval;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let event = async {
                match events.as_mut() {
                    Some(events) => events.recv().await,
                    None => std::future::pending().await,
                }
            };
            let result = tokio::select! {
                _ = ticker.tick() => self.tick().await,
                event = event => match event {
                    Some(NamespaceEvent::DatanodeDead(datanode)) => {
                        self.executor_died(&datanode);
                        Ok(())
                    }
                    // Work refused in safe mode can be done now, not at the next tick.
                    Some(NamespaceEvent::SafeModeLeft) => {
                        self.perform_output_work(None, INLINE_WORK_ROUNDS).await
                    }
                    None => {
                        events = None;
                        Ok(())
                    }
                },
            };
            if let Err(e) = result {
                tracing::debug!("job tracker pass stopped: {e}");
            }
        }
    }

    /// Waits until every change made so far is on disk (at shutdown).
    pub async fn flush(&self) -> Result<(), Error> {
        let ((), ticket) = self.locked(|_| ());
        self.history.wait_durable(ticket).await
    }

    async fn tick(&self) -> Result<(), Error> {
        let ((), ticket) = self.locked(|s| s.tick(Instant::now()));
        self.history.wait_durable(ticket).await?;
        self.perform_output_work(None, 1).await
    }

    /// The job's status once everything it reflects is durable.
    async fn durable_status(&self, id: &JobId) -> Result<JobStatus, Error> {
        let (status, ticket) = self.locked(|s| s.status(id, Instant::now()));
        self.history.wait_durable(ticket).await?;
        status
    }

    /// Runs `f` on the state under the lock and queues the history changes it recorded; returns
    /// its result and the ticket to wait for before acknowledging anything it did.
    fn locked<T>(&self, f: impl FnOnce(&mut TrackerState) -> T) -> (T, u64) {
        let mut state = self.lock();
        let out = f(&mut state);
        let ticket = self.history.queue(state.take_history_changes());
        let running = state.has_running_attempts();
        drop(state);
        self.attempts_running.send_if_modified(|was| {
            let changed = *was != running;
            *was = running;
            changed
        });
        (out, ticket)
    }

    fn lock(&self) -> MutexGuard<'_, TrackerState> {
        granary_client::sync::lock(&self.state, "job tracker")
    }

    /// Performs output work (of one job, or all) for up to `rounds` rounds; each round's
    /// results may enable more (a last commit enables the finalization). Work is performed
    /// only once the state it follows from is durable.
    async fn perform_output_work(&self, only: Option<&JobId>, rounds: usize) -> Result<(), Error> {
        for _ in 0..rounds {
            let (work, ticket) = self.locked(|s| s.take_output_work(only, Instant::now()));
            if work.is_empty() {
                return Ok(());
            }
            let mut batch = WorkBatch {
                tracker: self,
                items: work,
            };
            // On failure `batch` hands the work back as it is dropped.
            self.history.wait_durable(ticket).await?;
            while let Some(item) = batch.items.last().cloned() {
                let result = output::perform(&*self.ns, &item).await;
                batch.items.pop();
                self.locked(|s| s.output_work_finished(&item, result, Instant::now()));
            }
        }
        Ok(())
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
        self.tracker.locked(|s| {
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
