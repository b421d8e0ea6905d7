//! The periodic pass: executors that stopped polling are lost with their running attempts and
//! the map outputs they served; stragglers are marked for a backup attempt (speculative
//! execution, as in the MapReduce paper and Hadoop).

use std::time::Instant;

use granary_client::protocol::{AttemptId, JobPhase, TaskKind};
use granary_client::DatanodeId;

use super::job::Job;
use super::task::TaskState;
use super::TrackerState;

impl TrackerState {
    pub fn tick(&mut self, now: Instant) {
        self.expire_executors(now);
        let rule = StragglerRule {
            min_runtime: self.config.speculation_min_runtime,
            slowness: self.config.speculation_slowness,
            // LATE's SpeculativeCap: backups take at most a tenth of the slots (at least one),
            // so a cluster that is slow all over is not buried under backups.
            cap: (self
                .executors
                .live_slots(now, self.config.executor_dead_after)
                / SPECULATIVE_CAP_DIVISOR)
                .max(1) as usize,
        };
        for job in self.jobs.iter_mut() {
            if job.plan.settings.speculation {
                mark_stragglers(job, &rule, now);
            }
        }
    }

    /// The namenode declared `executor`'s datanode dead: it is lost now, without waiting for
    /// its polls to stay away for `executor_dead_after`. Unknown executors are ignored.
    pub fn executor_died(&mut self, executor: &DatanodeId, now: Instant) {
        if let Some(attempts) = self.executors.remove(executor) {
            self.lose_executor(executor, attempts, "its datanode was declared dead", now);
        }
    }

    fn expire_executors(&mut self, now: Instant) {
        for (executor, attempts) in self.executors.expire(now, self.config.executor_dead_after) {
            self.lose_executor(&executor, attempts, "it stopped polling", now);
        }
    }

    /// Its running attempts fail and re-run elsewhere, and so do the finished maps whose output
    /// died with it.
    fn lose_executor(
        &mut self,
        executor: &DatanodeId,
        attempts: Vec<AttemptId>,
        why: &str,
        now: Instant,
    ) {
        tracing::warn!(%executor, running = attempts.len(), "executor lost: {why}");
        let error = format!("executor {executor} lost ({why})");
        for attempt in attempts {
            if let Some(key) = self.attempts.get(&attempt).cloned() {
                // Not the task's fault: it does not count against its attempts.
                self.attempt_failed(&key, error.clone(), false, now);
            }
        }
        self.rerun_lost_map_outputs(executor, now);
    }

    /// Maps whose winners ran on a lost executor run again while a reduce may still fetch
    /// their output: one pending or running. Reduces that succeeded already have it.
    fn rerun_lost_map_outputs(&mut self, executor: &DatanodeId, now: Instant) {
        for idx in 0..self.jobs.len() {
            let job = &mut self.jobs[idx];
            let fetching = job
                .reduces
                .iter()
                .any(|r| matches!(r.state, TaskState::Pending | TaskState::Running));
            if !fetching {
                continue;
            }
            let lost: Vec<_> = job
                .maps
                .iter()
                .filter(|m| m.winner().is_some_and(|w| &w.executor == executor))
                .map(|m| m.id)
                .collect();
            if lost.is_empty() {
                continue;
            }
            tracing::info!(job = %job.id, maps = lost.len(), %executor, "re-running maps whose output was lost");
            for map in lost {
                job.set_state(map, TaskState::Pending);
            }
            self.advance_phase(idx, now);
        }
    }
}

/// Backups in flight per job: at most one per this many live slots (at least one).
const SPECULATIVE_CAP_DIVISOR: u32 = 10;

struct StragglerRule {
    min_runtime: std::time::Duration,
    slowness: f64,
    /// Backups a job may have wanted or running at once.
    cap: usize,
}

/// Marks the tasks of `job` whose only running attempt has run at least `min_runtime` at a
/// progress rate below `slowness` × the median rate of the tasks of its kind, once no task of
/// that kind is waiting for a slot, slowest first, while the job has fewer than `cap` backups
/// wanted or running.
fn mark_stragglers(job: &mut Job, rule: &StragglerRule, now: Instant) {
    let in_flight = job
        .maps
        .iter()
        .chain(&job.reduces)
        .filter(|t| t.wants_backup || t.running().nth(1).is_some())
        .count();
    let mut budget = rule.cap.saturating_sub(in_flight);
    for kind in [TaskKind::Map, TaskKind::Reduce] {
        let phase_allows = match kind {
            TaskKind::Map => job.phase == JobPhase::Map,
            TaskKind::Reduce => job.phase == JobPhase::Reduce,
        };
        if !phase_allows || !job.pending(kind).is_empty() {
            continue;
        }
        let mut rates: Vec<f64> = job.tasks(kind).iter().filter_map(|t| t.rate(now)).collect();
        if rates.is_empty() {
            continue;
        }
        rates.sort_by(f64::total_cmp);
        let median = rates[rates.len() / 2];
        let job_id = job.id.clone();
        let mut stragglers: Vec<(f64, &mut super::task::Task)> = job
            .tasks_mut(kind)
            .iter_mut()
            .filter(|t| t.state == TaskState::Running && !t.wants_backup)
            .filter_map(|task| {
                let started = {
                    let mut running = task.running();
                    match (running.next(), running.next()) {
                        (Some(only), None) => only.started,
                        _ => return None,
                    }
                };
                let rate = task.rate(now)?;
                let old_enough = now.saturating_duration_since(started) >= rule.min_runtime;
                (old_enough && rate < rule.slowness * median).then_some((rate, task))
            })
            .collect();
        stragglers.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (_, task) in stragglers.into_iter().take(budget) {
            tracing::info!(job = %job_id, task = %task.id, "straggler; a backup attempt will run");
            task.wants_backup = true;
            budget -= 1;
        }
    }
}
