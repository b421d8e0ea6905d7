//! The tracker's bookkeeping as a pure state machine: no I/O, no clock of its own (every
//! call takes `now`), so the scheduling, retry and recovery rules are tested deterministically.
//! The async shell in `tracker` feeds it requests, performs the namespace work it asks for
//! (`work`), and persists the history changes it records.
//!
//! - `assign`: polls — progress, lost attempts, free slots, delay scheduling.
//! - `outcomes`: reports — winners, failures and retries, fetch failures.
//! - `recovery`: the periodic pass — lost executors, stragglers.
//! - `finish`: jobs ending, and the bounded history they move to.
//! - `work`: output commits, job finalization and cleanup, retried until they succeed.

mod assign;
mod executors;
mod finish;
mod job;
mod outcomes;
mod recovery;
mod task;
#[cfg(test)]
mod tests;
mod work;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use granary_client::protocol::{
    AttemptId, JobId, JobList, JobPhase, JobSpec, JobState, JobStatus, TaskId,
};
use granary_client::{DatanodeId, Error, ErrorKind, RequestId};

use crate::tracker::config::TrackerConfig;
use crate::tracker::history::{HistoryChange, JobRecord};
use crate::tracker::plan::JobPlan;

use executors::Executors;
use job::Job;
use task::AttemptState;

pub use work::OutputWork;

/// A planned job, ready to run.
pub struct NewJob {
    pub request_id: RequestId,
    pub spec: JobSpec,
    pub plan: JobPlan,
    /// Wall-clock submission time, milliseconds since the Unix epoch.
    pub submitted_ms: u64,
}

/// Where a running attempt is.
#[derive(Clone, Debug, PartialEq, Eq)]
struct AttemptKey {
    job: JobId,
    task: TaskId,
    number: u32,
    executor: DatanodeId,
}

pub struct TrackerState {
    config: TrackerConfig,
    /// Job ids are `job_<start_ms>_<seq>`.
    start_ms: u64,
    next_seq: u64,
    /// Running jobs, in submission order: the scheduler serves them first come, first served.
    jobs: Vec<Job>,
    finished: BTreeMap<JobId, JobRecord>,
    requests: HashMap<RequestId, JobId>,
    executors: Executors,
    /// Every running attempt.
    attempts: HashMap<AttemptId, AttemptKey>,
    /// Output work handed to the shell and not yet finished.
    in_flight: HashSet<(JobId, Option<TaskId>)>,
    history_changes: Vec<HistoryChange>,
}

impl TrackerState {
    /// A tracker that started at `start_ms`, with the history as loaded.
    pub fn new(config: TrackerConfig, start_ms: u64, history: Vec<JobRecord>) -> Self {
        let mut state = TrackerState {
            config,
            start_ms,
            next_seq: 1,
            jobs: Vec::new(),
            finished: BTreeMap::new(),
            requests: HashMap::new(),
            executors: Executors::default(),
            attempts: HashMap::new(),
            in_flight: HashSet::new(),
            history_changes: Vec::new(),
        };
        for record in history {
            state
                .requests
                .insert(record.request_id.clone(), record.status.id.clone());
            state.finished.insert(record.status.id.clone(), record);
        }
        state.evict_history();
        state
    }

    /// The job a submission with this request id already started.
    pub fn by_request(&self, request_id: &RequestId, now: Instant) -> Option<JobStatus> {
        let id = self.requests.get(request_id)?;
        self.status(id, now).ok()
    }

    /// Whether any attempt is running anywhere.
    pub fn has_running_attempts(&self) -> bool {
        !self.attempts.is_empty()
    }

    pub fn live_executors(&self, now: Instant) -> u32 {
        self.executors
            .live(now, self.config.executor_dead_after)
            .len() as u32
    }

