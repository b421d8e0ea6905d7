//! Polls: an executor says what it runs; the answer says what to launch and what to kill.
//!
//! Free slots go to running jobs first come, first served. Within a job, maps are placed with
//! delay scheduling (Zaharia et al., EuroSys 2010): a slot on a node holding none of the job's
//! pending splits is refused while the job has waited less than `locality_wait` since its last
//! data-local launch, takes a rack-local split after that, and any split after twice that. A
//! split none of whose holders is a live executor is taken by any slot at once.
//! Reduces start once every map has succeeded; backups for stragglers come last.

use std::collections::HashSet;
use std::time::Instant;

use granary_client::protocol::{
    AttemptId, ExecutorPoll, ExecutorPollResponse, JobPhase, MapOutputLocation, TaskAssignment,
    TaskCounters, TaskId, TaskKind, TaskWork,
};
use granary_client::DatanodeId;

use super::job::Job;
use super::task::{Attempt, AttemptState, Locality, Task, TaskState};
use super::{AttemptKey, TrackerState};
use crate::tracker::config::NODE_FAILURE_LIMIT;

/// What a free slot on one executor may take.
struct Slot<'a> {
    executor: &'a DatanodeId,
    rack: &'a str,
    /// Live executors (for the avoid-failed-nodes rules).
    live: &'a [&'a DatanodeId],
}

impl TrackerState {
    pub fn poll(&mut self, poll: ExecutorPoll, now: Instant) -> ExecutorPollResponse {
        let poll_number = self.executors.record_poll(&poll, now);
        let listed: HashSet<&AttemptId> = poll.running.iter().map(|p| &p.attempt).collect();
        let mut kill = Vec::new();
        for report in &poll.running {
            match self.attempts.get(&report.attempt).cloned() {
                Some(key) if key.executor == poll.datanode => {
                    self.record_progress(&key, report.progress);
                }
                _ => kill.push(report.attempt.clone()),
            }
        }
        self.fail_lost_attempts(&poll.datanode, &listed, poll_number, now);

        let ours = self.executors.get(&poll.datanode).map_or(0, |e| {
            e.attempts.keys().filter(|a| !listed.contains(a)).count()
        });
        let free = (poll.slots as usize).saturating_sub(listed.len() + ours);
        let mut launch = Vec::new();
        for _ in 0..free {
            match self.assign_one(&poll, poll_number, now) {
                Some(assignment) => launch.push(assignment),
                None => break,
            }
        }
        ExecutorPollResponse {
            launch,
            kill,
            active_jobs: self.jobs.iter().map(|j| j.id.clone()).collect(),
        }
    }

    fn record_progress(&mut self, key: &AttemptKey, progress: f64) {
        if let Some(idx) = self.job_index(&key.job) {
            let attempt = &mut self.jobs[idx].task_mut(key.task).attempts[key.number as usize];
            if progress.is_finite() {
                attempt.progress = progress.clamp(0.0, 1.0);
            }
        }
    }

    /// An attempt sent in an earlier answer that the executor neither lists nor reported
    /// never started there (the answer was lost, or the executor restarted).
    fn fail_lost_attempts(
        &mut self,
        executor: &DatanodeId,
        listed: &HashSet<&AttemptId>,
        poll_number: u64,
        now: Instant,
    ) {
        let lost: Vec<AttemptKey> = self
            .executors
            .get(executor)
            .into_iter()
            .flat_map(|e| e.attempts.iter())
            .filter(|(attempt, &sent_in)| sent_in < poll_number && !listed.contains(attempt))
            .filter_map(|(attempt, _)| self.attempts.get(attempt).cloned())
            .collect();
        for key in lost {
            tracing::warn!(job = %key.job, task = %key.task, %executor, "attempt lost");
            self.attempt_failed(&key, format!("lost by executor {executor}"), true, now);
        }
    }

    /// Picks and launches one attempt for a free slot, or `None` if nothing fits.
    fn assign_one(
        &mut self,
        poll: &ExecutorPoll,
        poll_number: u64,
        now: Instant,
    ) -> Option<TaskAssignment> {
        let live = self.executors.live(now, self.config.executor_dead_after);
        let slot = Slot {
            executor: &poll.datanode,
            rack: &poll.rack,
            live: &live,
        };
        let (idx, task, locality) = self.jobs.iter().enumerate().find_map(|(idx, job)| {
            let (task, locality) = self.choose(job, &slot, now)?;
            Some((idx, task, locality))
        })?;
        Some(self.launch(idx, task, locality, poll, poll_number, now))
    }

