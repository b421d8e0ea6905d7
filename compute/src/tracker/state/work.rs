//! Namespace work the state asks the shell for: committing winners' part files, finalizing
//! finished jobs, deleting the output of failed and killed ones. The work is derived from the
//! state (tasks committing, jobs in the commit phase, records awaiting cleanup), so whatever
//! fails with a transient error is simply handed out again by the next `take_output_work`.

use std::time::Instant;

use granary_client::protocol::{AttemptId, JobId, JobPhase, JobState, TaskId};
use granary_client::{Error, ErrorKind, FsPath};

use super::task::TaskState;
use super::TrackerState;
use crate::tracker::history::HistoryChange;

#[derive(Clone, Debug, PartialEq)]
pub enum OutputWork {
    /// Rename a winning attempt's part file into the output directory.
    Commit {
        job: JobId,
        task: TaskId,
        attempt: AttemptId,
        from: FsPath,
        to: FsPath,
    },
    /// Every task is committed: delete `<output>/_temporary`, then create `<output>/_SUCCESS`.
    Finalize {
        job: JobId,
        output: FsPath,
        /// Who the output is given to once complete (the submitter).
        owner: Option<String>,
    },
    /// Delete the output directory of a job that failed or was killed.
    RemoveOutput { job: JobId, output: FsPath },
}

impl OutputWork {
    /// Work with the same key is never in flight twice; a job's finalization and its cleanup
    /// share a key, so they never overlap.
    fn key(&self) -> (JobId, Option<TaskId>) {
        match self {
            OutputWork::Commit { job, task, .. } => (job.clone(), Some(*task)),
            OutputWork::Finalize { job, .. } | OutputWork::RemoveOutput { job, .. } => {
                (job.clone(), None)
            }
        }
    }
}

/// Errors worth retrying the same namespace call for.
fn is_transient(e: &Error) -> bool {
    e.kind.is_transient() || e.kind == ErrorKind::SafeMode
}

impl TrackerState {
    /// The work not yet in flight, of one job or of all; it is in flight until
    /// `output_work_finished`.
    pub fn take_output_work(&mut self, only: Option<&JobId>, now: Instant) -> Vec<OutputWork> {
        let wanted = |id: &JobId| match only {
            Some(only) => only == id,
            None => true,
        };
        let mut work = Vec::new();
        let mut unwritable = Vec::new();
        for job in self.jobs.iter().filter(|j| wanted(&j.id)) {
            for task in job.maps.iter().chain(&job.reduces) {
                let TaskState::Committing(n) = task.state else {
                    continue;
                };
                let attempt = &task.attempts[n as usize];
                match job.part_paths(task.id, &attempt.id) {
                    Ok((from, to)) => work.push(OutputWork::Commit {
                        job: job.id.clone(),
                        task: task.id,
                        attempt: attempt.id.clone(),
                        from,
                        to,
                    }),
                    Err(e) => {
                        unwritable.push((job.id.clone(), task.id, n, attempt.executor.clone(), e))
                    }
                }
            }
            if job.phase == JobPhase::Commit {
                work.push(OutputWork::Finalize {
                    job: job.id.clone(),
                    output: job.spec.output.clone(),
                    owner: job.spec.submitter.clone(),
                });
            }
        }
        for record in self.finished.values() {
            if record.cleanup_pending && wanted(&record.status.id) {
                work.push(OutputWork::RemoveOutput {
                    job: record.status.id.clone(),
                    output: record.status.output.clone(),
                });
            }
        }
        for (job, task, n, executor, e) in unwritable {
            if let Some(idx) = self.job_index(&job) {
                let error = format!("committing the output failed: {e}");
                self.after_failure(idx, task, n, &executor, error, true, now);
            }
        }
        work.retain(|w| self.in_flight.insert(w.key()));
        work
    }

    pub fn output_work_finished(
        &mut self,
        work: &OutputWork,
        result: Result<(), Error>,
        now: Instant,
    ) {
        self.in_flight.remove(&work.key());
        match (work, result) {
            (
                OutputWork::Commit {
                    job, task, attempt, ..
                },
                result,
            ) => {
                self.commit_finished(job, *task, attempt, result, now);
            }
            (OutputWork::Finalize { job, .. }, result) => self.finalize_finished(job, result, now),
            (OutputWork::RemoveOutput { job, .. }, Ok(())) => self.cleanup_done(job),
            (OutputWork::RemoveOutput { job, .. }, Err(e)) if e.kind == ErrorKind::NotFound => {
                self.cleanup_done(job);
            }
            (work, Err(e)) => {
                tracing::debug!(?work, "namespace work failed, will retry: {e}");
            }
        }
    }

    /// A job whose output is complete succeeds; one whose output cannot be completed (its
    /// directory was removed under it) fails.
    fn finalize_finished(&mut self, job: &JobId, result: Result<(), Error>, now: Instant) {
        let Some(idx) = self.job_index(job) else {
            return;
        };
        if self.jobs[idx].phase != JobPhase::Commit {
            return;
        }
        match result {
            Ok(()) => self.end_job(idx, JobState::Succeeded, None, now),
            Err(e) if is_transient(&e) => {
                tracing::debug!(%job, "finalizing the output failed, will retry: {e}");
            }
            Err(e) => {
                let error = format!("finalizing the output failed: {e}");
                self.end_job(idx, JobState::Failed, Some(error), now);
            }
        }
    }

    /// Work whose performer was cancelled before it finished: handed out again later.
    pub fn output_work_abandoned(&mut self, work: &OutputWork) {
        self.in_flight.remove(&work.key());
    }

    fn commit_finished(
        &mut self,
        job: &JobId,
        task: TaskId,
        attempt: &AttemptId,
        result: Result<(), Error>,
        now: Instant,
    ) {
        let Some(idx) = self.job_index(job) else {
            return;
        };
        let TaskState::Committing(n) = self.jobs[idx].task(task).state else {
            return;
        };
        let winner = &self.jobs[idx].task(task).attempts[n as usize];
        if &winner.id != attempt {
            return;
        }
        match result {
            Ok(()) => {
                self.jobs[idx].set_state(task, TaskState::Done(n));
                self.advance_phase(idx, now);
            }
            Err(e) if is_transient(&e) => {
                tracing::debug!(%attempt, "commit failed, will retry: {e}");
            }
            Err(e) => {
                let executor = winner.executor.clone();
                let error = format!("committing the output failed: {e}");
                self.after_failure(idx, task, n, &executor, error, true, now);
            }
        }
    }

    fn cleanup_done(&mut self, job: &JobId) {
        if let Some(record) = self.finished.get_mut(job) {
            record.cleanup_pending = false;
            let record = record.clone();
            self.history_changes
                .push(HistoryChange::Save(Box::new(record)));
            self.evict_history();
        }
    }
}