    /// Starts a planned job. A concurrent submission with the same request id wins the race
    /// and its job is answered; one writing the same output as a running job is refused.
    pub fn register(&mut self, new: NewJob, now: Instant) -> Result<JobStatus, Error> {
        if let Some(status) = self.by_request(&new.request_id, now) {
            return Ok(status);
        }
        if self.jobs.iter().any(|j| j.spec.output == new.spec.output) {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("output directory already exists: {}", new.spec.output),
            ));
        }
        let id = JobId(format!("job_{}_{:04}", self.start_ms, self.next_seq));
        self.next_seq += 1;
        let (maps, reduces) = (new.plan.splits.len(), new.plan.reducers);
        tracing::info!(job = %id, maps, reduces, "job submitted");
        self.requests.insert(new.request_id.clone(), id.clone());
        let job = Job::new(
            id,
            new.request_id,
            new.spec,
            new.submitted_ms,
            new.plan,
            now,
        );
        self.jobs.push(job);
        let idx = self.jobs.len() - 1;
        // A job without maps (empty input) moves on at once.
        self.advance_phase(idx, now);
        self.save_running(idx, now);
        Ok(self.jobs[idx].status(now))
    }

    pub fn status(&self, id: &JobId, now: Instant) -> Result<JobStatus, Error> {
        if let Some(job) = self.jobs.iter().find(|j| &j.id == id) {
            return Ok(job.status(now));
        }
        self.finished
            .get(id)
            .map(|record| record.status.clone())
            .ok_or_else(|| Error::not_found(format!("no such job: {id}")))
    }

    /// Every job, newest first.
    pub fn list(&self, now: Instant) -> JobList {
        let mut jobs: Vec<JobStatus> = self
            .jobs
            .iter()
            .map(|j| j.status(now))
            .chain(self.finished.values().map(|r| r.status.clone()))
            .collect();
        jobs.sort_by(|a, b| (b.submitted_ms, &b.id).cmp(&(a.submitted_ms, &a.id)));
        JobList { jobs }
    }

    /// Kills a running job (its attempts are killed through the next polls and its output is
    /// deleted); a finished job's status is answered unchanged.
    pub fn kill(&mut self, id: &JobId, now: Instant) -> Result<JobStatus, Error> {
        if let Some(idx) = self.job_index(id) {
            tracing::info!(job = %id, "job killed by user");
            self.end_job(idx, JobState::Killed, Some("killed by user".into()), now);
        }
        self.status(id, now)
    }

    /// History writes recorded since the last call, in order.
    pub fn take_history_changes(&mut self) -> Vec<HistoryChange> {
        std::mem::take(&mut self.history_changes)
    }

    fn job_index(&self, id: &JobId) -> Option<usize> {
        self.jobs.iter().position(|j| &j.id == id)
    }

    fn save_running(&mut self, idx: usize, now: Instant) {
        let job = &self.jobs[idx];
        self.history_changes
            .push(HistoryChange::Save(Box::new(JobRecord {
                status: job.status(now),
                request_id: job.request_id.clone(),
                cleanup_pending: false,
            })));
    }

    /// Moves the job to the phase its tasks call for, and persists a change.
    fn advance_phase(&mut self, idx: usize, now: Instant) {
        let job = &mut self.jobs[idx];
        let next = job.current_phase();
        if next == job.phase {
            return;
        }
        if job.phase == JobPhase::Map {
            job.maps_done_at = Some(now);
        }
        if next == JobPhase::Map {
            job.maps_done_at = None;
        }
        tracing::debug!(job = %job.id, phase = ?next, "job phase");
        job.phase = next;
        self.save_running(idx, now);
    }

    /// Marks a running attempt ended and forgets where it runs.
    fn end_attempt(&mut self, key: &AttemptKey, state: AttemptState, now: Instant) {
        let Some(attempt_id) = self.attempt_id(key) else {
            return;
        };
        self.attempts.remove(&attempt_id);
        self.executors.remove_attempt(&key.executor, &attempt_id);
        if let Some(idx) = self.job_index(&key.job) {
            let task = self.jobs[idx].task_mut(key.task);
            let attempt = &mut task.attempts[key.number as usize];
            if attempt.state == AttemptState::Running {
                attempt.state = state;
                attempt.ended = Some(now);
            }
        }
    }

    fn attempt_id(&self, key: &AttemptKey) -> Option<AttemptId> {
        let job = &self.jobs[self.job_index(&key.job)?];
        let attempt = job.task(key.task).attempts.get(key.number as usize)?;
        Some(attempt.id.clone())
    }

    /// Kills the running attempts of a task.
    fn kill_attempts(&mut self, idx: usize, task: TaskId, now: Instant) {
        let job = &self.jobs[idx];
        let keys: Vec<AttemptKey> = job
            .task(task)
            .attempts
            .iter()
            .enumerate()
            .filter(|(_, a)| a.state == AttemptState::Running)
            .map(|(n, a)| AttemptKey {
                job: job.id.clone(),
                task,
                number: n as u32,
                executor: a.executor.clone(),
            })
            .collect();
        for key in keys {
            self.end_attempt(&key, AttemptState::Killed, now);
        }
    }
}
