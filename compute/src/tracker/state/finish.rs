//! How jobs end — succeeded, failed or killed — and the bounded history they move to.

use std::time::Instant;

use granary_client::protocol::{JobPhase, JobState, TaskId};

use super::TrackerState;
use crate::tracker::history::{HistoryChange, JobRecord};

impl TrackerState {
    /// Ends a job: its attempts are killed, its status moves to the history.
    pub(super) fn end_job(
        &mut self,
        idx: usize,
        state: JobState,
        error: Option<String>,
        now: Instant,
    ) {
        let tasks: Vec<TaskId> = {
            let job = &self.jobs[idx];
            job.maps.iter().chain(&job.reduces).map(|t| t.id).collect()
        };
        for task in tasks {
            self.kill_attempts(idx, task, now);
        }
        let job = self.jobs.remove(idx);
        let mut status = job.status(now);
        status.state = state;
        status.phase = JobPhase::Done;
        status.error = error;
        status.finished_ms = Some(job.submitted_ms + status.counters.total_ms);
        if state == JobState::Failed {
            tracing::warn!(job = %job.id, "job failed: {}", status.error.as_deref().unwrap_or(""));
        } else {
            tracing::info!(job = %job.id, state = state.as_str(), "job finished");
        }
        let record = JobRecord {
            status,
            request_id: job.request_id,
            cleanup_pending: state != JobState::Succeeded,
        };
        self.history_changes
            .push(HistoryChange::Save(Box::new(record.clone())));
        self.finished.insert(job.id, record);
        self.evict_history();
    }

    /// Forgets the oldest finished jobs beyond `max_history` (never one whose output is still
    /// to be deleted).
    pub(super) fn evict_history(&mut self) {
        while self.finished.len() > self.config.max_history {
            let oldest = self
                .finished
                .values()
                .filter(|r| !r.cleanup_pending)
                .min_by(|a, b| {
                    (a.status.submitted_ms, &a.status.id)
                        .cmp(&(b.status.submitted_ms, &b.status.id))
                })
                .map(|r| r.status.id.clone());
            let Some(id) = oldest else {
                return;
            };
            if let Some(record) = self.finished.remove(&id) {
                self.requests.remove(&record.request_id);
            }
            self.history_changes.push(HistoryChange::Remove(id));
        }
    }
}
