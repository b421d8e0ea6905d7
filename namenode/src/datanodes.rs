//! The datanode manager: who is registered, where, how full, when last heard from, and the
//! commands waiting for each node's next heartbeat.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use granary_client::protocol::{DatanodeCommand, DatanodeInfo, DatanodeState, StorageReport};
use granary_client::{BlockId, DatanodeId, Error, ErrorKind};

/// Block deletions handed to one datanode per reply, so one huge delete cannot produce a reply
/// (and a burst of disk work) of unbounded size; the rest follow in the next heartbeats.
pub const MAX_DELETES_PER_REPLY: usize = 10_000;

#[derive(Debug)]
pub struct Datanode {
    pub info: DatanodeInfo,
    pub storage: StorageReport,
    pub last_heartbeat: Instant,
    pub active_transfers: u32,
    /// Bytes of blocks placed on this node since its last heartbeat: its storage report does
    /// not show them yet, and placement must not keep choosing the same node meanwhile.
    pub scheduled_bytes: u64,
    pub state: DatanodeState,
    /// Deletions are kept as a set: they merge into one command and repeat harmlessly.
    pending_deletes: BTreeSet<BlockId>,
    /// Every other command, in order.
    pending_other: Vec<DatanodeCommand>,
}

impl Datanode {
    pub fn is_live(&self) -> bool {
        self.state == DatanodeState::Live
    }

    /// The commands for one reply, deletions first, at most [`MAX_DELETES_PER_REPLY`] of them.
    fn take_commands(&mut self) -> Vec<DatanodeCommand> {
        let mut commands = Vec::new();
        if !self.pending_deletes.is_empty() {
            let rest = match self.pending_deletes.iter().nth(MAX_DELETES_PER_REPLY) {
                Some(&first_left) => self.pending_deletes.split_off(&first_left),
                None => BTreeSet::new(),
            };
            let blocks = std::mem::replace(&mut self.pending_deletes, rest)
                .into_iter()
                .collect();
            commands.push(DatanodeCommand::Delete { blocks });
        }
        commands.append(&mut self.pending_other);
        commands
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    New,
    /// Known and live; its address or rack may have changed.
    Refreshed,
    /// Known but declared dead; live again.
    Revived,
}

#[derive(Debug)]
pub struct DatanodeManager {
    nodes: BTreeMap<DatanodeId, Datanode>,
    dead_after: Duration,
}

impl DatanodeManager {
    pub fn new(dead_after: Duration) -> Self {
        DatanodeManager {
            nodes: BTreeMap::new(),
            dead_after,
        }
    }

    pub fn register(
        &mut self,
        info: DatanodeInfo,
        storage: StorageReport,
        now: Instant,
    ) -> Registration {
        match self.nodes.get_mut(&info.id) {
            Some(node) => {
                let outcome = if node.is_live() {
                    Registration::Refreshed
                } else {
                    Registration::Revived
                };
                node.info = info;
                node.storage = storage;
                node.last_heartbeat = now;
                node.scheduled_bytes = 0;
                node.state = DatanodeState::Live;
                outcome
            }
            None => {
                let node = Datanode {
                    info: info.clone(),
                    storage,
                    last_heartbeat: now,
                    active_transfers: 0,
                    scheduled_bytes: 0,
                    state: DatanodeState::Live,
                    pending_deletes: BTreeSet::new(),
                    pending_other: Vec::new(),
                };
                self.nodes.insert(info.id, node);
                Registration::New
            }
        }
    }

    /// Records a heartbeat and hands back the node's pending commands. A node the namenode does
    /// not know, or declared dead (its replicas left the block map), must register again and
    /// send a full block report.
    pub fn heartbeat(
        &mut self,
        id: &DatanodeId,
        storage: StorageReport,
        active_transfers: u32,
        now: Instant,
    ) -> Result<Vec<DatanodeCommand>, Error> {
        let node = self.live_mut(id)?;
        node.storage = storage;
        node.active_transfers = active_transfers;
        node.last_heartbeat = now;
        node.scheduled_bytes = 0;
        Ok(node.take_commands())
    }

    /// The node, if registered and live; `UnknownDatanode` otherwise.
    pub fn live_mut(&mut self, id: &DatanodeId) -> Result<&mut Datanode, Error> {
        match self.nodes.get_mut(id) {
            Some(node) if node.is_live() => Ok(node),
            Some(_) => Err(Error::new(
                ErrorKind::UnknownDatanode,
                format!(
                    "datanode {id} was declared dead; register again and send a full block report"
                ),
            )),
            None => Err(Error::new(
                ErrorKind::UnknownDatanode,
                format!("datanode {id} is not registered"),
            )),
        }
    }

    pub fn get(&self, id: &DatanodeId) -> Option<&Datanode> {
        self.nodes.get(id)
    }

    pub fn is_live(&self, id: &DatanodeId) -> bool {
        self.nodes.get(id).is_some_and(Datanode::is_live)
    }

    /// All registered nodes, sorted by id.
    pub fn all(&self) -> impl Iterator<Item = &Datanode> {
        self.nodes.values()
    }

