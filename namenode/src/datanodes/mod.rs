//! The datanode manager: who is registered, where, how full, when last heard from, whether it
//! is alive, its administrative state, and the commands waiting for it.

pub mod admin_state;
mod commands;
mod registration;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use granary_client::protocol::{
    DatanodeCommand, DatanodeInfo, DatanodeReport, DatanodeState, StorageReport,
};
use granary_client::{BlockId, DatanodeId, Error, ErrorKind};
use tokio::sync::Notify;

pub use admin_state::AdminState;
use commands::CommandQueue;
pub use commands::MAX_DELETES_PER_REPLY;

/// Whether the namenode believes the datanode's process is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    /// Gone quiet during a maintenance window: its replicas stay in the block map and keep
    /// counting, but readers are not sent to it.
    Away,
    /// Silent for `dead_after`, or its process is gone: its replicas left the block map.
    Dead,
}

#[derive(Debug)]
pub struct Datanode {
    pub info: DatanodeInfo,
    pub storage: StorageReport,
    pub last_heartbeat: Instant,
    pub active_transfers: u32,
    /// Bytes of blocks placed on this node since its last heartbeat: its storage report does
    /// not show them yet, and placement must not keep choosing the same node meanwhile.
    pub scheduled_bytes: u64,
    pub liveness: Liveness,
    pub admin: AdminState,
    /// Changes at every registration, so a lifeline that ends after the node registered
    /// again (it restarted) cannot kill the new registration.
    pub generation: u64,
    commands: CommandQueue,
}

impl Datanode {
    pub fn is_alive(&self) -> bool {
        self.liveness == Liveness::Alive
    }

    /// Alive and in service: may take new replicas.
    pub fn is_in_service(&self) -> bool {
        self.is_alive() && self.admin == AdminState::InService
    }

    /// The state operators see. Decommissioned and maintenance nodes show as such whether
    /// they are running or not; a node away in maintenance is not dead.
    pub fn state(&self) -> DatanodeState {
        match (self.admin, self.liveness) {
            (AdminState::Decommissioned, _) => DatanodeState::Decommissioned,
            (AdminState::Maintenance { .. }, _) => DatanodeState::Maintenance,
            (_, Liveness::Dead | Liveness::Away) => DatanodeState::Dead,
            (AdminState::Decommissioning, Liveness::Alive) => DatanodeState::Decommissioning,
            (AdminState::InService, Liveness::Alive) => DatanodeState::Live,
        }
    }

    /// Used fraction of the disk, for choosing which excess replica to delete.
    pub fn fullness(&self) -> f64 {
        if self.storage.capacity == 0 {
            return 0.0;
        }
        self.storage.used as f64 / self.storage.capacity as f64
    }

    /// New replicas it reported finalized: counted as used at once, so the report does not
    /// show blocks without their bytes until the next heartbeat restates the storage. They
    /// were placed here, so they leave `scheduled_bytes`.
    pub fn replicas_landed(&mut self, bytes: u64) {
        self.storage.used = self.storage.used.saturating_add(bytes);
        self.storage.remaining = self.storage.remaining.saturating_sub(bytes);
        self.scheduled_bytes = self.scheduled_bytes.saturating_sub(bytes);
    }

