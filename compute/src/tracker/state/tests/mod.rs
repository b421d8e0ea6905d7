//! The state machine driven by hand with a fake clock: executors are polls, attempts end by
//! reports, namespace work is "performed" by the test.

mod failures;
mod recovery;
mod scheduling;

use std::time::{Duration, Instant};

use granary_client::protocol::{
    AttemptId, AttemptProgress, Builtin, ExecutorPoll, ExecutorPollResponse, InputSplit, JobId,
    JobProgram, JobSpec, JobStatus, Partitioner, TaskCounters, TaskOutcome, TaskReport,
};
use granary_client::{BlockId, DatanodeId, FsPath, RequestId};

use super::{NewJob, OutputWork, TrackerState};
use crate::tracker::config::TrackerConfig;
use crate::tracker::plan::{validate, JobPlan};

pub fn config() -> TrackerConfig {
    TrackerConfig {
        locality_wait: Duration::from_secs(3),
        executor_dead_after: Duration::from_secs(10),
        speculation_min_runtime: Duration::from_secs(5),
        ..TrackerConfig::default()
    }
}

pub fn dn(name: &str) -> DatanodeId {
    DatanodeId(name.to_string())
}

/// Split `i` of `/in/a.log`, 100 bytes per block, on `locations`.
pub fn split(i: u64, locations: &[&str]) -> InputSplit {
    InputSplit {
        file: FsPath::parse("/in/a.log").unwrap(),
        file_length: 1000,
        offset: i * 100,
        length: 100,
        block: BlockId(i + 1),
        locations: locations.iter().map(|l| dn(l)).collect(),
    }
}

/// A wordcount job writing `output`, with a 1 MiB sort buffer.
pub fn wordcount(output: &str, reducers: u32) -> JobSpec {
    JobSpec {
        reducers: Some(reducers),
        top: Some(5),
        output_replication: Some(2),
        sort_buffer: Some(1 << 20),
        ..JobSpec::new(
            vec!["/in".into()],
            FsPath::parse(output).unwrap(),
            JobProgram::Builtin(Builtin::Wordcount),
        )
    }
}

pub struct Harness {
    pub state: TrackerState,
    pub t0: Instant,
}

impl Harness {
    pub fn new(config: TrackerConfig) -> Self {
        Harness {
            state: TrackerState::new(config, 1_700_000_000_000, Vec::new()),
            t0: Instant::now(),
        }
    }

    pub fn at(&self, secs: f64) -> Instant {
        self.t0 + Duration::from_secs_f64(secs)
    }

    /// Submits a wordcount job over `splits` with `reducers` reduces, at time 0.
    pub fn submit(&mut self, output: &str, splits: Vec<InputSplit>, reducers: u32) -> JobId {
        self.submit_spec(wordcount(output, reducers), splits)
    }

    /// Submits `spec` over `splits` at time 0, with the settings validation gives it.
    pub fn submit_spec(&mut self, spec: JobSpec, splits: Vec<InputSplit>) -> JobId {
        let settings = validate(&spec, &self.state.config).unwrap();
        let plan = JobPlan {
            splits,
            reducers: spec.reducers.unwrap_or(1),
            partitioner: Partitioner::Hash,
            settings,
        };
        let new = NewJob {
            request_id: RequestId::new(),
            spec,
            plan,
            submitted_ms: 1_700_000_000_000,
        };
        self.state.register(new, self.t0).unwrap().id
    }

    /// A poll from `name` (rack `/r1` unless the name ends in `-r2`) running `running`.
    pub fn poll(
        &mut self,
        name: &str,
        slots: u32,
        running: &[&AttemptId],
        secs: f64,
    ) -> ExecutorPollResponse {
        let rack = if name.ends_with("-r2") { "/r2" } else { "/r1" };
        let poll = ExecutorPoll {
            datanode: dn(name),
            addr: ([127, 0, 0, 1], 9000 + name.len() as u16).into(),
            rack: rack.to_string(),
            slots,
            running: running
                .iter()
                .map(|a| AttemptProgress {
                    attempt: (*a).clone(),
                    progress: 0.5,
                })
                .collect(),
        };
        self.state.poll(poll, self.at(secs))
    }

    /// The attempts launched by a poll from `name` with `slots` free slots.
    pub fn launch_all(&mut self, name: &str, slots: u32, secs: f64) -> Vec<AttemptId> {
        let answer = self.poll(name, slots, &[], secs);
        answer.launch.into_iter().map(|a| a.attempt).collect()
    }

    /// One attempt launched by a poll from `name` with one free slot.
    pub fn launch_one(&mut self, name: &str, secs: f64) -> AttemptId {
        let answer = self.poll(name, 1, &[], secs);
        assert_eq!(answer.launch.len(), 1, "{name} got {:?}", answer.launch);
        answer.launch[0].attempt.clone()
    }

    pub fn report(
        &mut self,
        job: &JobId,
        attempt: &AttemptId,
        name: &str,
        outcome: TaskOutcome,
        secs: f64,
    ) {
        let report = TaskReport {
            datanode: dn(name),
            job: job.clone(),
            attempt: attempt.clone(),
            outcome,
        };
        self.state.report(report, self.at(secs));
    }

    pub fn succeed(&mut self, job: &JobId, attempt: &AttemptId, name: &str, secs: f64) {
        let counters = TaskCounters {
            map_input_records: 10,
            ..TaskCounters::default()
        };
        self.report(
            job,
            attempt,
            name,
            TaskOutcome::Succeeded { counters },
            secs,
        );
    }

    pub fn fail(&mut self, job: &JobId, attempt: &AttemptId, name: &str, secs: f64) {
        let error = "command `false` exited with status 1".to_string();
        self.report(job, attempt, name, TaskOutcome::Failed { error }, secs);
    }

    /// Performs every piece of output work successfully; returns what was done.
    pub fn perform_work(&mut self, secs: f64) -> Vec<OutputWork> {
        let mut done = Vec::new();
        for _ in 0..3 {
            let work = self.state.take_output_work(None, self.at(secs));
            if work.is_empty() {
                break;
            }
            for item in work {
                self.state
                    .output_work_finished(&item, Ok(()), self.at(secs));
                done.push(item);
            }
        }
        done
    }

    pub fn status(&self, job: &JobId, secs: f64) -> JobStatus {
        self.state.status(job, self.at(secs)).unwrap()
    }
}
