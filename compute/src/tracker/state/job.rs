//! One running job's bookkeeping: its plan, its tasks, and the status derived from them.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use granary_client::protocol::{
    AttemptId, JobCounters, JobId, JobPhase, JobSpec, JobState, JobStatus, TaskAssignment, TaskId,
    TaskKind,
};
use granary_client::{DatanodeId, Error, FsPath, RequestId};

use super::task::{Locality, Task, TaskState};
use crate::tracker::plan::JobPlan;

pub struct Job {
    pub id: JobId,
    pub request_id: RequestId,
    pub spec: JobSpec,
    pub submitted_ms: u64,
    pub plan: JobPlan,
    pub maps: Vec<Task>,
    pub reduces: Vec<Task>,
    pub pending_maps: BTreeSet<u32>,
    pub pending_reduces: BTreeSet<u32>,
    pub phase: JobPhase,
    pub started: Instant,
    /// Delay scheduling waits from here: the last data-local launch, or the start.
    pub last_local_launch: Instant,
    /// When every map last became done.
    pub maps_done_at: Option<Instant>,
    pub failed_attempts: u64,
    pub speculative_attempts: u64,
    /// Fetch failures reported as checksum mismatches.
    pub shuffle_checksum_failures: u64,
    /// Counted failures per executor; see `NODE_FAILURE_LIMIT`.
    pub node_failures: HashMap<DatanodeId, u32>,
}

impl Job {
    pub fn new(
        id: JobId,
        request_id: RequestId,
        spec: JobSpec,
        submitted_ms: u64,
        plan: JobPlan,
        now: Instant,
    ) -> Self {
        let tasks = |kind, n: u32| -> Vec<Task> {
            (0..n)
                .map(|index| Task::new(TaskId { kind, index }))
                .collect()
        };
        let maps = tasks(TaskKind::Map, plan.splits.len() as u32);
        let reduces = tasks(TaskKind::Reduce, plan.reducers);
        Job {
            pending_maps: (0..maps.len() as u32).collect(),
            pending_reduces: (0..reduces.len() as u32).collect(),
            maps,
            reduces,
            id,
            request_id,
            spec,
            submitted_ms,
            plan,
            phase: JobPhase::Map,
            started: now,
            last_local_launch: now,
            maps_done_at: None,
            failed_attempts: 0,
            speculative_attempts: 0,
            shuffle_checksum_failures: 0,
            node_failures: HashMap::new(),
        }
    }

    pub fn tasks(&self, kind: TaskKind) -> &[Task] {
        match kind {
            TaskKind::Map => &self.maps,
            TaskKind::Reduce => &self.reduces,
        }
    }

    pub fn tasks_mut(&mut self, kind: TaskKind) -> &mut [Task] {
        match kind {
            TaskKind::Map => &mut self.maps,
            TaskKind::Reduce => &mut self.reduces,
        }
    }

    pub fn task(&self, id: TaskId) -> &Task {
        &self.tasks(id.kind)[id.index as usize]
    }

    pub fn task_mut(&mut self, id: TaskId) -> &mut Task {
        &mut self.tasks_mut(id.kind)[id.index as usize]
    }

    pub fn pending(&self, kind: TaskKind) -> &BTreeSet<u32> {
        match kind {
            TaskKind::Map => &self.pending_maps,
            TaskKind::Reduce => &self.pending_reduces,
        }
    }

    /// Moves a task to `state`, keeping the pending sets in step.
    pub fn set_state(&mut self, id: TaskId, state: TaskState) {
        let pending = match id.kind {
            TaskKind::Map => &mut self.pending_maps,
            TaskKind::Reduce => &mut self.pending_reduces,
        };
        if state == TaskState::Pending {
            pending.insert(id.index);
        } else {
            pending.remove(&id.index);
        }
        let task = self.task_mut(id);
        task.state = state;
        if state != TaskState::Running {
            task.wants_backup = false;
        }
    }

    pub fn done(&self, kind: TaskKind) -> bool {
        self.tasks(kind)
            .iter()
            .all(|t| matches!(t.state, TaskState::Done(_)))
    }