    pub fn report(&self, blocks: u64, now: Instant) -> DatanodeReport {
        DatanodeReport {
            info: self.info.clone(),
            state: self.state(),
            capacity: self.storage.capacity,
            used: self.storage.used,
            remaining: self.storage.remaining,
            blocks,
            seconds_since_heartbeat: now
                .saturating_duration_since(self.last_heartbeat)
                .as_secs_f64(),
            maintenance_until_ms: self.admin.maintenance_until_ms(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    New,
    /// Known and alive; it restarted, or its address or rack changed.
    Refreshed,
    /// Known but away (maintenance) or declared dead; running again.
    Returned,
}

#[derive(Debug)]
pub struct DatanodeManager {
    nodes: BTreeMap<DatanodeId, Datanode>,
    dead_after: Duration,
    /// Persisted admin states of datanodes not registered since the namenode started.
    remembered: HashMap<DatanodeId, AdminState>,
    next_generation: u64,
    /// Safe mode: deletions are queued but not handed out until it ends.
    hold_deletes: bool,
    /// Nodes declared dead since the job tracker last asked: their executors are lost too.
    deaths: Vec<DatanodeId>,
}

impl DatanodeManager {
    pub fn new(dead_after: Duration, remembered: HashMap<DatanodeId, AdminState>) -> Self {
        DatanodeManager {
            nodes: BTreeMap::new(),
            dead_after,
            remembered,
            next_generation: 1,
            hold_deletes: false,
            deaths: Vec::new(),
        }
    }

    /// The node, if registered and not declared dead; `UnknownDatanode` otherwise.
    pub fn reporting_mut(&mut self, id: &DatanodeId) -> Result<&mut Datanode, Error> {
        match self.nodes.get_mut(id) {
            Some(node) if node.liveness != Liveness::Dead => Ok(node),
            Some(_) => Err(Error::new(
                ErrorKind::UnknownDatanode,
                format!(
                    "datanode {id} was declared dead; register again and send a full block report"
                ),
            )),
            None => Err(unknown(id)),
        }
    }

    pub fn get(&self, id: &DatanodeId) -> Option<&Datanode> {
        self.nodes.get(id)
    }

    pub fn get_mut(&mut self, id: &DatanodeId) -> Option<&mut Datanode> {
        self.nodes.get_mut(id)
    }

    pub fn is_alive(&self, id: &DatanodeId) -> bool {
        self.nodes.get(id).is_some_and(Datanode::is_alive)
    }

    /// All registered nodes, sorted by id.
    pub fn all(&self) -> impl Iterator<Item = &Datanode> {
        self.nodes.values()
    }

    /// Nodes that may take new replicas.
    pub fn in_service(&self) -> impl Iterator<Item = &Datanode> {
        self.nodes.values().filter(|n| n.is_in_service())
    }

    /// Queues a command for the node's next heartbeat or long-poll (dropped unless the node
    /// is alive: a node coming back reports in full, and the answer to that report deletes
    /// whatever it should not hold).
    pub fn queue(&mut self, id: &DatanodeId, command: DatanodeCommand) {
        if let Some(node) = self.nodes.get_mut(id).filter(|n| n.is_alive()) {
            node.commands.push(command);
        }
    }

    pub fn queue_delete(&mut self, id: &DatanodeId, block: BlockId) {
        let blocks = vec![block];
        self.queue(id, DatanodeCommand::Delete { blocks });
    }

    /// The node's pending commands, for a long-poll answer.
    pub fn take_commands(&mut self, id: &DatanodeId) -> Result<Vec<DatanodeCommand>, Error> {
        let hold = self.hold_deletes;
        Ok(self.reporting_mut(id)?.commands.take(hold))
    }

    /// What a long-poll of this node waits on, and the node's generation.
    pub fn poll_waker(&mut self, id: &DatanodeId) -> Result<(Arc<Notify>, u64), Error> {
        let node = self.reporting_mut(id)?;
        Ok((node.commands.waker(), node.generation))
    }

    /// Safe mode holds deletions back; releasing them wakes the nodes that have some.
    pub fn set_hold_deletes(&mut self, hold: bool) {
        self.hold_deletes = hold;
        if !hold {
            for node in self.nodes.values().filter(|n| n.commands.has_deletes()) {
                node.commands.wake();
            }
        }
    }

    pub fn add_scheduled(&mut self, id: &DatanodeId, bytes: u64) {
        if let Some(node) = self.nodes.get_mut(id) {
            node.scheduled_bytes = node.scheduled_bytes.saturating_add(bytes);
        }
    }

    /// Alive nodes silent for `dead_after`.
    pub fn silent(&self, now: Instant) -> Vec<DatanodeId> {
        self.nodes
            .values()
            .filter(|n| n.is_alive())
            .filter(|n| now.saturating_duration_since(n.last_heartbeat) >= self.dead_after)
            .map(|n| n.info.id.clone())
            .collect()
    }

    /// Marks a node away or dead. A dead node's pending commands are dropped (it reports in
    /// full when it comes back) and its long-poll is woken to learn it must register again.
    pub fn set_liveness(&mut self, id: &DatanodeId, liveness: Liveness) {
        if let Some(node) = self.nodes.get_mut(id) {
            let died = liveness == Liveness::Dead && node.liveness != Liveness::Dead;
            node.liveness = liveness;
            if liveness == Liveness::Dead {
                node.commands.clear();
                node.scheduled_bytes = 0;
            }
            if died {
                self.deaths.push(id.clone());
            }
            node.commands.wake();
        }
    }

    /// The datanodes declared dead since the last call.
    pub fn take_deaths(&mut self) -> Vec<DatanodeId> {
        std::mem::take(&mut self.deaths)
    }

    pub fn set_admin(&mut self, id: &DatanodeId, admin: AdminState) {
        if let Some(node) = self.nodes.get_mut(id) {
            node.admin = admin;
        }
    }
}

fn unknown(id: &DatanodeId) -> Error {
    Error::new(
        ErrorKind::UnknownDatanode,
        format!("datanode {id} is not registered"),
    )
}
