//! Reports: how attempts ended, and what follows. The first attempt of a task to succeed
//! wins and the others are killed; a failed task is retried (away from the executor it failed
//! on) until it has failed `max_attempts` times, which fails the job; a reducer that cannot
//! fetch a map's output has that map re-run.

use std::time::Instant;

use granary_client::protocol::{
    AttemptId, FetchFailureCause, JobState, TaskCounters, TaskId, TaskOutcome, TaskReport,
};
use granary_client::DatanodeId;

use super::task::{AttemptState, TaskState};
use super::{AttemptKey, TrackerState};

impl TrackerState {
    /// Applies an executor's report. Reports of attempts that are no longer running (killed,
    /// lost, of a finished job, or from before a restart) are ignored.
    pub fn report(&mut self, report: TaskReport, now: Instant) {
        let key = match self.attempts.get(&report.attempt) {
            Some(key) if key.job == report.job && key.executor == report.datanode => key.clone(),
            _ => {
                tracing::debug!(attempt = %report.attempt, "report of an attempt not running; ignored");
                return;
            }
        };
        match report.outcome {
            TaskOutcome::Succeeded { counters } => self.attempt_succeeded(&key, counters, now),
            TaskOutcome::Failed { error } => self.attempt_failed(&key, error, true, now),
            TaskOutcome::FetchFailed {
                map,
                attempt,
                error,
                cause,
            } => self.fetch_failed(&key, map, &attempt, error, cause, now),
        }
    }

    fn attempt_succeeded(&mut self, key: &AttemptKey, counters: TaskCounters, now: Instant) {
        self.end_attempt(key, AttemptState::Succeeded, now);
        let Some(idx) = self.job_index(&key.job) else {
            return;
        };
        let job = &mut self.jobs[idx];
        let task = job.task_mut(key.task);
        let attempt = &mut task.attempts[key.number as usize];
        attempt.counters = counters;
        attempt.progress = 1.0;
        if task.state != TaskState::Running {
            return;
        }
        let commits = job.commits(key.task.kind);
        let state = if commits {
            TaskState::Committing(key.number)
        } else {
            TaskState::Done(key.number)
        };
        job.set_state(key.task, state);
        self.kill_attempts(idx, key.task, now);
        if !commits {
            self.advance_phase(idx, now);
        }
    }

    /// A running attempt failed. `counted`: whether it counts against the task's
    /// `max_attempts` and its executor's failures in the job.
    pub(super) fn attempt_failed(
        &mut self,
        key: &AttemptKey,
        error: String,
        counted: bool,
        now: Instant,
    ) {
        self.end_attempt(key, AttemptState::Failed, now);
        if let Some(idx) = self.job_index(&key.job) {
            self.after_failure(
                idx,
                key.task,
                key.number,
                &key.executor,
                error,
                counted,
                now,
            );
        }
    }

    /// Counts a failure of attempt `number` of a task (running, or one that had won but whose
    /// commit or output was lost) and re-queues the task or fails the job.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn after_failure(
        &mut self,
        idx: usize,
        task_id: TaskId,
        number: u32,
        executor: &DatanodeId,
        error: String,
        counted: bool,
        now: Instant,
    ) {
        let job = &mut self.jobs[idx];
        job.failed_attempts += 1;
        if counted {
            *job.node_failures.entry(executor.clone()).or_default() += 1;
        }
        let max_attempts = job.plan.settings.max_attempts;
        let task = job.task_mut(task_id);
        if counted {
            task.failures += 1;
            task.failed_on.insert(executor.clone());
        }
        task.last_error = Some(error.clone());
        let (state, failures) = (task.state, task.failures);
        let still_running = task.running().next().is_some();
        match state {
            TaskState::Done(w) | TaskState::Committing(w) if w != number => return,
            _ => {}
        }
        if still_running {
            job.set_state(task_id, TaskState::Running);
            return;
        }
        if failures >= max_attempts {
            let attempts = if failures == 1 { "attempt" } else { "attempts" };
            let message = format!(
                "task {} failed {failures} {attempts}; last error: {error}",
                job.describe(task_id)
            );
            self.end_job(idx, JobState::Failed, Some(message), now);
            return;
        }
        tracing::info!(job = %job.id, task = %task_id, "task re-queued: {error}");
        job.set_state(task_id, TaskState::Pending);
        self.advance_phase(idx, now);
    }

    /// A reducer could not fetch map `map`'s output from `map_attempt`. The reducer is
    /// re-queued without counting against it; if that attempt is still the map's winner, its
    /// output is lost: the map fails (counted, so a map whose output can never be fetched
    /// fails the job instead of looping) and runs again. Every checksum mismatch is counted,
    /// even one from a map attempt already replaced: each is damage some reducer met.
    fn fetch_failed(
        &mut self,
        reducer: &AttemptKey,
        map: u32,
        map_attempt: &AttemptId,
        error: String,
        cause: FetchFailureCause,
        now: Instant,
    ) {
        if cause == FetchFailureCause::ChecksumMismatch {
            if let Some(idx) = self.job_index(&reducer.job) {
                self.jobs[idx].shuffle_checksum_failures += 1;
            }
        }
        self.attempt_failed(
            reducer,
            format!("fetching the output of map {map}: {error}"),
            false,
            now,
        );
        let Some(idx) = self.job_index(&reducer.job) else {
            return;
        };
        let job = &mut self.jobs[idx];
        let Some(task) = job.maps.get_mut(map as usize) else {
            return;
        };
        let TaskState::Done(winner) = task.state else {
            return;
        };
        let attempt = &mut task.attempts[winner as usize];
        if &attempt.id != map_attempt {
            return;
        }
        attempt.state = AttemptState::Failed;
        let executor = attempt.executor.clone();
        tracing::warn!(job = %job.id, map, %executor, "map output lost: {error}");
        let task_id = task.id;
        self.after_failure(
            idx,
            task_id,
            winner,
            &executor,
            format!("output lost: {error}"),
            true,
            now,
        );
    }
}
