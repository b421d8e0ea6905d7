//! The commands waiting for one datanode, and the wake-up of its command long-poll. A queued
//! command goes to exactly one delivery: whichever of the next heartbeat reply and the
//! long-poll takes it first.

use std::collections::BTreeSet;
use std::sync::Arc;

use granary_client::protocol::DatanodeCommand;
use granary_client::BlockId;
use tokio::sync::Notify;

/// Block deletions handed to one datanode per reply, so one huge delete cannot produce a reply
/// (and a burst of disk work) of unbounded size; the rest follow in the next replies.
pub const MAX_DELETES_PER_REPLY: usize = 10_000;

#[derive(Debug, Default)]
pub struct CommandQueue {
    /// Deletions are kept as a set: they merge into one command and repeat harmlessly.
    deletes: BTreeSet<BlockId>,
    /// Every other command, in order.
    other: Vec<DatanodeCommand>,
    /// Wakes a waiting long-poll. `notify_one` keeps a permit when nobody waits, so a command
    /// queued between a poll's check and its wait is never missed.
    wake: Arc<Notify>,
}

impl CommandQueue {
    pub fn push(&mut self, command: DatanodeCommand) {
        match command {
            DatanodeCommand::Delete { blocks } => self.deletes.extend(blocks),
            other => self.other.push(other),
        }
        self.wake.notify_one();
    }

    /// The commands for one reply, deletions first (at most [`MAX_DELETES_PER_REPLY`]), or
    /// none while `hold_deletes` (safe mode).
    pub fn take(&mut self, hold_deletes: bool) -> Vec<DatanodeCommand> {
        let mut commands = Vec::new();
        if !hold_deletes && !self.deletes.is_empty() {
            let rest = match self.deletes.iter().nth(MAX_DELETES_PER_REPLY) {
                Some(&first_left) => self.deletes.split_off(&first_left),
                None => BTreeSet::new(),
            };
            let blocks = std::mem::replace(&mut self.deletes, rest)
                .into_iter()
                .collect();
            commands.push(DatanodeCommand::Delete { blocks });
        }
        commands.append(&mut self.other);
        commands
    }

    pub fn has_deletes(&self) -> bool {
        !self.deletes.is_empty()
    }

    pub fn clear(&mut self) {
        self.deletes.clear();
        self.other.clear();
    }

    /// Wakes the long-poll without a command (the node died, or deletions were released).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}