    pub fn live(&self) -> impl Iterator<Item = &Datanode> {
        self.nodes.values().filter(|n| n.is_live())
    }

    /// Queues a command for the node's next heartbeat (dropped if the node is not live).
    pub fn queue(&mut self, id: &DatanodeId, command: DatanodeCommand) {
        let Some(node) = self.nodes.get_mut(id).filter(|n| n.is_live()) else {
            return;
        };
        match command {
            DatanodeCommand::Delete { blocks } => node.pending_deletes.extend(blocks),
            other => node.pending_other.push(other),
        }
    }

    /// Queues the deletion of a replica for the node's next heartbeat.
    pub fn queue_delete(&mut self, id: &DatanodeId, block: BlockId) {
        self.queue(
            id,
            DatanodeCommand::Delete {
                blocks: vec![block],
            },
        );
    }

    pub fn add_scheduled(&mut self, id: &DatanodeId, bytes: u64) {
        if let Some(node) = self.nodes.get_mut(id) {
            node.scheduled_bytes = node.scheduled_bytes.saturating_add(bytes);
        }
    }

    /// Declares dead every live node silent for `dead_after`; returns them. Their pending
    /// commands are dropped: a node coming back registers and reports in full, and the answer
    /// to that report deletes whatever it should not hold.
    pub fn expire(&mut self, now: Instant) -> Vec<DatanodeId> {
        let mut dead = Vec::new();
        for (id, node) in self.nodes.iter_mut().filter(|(_, n)| n.is_live()) {
            if now.saturating_duration_since(node.last_heartbeat) >= self.dead_after {
                node.state = DatanodeState::Dead;
                node.pending_deletes.clear();
                node.pending_other.clear();
                node.scheduled_bytes = 0;
                dead.push(id.clone());
            }
        }
        dead
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use granary_client::protocol::DEFAULT_RACK;

    fn info(id: &str, port: u16) -> DatanodeInfo {
        DatanodeInfo {
            id: DatanodeId(id.into()),
            addr: ([127, 0, 0, 1], port).into(),
            rack: DEFAULT_RACK.into(),
        }
    }

    #[test]
    fn silent_nodes_die_and_must_register_again() {
        let start = Instant::now();
        let mut dns = DatanodeManager::new(Duration::from_secs(1));
        let a = DatanodeId("a".into());
        assert_eq!(
            dns.register(info("a", 1), StorageReport::default(), start),
            Registration::New
        );
        dns.queue_delete(&a, BlockId(4));
        let commands = dns
            .heartbeat(&a, StorageReport::default(), 0, start)
            .unwrap();
        assert_eq!(
            commands,
            vec![DatanodeCommand::Delete {
                blocks: vec![BlockId(4)]
            }]
        );
        assert!(dns
            .heartbeat(&a, StorageReport::default(), 0, start)
            .unwrap()
            .is_empty());

        assert!(dns.expire(start + Duration::from_millis(500)).is_empty());
        assert_eq!(dns.expire(start + Duration::from_secs(2)), vec![a.clone()]);
        let err = dns
            .heartbeat(&a, StorageReport::default(), 0, start)
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::UnknownDatanode);

        let moved = info("a", 2);
        assert_eq!(
            dns.register(moved.clone(), StorageReport::default(), start),
            Registration::Revived
        );
        assert_eq!(dns.get(&a).unwrap().info, moved);
        assert!(dns.is_live(&a));
        let unknown = dns.heartbeat(&DatanodeId("zz".into()), StorageReport::default(), 0, start);
        assert_eq!(unknown.unwrap_err().kind, ErrorKind::UnknownDatanode);
    }

    #[test]
    fn deletions_are_handed_out_in_bounded_replies() {
        let now = Instant::now();
        let mut dns = DatanodeManager::new(Duration::from_secs(1));
        let a = DatanodeId("a".into());
        dns.register(info("a", 1), StorageReport::default(), now);
        for block in 0..(MAX_DELETES_PER_REPLY as u64 + 1) {
            dns.queue_delete(&a, BlockId(block));
        }
        dns.queue_delete(&a, BlockId(0));
        let sizes = |commands: Vec<DatanodeCommand>| -> Vec<usize> {
            commands
                .into_iter()
                .map(|c| match c {
                    DatanodeCommand::Delete { blocks } => blocks.len(),
                    DatanodeCommand::Replicate { .. } => 0,
                })
                .collect()
        };
        let first = dns.heartbeat(&a, StorageReport::default(), 0, now).unwrap();
        assert_eq!(sizes(first), vec![MAX_DELETES_PER_REPLY]);
        let second = dns.heartbeat(&a, StorageReport::default(), 0, now).unwrap();
        assert_eq!(
            second,
            vec![DatanodeCommand::Delete {
                blocks: vec![BlockId(MAX_DELETES_PER_REPLY as u64)]
            }]
        );
        assert!(dns
            .heartbeat(&a, StorageReport::default(), 0, now)
            .unwrap()
            .is_empty());
    }
}
