//! A task and its attempts: which attempt runs where, how each ended, which one won.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use granary_client::protocol::{AttemptId, TaskCounters, TaskId};
use granary_client::DatanodeId;

/// Where a task is. `Committing` and `Done` name the winning attempt (its index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    Pending,
    /// At least one attempt is running.
    Running,
    /// An attempt succeeded; its part file is being renamed into the output directory.
    Committing(u32),
    Done(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptState {
    Running,
    Succeeded,
    Failed,
    /// Stopped by the tracker: its job ended or another attempt won.
    Killed,
}

/// How close a map attempt ran to its split's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locality {
    DataLocal,
    RackLocal,
    Remote,
}

#[derive(Clone, Debug)]
pub struct Attempt {
    pub id: AttemptId,
    pub executor: DatanodeId,
    /// The executor's address, where a map's output is fetched.
    pub addr: SocketAddr,
    /// Maps only.
    pub locality: Option<Locality>,
    pub started: Instant,
    pub ended: Option<Instant>,
    pub progress: f64,
    pub state: AttemptState,
    /// From its success report.
    pub counters: TaskCounters,
}

impl Attempt {
    /// Progress per second; finished attempts count as fully done.
    fn rate(&self, now: Instant) -> f64 {
        let end = self.ended.unwrap_or(now);
        let elapsed = end.saturating_duration_since(self.started);
        let progress = if self.state == AttemptState::Running {
            self.progress
        } else {
            1.0
        };
        progress / elapsed.max(Duration::from_millis(1)).as_secs_f64()
    }
}

#[derive(Clone, Debug)]
pub struct Task {
    pub id: TaskId,
    pub state: TaskState,
    /// Every attempt so far; attempt `n` is `attempts[n]`.
    pub attempts: Vec<Attempt>,
    /// Failed attempts that count against the job's `max_attempts`.
    pub failures: u32,
    /// Executors an attempt of this task failed on; avoided while others are alive.
    pub failed_on: HashSet<DatanodeId>,
    pub last_error: Option<String>,
    /// A straggler: the next free slot elsewhere runs a backup attempt.
    pub wants_backup: bool,
}

impl Task {
    pub fn new(id: TaskId) -> Self {
        Task {
            id,
            state: TaskState::Pending,
            attempts: Vec::new(),
            failures: 0,
            failed_on: HashSet::new(),
            last_error: None,
            wants_backup: false,
        }
    }

    pub fn running(&self) -> impl Iterator<Item = &Attempt> {
        self.attempts
            .iter()
            .filter(|a| a.state == AttemptState::Running)
    }

    /// The attempt whose output is the task's.
    pub fn winner(&self) -> Option<&Attempt> {
        match self.state {
            TaskState::Done(n) => self.attempts.get(n as usize),
            _ => None,
        }
    }

    /// The task's progress rate for speculation: its winner's, or its best running attempt's.
    pub fn rate(&self, now: Instant) -> Option<f64> {
        match self.state {
            TaskState::Done(n) | TaskState::Committing(n) => {
                self.attempts.get(n as usize).map(|a| a.rate(now))
            }
            TaskState::Running => self.running().map(|a| a.rate(now)).reduce(f64::max),
            TaskState::Pending => None,
        }
    }
}