    /// The task of `job` the slot should run: a pending map (by locality, see the module
    /// comment), else a pending reduce once the maps are done, else a straggler's backup.
    fn choose(&self, job: &Job, slot: &Slot, now: Instant) -> Option<(TaskId, Option<Locality>)> {
        if job.phase == JobPhase::Commit {
            return None;
        }
        let usable = usable_executors(job, slot.live);
        if !usable.contains(&slot.executor) {
            return None;
        }
        let allowed = |task: &Task| may_run_on(task, slot.executor, &usable);
        let pending_maps = || {
            job.pending(TaskKind::Map)
                .iter()
                .map(|&i| &job.maps[i as usize])
                .filter(|t| allowed(t))
        };
        let locality = |t: &Task| self.locality(job, t.id.index, slot);
        if let Some(task) = pending_maps().find(|t| locality(t) == Locality::DataLocal) {
            return Some((task.id, Some(Locality::DataLocal)));
        }
        // Waiting cannot make a map local when no live executor holds its block (its holders
        // died): any slot takes it at once.
        let orphaned = |t: &Task| {
            let holders = &job.plan.splits[t.id.index as usize].locations;
            !holders.iter().any(|dn| slot.live.contains(&dn))
        };
        if let Some(task) = pending_maps().find(|t| orphaned(t)) {
            return Some((task.id, Some(locality(task))));
        }
        let waited = now.saturating_duration_since(job.last_local_launch);
        let wait = job.plan.settings.locality_wait;
        if waited >= wait {
            if let Some(task) = pending_maps().find(|t| locality(t) == Locality::RackLocal) {
                return Some((task.id, Some(Locality::RackLocal)));
            }
        }
        if waited >= wait.saturating_mul(2) {
            if let Some(task) = pending_maps().next() {
                return Some((task.id, Some(locality(task))));
            }
        }
        if job.phase == JobPhase::Reduce {
            let reduces = job.pending(TaskKind::Reduce).iter();
            if let Some(&i) = reduces
                .into_iter()
                .find(|&&i| allowed(&job.reduces[i as usize]))
            {
                return Some((job.reduces[i as usize].id, None));
            }
        }
        let backup = job.maps.iter().chain(&job.reduces).find(|t| {
            t.wants_backup && allowed(t) && t.running().all(|a| &a.executor != slot.executor)
        })?;
        let locality = (backup.id.kind == TaskKind::Map).then(|| locality(backup));
        Some((backup.id, locality))
    }

    fn locality(&self, job: &Job, map: u32, slot: &Slot) -> Locality {
        let locations = &job.plan.splits[map as usize].locations;
        if locations.contains(slot.executor) {
            Locality::DataLocal
        } else if locations
            .iter()
            .any(|dn| self.executors.rack_of(dn) == Some(slot.rack))
        {
            Locality::RackLocal
        } else {
            Locality::Remote
        }
    }

    fn launch(
        &mut self,
        idx: usize,
        task_id: TaskId,
        locality: Option<Locality>,
        poll: &ExecutorPoll,
        poll_number: u64,
        now: Instant,
    ) -> TaskAssignment {
        let executor = &poll.datanode;
        let job = &mut self.jobs[idx];
        let task = job.task(task_id);
        let number = task.attempts.len() as u32;
        let speculative = task.state == TaskState::Running;
        let id = job.id.attempt_id(task_id, number);
        job.task_mut(task_id).attempts.push(Attempt {
            id: id.clone(),
            executor: executor.clone(),
            addr: poll.addr,
            locality,
            started: now,
            ended: None,
            progress: 0.0,
            state: AttemptState::Running,
            counters: TaskCounters::default(),
        });
        job.set_state(task_id, TaskState::Running);
        if speculative {
            job.speculative_attempts += 1;
            // One backup per straggler: the next free slot elsewhere must not start another.
            job.task_mut(task_id).wants_backup = false;
        }
        if locality == Some(Locality::DataLocal) {
            job.last_local_launch = now;
        }
        tracing::debug!(attempt = %id, %executor, ?locality, speculative, "attempt launched");
        let key = AttemptKey {
            job: job.id.clone(),
            task: task_id,
            number,
            executor: executor.clone(),
        };
        let assignment = job.assignment(task_id, id.clone());
        self.attempts.insert(id.clone(), key);
        self.executors.add_attempt(executor, id, poll_number);
        assignment
    }
}

/// A map's split, or a reduce's map outputs: each map's winning attempt and where it ran.
pub(super) fn task_work(job: &Job, task: TaskId) -> TaskWork {
    match task.kind {
        TaskKind::Map => TaskWork::Map {
            split: job.plan.splits[task.index as usize].clone(),
        },
        TaskKind::Reduce => TaskWork::Reduce {
            map_outputs: job
                .maps
                .iter()
                .filter_map(|map| {
                    let winner = map.winner()?;
                    Some(MapOutputLocation {
                        map: map.id.index,
                        attempt: winner.id.clone(),
                        datanode: winner.executor.clone(),
                        addr: winner.addr,
                    })
                })
                .collect(),
        },
    }
}

/// Live executors not barred from `job` by repeated failures (all of them if every one is).
fn usable_executors<'a>(job: &Job, live: &[&'a DatanodeId]) -> Vec<&'a DatanodeId> {
    let failures = |e: &DatanodeId| job.node_failures.get(e).copied().unwrap_or(0);
    let usable: Vec<&DatanodeId> = live
        .iter()
        .copied()
        .filter(|e| failures(e) < NODE_FAILURE_LIMIT)
        .collect();
    if usable.is_empty() {
        live.to_vec()
    } else {
        usable
    }
}

/// A task avoids the executors it failed on while another usable one could run it.
fn may_run_on(task: &Task, executor: &DatanodeId, usable: &[&DatanodeId]) -> bool {
    !task.failed_on.contains(executor) || usable.iter().all(|e| task.failed_on.contains(*e))
}
