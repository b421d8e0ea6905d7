//! Registration and heartbeats: who a datanode is, and where.

use std::net::IpAddr;
use std::time::Instant;

use granary_client::protocol::{DatanodeCommand, DatanodeInfo, StorageReport};
use granary_client::{DatanodeId, Error, ErrorKind};

use super::{CommandQueue, Datanode, DatanodeManager, Liveness, Registration};

impl DatanodeManager {
    /// Registers a datanode at `info.addr`. An id registered and alive at another address is
    /// refused (`datanode_conflict`) until that node is declared dead: a second process with
    /// a live node's id must not take over its entry.
    pub fn register(
        &mut self,
        info: DatanodeInfo,
        storage: StorageReport,
        now: Instant,
    ) -> Result<Registration, Error> {
        if let Some(node) = self.nodes.get(&info.id) {
            if node.is_alive() && node.info.addr != info.addr {
                return Err(Error::new(
                    ErrorKind::DatanodeConflict,
                    format!(
                        "datanode {} is registered and alive at {}; a registration from {} is \
                         refused until that node is declared dead",
                        info.id, node.info.addr, info.addr
                    ),
                ));
            }
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        Ok(match self.nodes.get_mut(&info.id) {
            Some(node) => {
                let outcome = if node.is_alive() {
                    Registration::Refreshed
                } else {
                    Registration::Returned
                };
                node.info = info;
                node.storage = storage;
                node.last_heartbeat = now;
                node.scheduled_bytes = 0;
                node.liveness = Liveness::Alive;
                node.generation = generation;
                // Polls of the previous incarnation learn that it is gone.
                node.commands.wake();
                outcome
            }
            None => {
                let admin = self.remembered.remove(&info.id).unwrap_or_default();
                let node = Datanode {
                    info: info.clone(),
                    storage,
                    last_heartbeat: now,
                    active_transfers: 0,
                    scheduled_bytes: 0,
                    liveness: Liveness::Alive,
                    admin,
                    generation,
                    commands: CommandQueue::default(),
                };
                self.nodes.insert(info.id, node);
                Registration::New
            }
        })
    }

    /// The node, if registered, not declared dead, and `from` is the host it registered
    /// from; `UnknownDatanode` otherwise. Every call a datanode makes under its id goes
    /// through this, so no other host can report, heartbeat or take commands in its name.
    pub fn reporting_from(
        &mut self,
        id: &DatanodeId,
        from: IpAddr,
    ) -> Result<&mut Datanode, Error> {
        let from = from.to_canonical();
        let node = self.reporting_mut(id)?;
        if node.info.addr.ip() != from {
            return Err(Error::new(
                ErrorKind::UnknownDatanode,
                format!(
                    "datanode {id} is registered at {}, not at {from}; register again",
                    node.info.addr
                ),
            ));
        }
        Ok(node)
    }

    /// Records a heartbeat sent from `from` and hands back the node's pending commands. A
    /// node away in maintenance is alive again. A node the namenode does not know, or
    /// declared dead (its replicas left the block map), must register again and send a full
    /// block report; so must one heartbeating from another host than it registered from,
    /// whose heartbeats do not keep the registered entry alive.
    pub fn heartbeat(
        &mut self,
        id: &DatanodeId,
        from: IpAddr,
        storage: StorageReport,
        active_transfers: u32,
        now: Instant,
    ) -> Result<Vec<DatanodeCommand>, Error> {
        let hold = self.hold_deletes;
        let node = self.reporting_from(id, from)?;
        node.storage = storage;
        node.active_transfers = active_transfers;
        node.last_heartbeat = now;
        node.scheduled_bytes = 0;
        node.liveness = Liveness::Alive;
        Ok(node.commands.take(hold))
    }
}
