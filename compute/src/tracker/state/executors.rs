//! The executors the tracker knows: their racks and slots, when each last polled, and the
//! attempts the tracker believes each runs. (Addresses come with every poll, set from the
//! datanode's registration by `JobTracker::poll`, and are used there.)

use std::collections::HashMap;
use std::time::{Duration, Instant};

use granary_client::protocol::{AttemptId, ExecutorPoll};
use granary_client::DatanodeId;

pub struct Executor {
    pub rack: String,
    /// Task slots, as its last poll said.
    pub slots: u32,
    pub last_poll: Instant,
    /// Polls received so far; an attempt is tagged with the poll whose answer carried it.
    pub polls: u64,
    /// Running attempts assigned here, with the poll that carried each.
    pub attempts: HashMap<AttemptId, u64>,
}

#[derive(Default)]
pub struct Executors {
    table: HashMap<DatanodeId, Executor>,
}

impl Executors {
    /// Records a poll (adding the executor if it is new or was lost) and returns its number.
    pub fn record_poll(&mut self, poll: &ExecutorPoll, now: Instant) -> u64 {
        let executor = self.table.entry(poll.datanode.clone()).or_insert_with(|| {
            tracing::info!(executor = %poll.datanode, addr = %poll.addr, "executor joined");
            Executor {
                rack: poll.rack.clone(),
                slots: poll.slots,
                last_poll: now,
                polls: 0,
                attempts: HashMap::new(),
            }
        });
        executor.rack.clone_from(&poll.rack);
        executor.slots = poll.slots;
        executor.last_poll = now;
        executor.polls += 1;
        executor.polls
    }

    pub fn get(&self, id: &DatanodeId) -> Option<&Executor> {
        self.table.get(id)
    }

    /// Executors that polled within `dead_after`.
    pub fn live(&self, now: Instant, dead_after: Duration) -> Vec<&DatanodeId> {
        self.table
            .iter()
            .filter(|(_, e)| now.saturating_duration_since(e.last_poll) < dead_after)
            .map(|(id, _)| id)
            .collect()
    }

    /// Task slots of the executors that polled within `dead_after`.
    pub fn live_slots(&self, now: Instant, dead_after: Duration) -> u32 {
        self.table
            .values()
            .filter(|e| now.saturating_duration_since(e.last_poll) < dead_after)
            .map(|e| e.slots)
            .sum()
    }

    pub fn rack_of(&self, id: &DatanodeId) -> Option<&str> {
        self.table.get(id).map(|e| e.rack.as_str())
    }

    pub fn add_attempt(&mut self, id: &DatanodeId, attempt: AttemptId, poll: u64) {
        if let Some(executor) = self.table.get_mut(id) {
            executor.attempts.insert(attempt, poll);
        }
    }

    pub fn remove_attempt(&mut self, id: &DatanodeId, attempt: &AttemptId) {
        if let Some(executor) = self.table.get_mut(id) {
            executor.attempts.remove(attempt);
        }
    }

    /// Removes the executors silent for `dead_after`, with the attempts they were running.
    pub fn expire(
        &mut self,
        now: Instant,
        dead_after: Duration,
    ) -> Vec<(DatanodeId, Vec<AttemptId>)> {
        let dead: Vec<DatanodeId> = self
            .table
            .iter()
            .filter(|(_, e)| now.saturating_duration_since(e.last_poll) >= dead_after)
            .map(|(id, _)| id.clone())
            .collect();
        dead.into_iter()
            .filter_map(|id| {
                let attempts = self.remove(&id)?;
                Some((id, attempts))
            })
            .collect()
    }

    /// Forgets an executor, returning the attempts it was running; `None` if it was unknown.
    pub fn remove(&mut self, id: &DatanodeId) -> Option<Vec<AttemptId>> {
        let executor = self.table.remove(id)?;
        Some(executor.attempts.into_keys().collect())
    }
}