    /// The phase the tasks' states call for.
    pub fn current_phase(&self) -> JobPhase {
        if !self.done(TaskKind::Map) {
            JobPhase::Map
        } else if !self.done(TaskKind::Reduce) {
            JobPhase::Reduce
        } else {
            JobPhase::Commit
        }
    }

    /// Reduces, and the maps of a map-only job, write a part file to commit.
    pub fn commits(&self, kind: TaskKind) -> bool {
        kind == TaskKind::Reduce || self.plan.reducers == 0
    }

    /// `m_000003 (/logs/a.log bytes 0+134217728)` or `r_000001 (partition 1)`.
    pub fn describe(&self, id: TaskId) -> String {
        match id.kind {
            TaskKind::Map => {
                let split = &self.plan.splits[id.index as usize];
                format!(
                    "{id} ({} bytes {}+{})",
                    split.file, split.offset, split.length
                )
            }
            TaskKind::Reduce => format!("{id} (partition {})", id.index),
        }
    }

    /// Where an attempt writes its part file, and where the winner's goes.
    pub fn part_paths(&self, id: TaskId, attempt: &AttemptId) -> Result<(FsPath, FsPath), Error> {
        let name = match id.kind {
            TaskKind::Map => format!("part-m-{:05}", id.index),
            TaskKind::Reduce => format!("part-r-{:05}", id.index),
        };
        let output = &self.spec.output;
        let from = output.join("_temporary")?.join(&attempt.0)?.join(&name)?;
        Ok((from, output.join(&name)?))
    }

    pub fn assignment(&self, task: TaskId, attempt: AttemptId) -> TaskAssignment {
        TaskAssignment {
            job: self.id.clone(),
            task,
            attempt,
            program: self.spec.program.clone(),
            reducers: self.plan.reducers,
            partitioner: self.plan.partitioner.clone(),
            sort_buffer: self.plan.settings.sort_buffer,
            top: self.spec.top,
            output: self.spec.output.clone(),
            output_replication: self.spec.output_replication,
            work: super::assign::task_work(self, task),
            submitter: self.spec.submitter.clone(),
        }
    }

    /// The job's status as of `now`, as a running job (the caller sets the end).
    pub fn status(&self, now: Instant) -> JobStatus {
        let done = |tasks: &[Task]| {
            tasks
                .iter()
                .filter(|t| matches!(t.state, TaskState::Done(_)))
                .count() as u32
        };
        JobStatus {
            id: self.id.clone(),
            state: JobState::Running,
            phase: self.phase,
            spec: self.spec.clone(),
            output: self.spec.output.clone(),
            maps_total: self.maps.len() as u32,
            maps_done: done(&self.maps),
            reduces_total: self.reduces.len() as u32,
            reduces_done: done(&self.reduces),
            error: None,
            submitted_ms: self.submitted_ms,
            finished_ms: None,
            counters: self.counters(now),
        }
    }

    /// The winners' counters, the maps' locality, and the phase times.
    fn counters(&self, now: Instant) -> JobCounters {
        let mut counters = JobCounters::default();
        for task in self.maps.iter().chain(&self.reduces) {
            let Some(winner) = task.winner() else {
                continue;
            };
            counters.tasks.add(&winner.counters);
            match winner.locality {
                Some(Locality::DataLocal) => counters.data_local_maps += 1,
                Some(Locality::RackLocal) => counters.rack_local_maps += 1,
                Some(Locality::Remote) => counters.remote_maps += 1,
                None => {}
            }
        }
        counters.failed_attempts = self.failed_attempts;
        counters.speculative_attempts = self.speculative_attempts;
        counters.shuffle_checksum_failures = self.shuffle_checksum_failures;
        let ms = |d: Duration| d.as_millis() as u64;
        let maps_end = self.maps_done_at.unwrap_or(now);
        counters.map_phase_ms = ms(maps_end.saturating_duration_since(self.started));
        counters.reduce_phase_ms = ms(now.saturating_duration_since(maps_end));
        counters.total_ms = ms(now.saturating_duration_since(self.started));
        counters
    }
}
