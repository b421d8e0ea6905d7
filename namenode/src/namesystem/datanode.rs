//! Calls from datanodes (registration, heartbeats, block reports) and bad-replica reports from
//! readers and datanodes. Every call a datanode makes under its id, after registering, counts
//! only from the host it registered from (`DatanodeManager::reporting_from`): from anywhere
//! else it is `unknown_datanode` and changes nothing.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use granary_client::protocol::{
    BlockReceivedRequest, BlockReportRequest, BlockReportResponse, HeartbeatRequest,
    HeartbeatResponse, RegisterRequest, RegisterResponse, ReplicationFailedRequest,
    ReportBadReplicaRequest, DEFAULT_RACK,
};
use granary_client::{BlockId, DatanodeId, Digest, Error};

use super::{update_safe_mode, Namesystem, State};
use crate::blocks::{BlockMap, ReplicaVerdict, Reported};
use crate::datanodes::{admin_state, AdminState, Liveness, Registration};
use crate::namespace::Namespace;

/// How long the targets of a failed copy are passed over for that block: long enough for a
/// target that already holds the block to report it, short enough to retry a hiccup soon.
const FAILED_COPY_AVOIDANCE: std::time::Duration = std::time::Duration::from_secs(1);

impl Namesystem {
    /// Where a live datanode serves: the address its registration came from.
    pub fn datanode_addr(&self, id: &DatanodeId) -> Option<SocketAddr> {
        let state = self.lock();
        let node = state.datanodes.get(id).filter(|n| n.is_alive())?;
        Some(node.info.addr)
    }

    /// Registers the datanode that sent `req` from `peer`. Its address is `peer` with the
    /// port it advertises: the host it really talks from, never one it merely claims.
    pub fn register(
        &self,
        mut req: RegisterRequest,
        peer: IpAddr,
    ) -> Result<RegisterResponse, Error> {
        let id = req.datanode.id.clone();
        id.0.parse::<DatanodeId>()
            .map_err(Error::invalid_argument)?;
        if req.datanode.rack.trim().is_empty() {
            req.datanode.rack = DEFAULT_RACK.to_string();
        }
        req.datanode.addr = SocketAddr::new(peer.to_canonical(), req.datanode.addr.port());
        let info = req.datanode.clone();
        let mut maintenance_ended = false;
        let mut state = self.lock();
        let outcome = state
            .datanodes
            .register(req.datanode, req.storage, Instant::now());
        // A refusal is logged by `register_datanode`, which may still take the id over.
        let outcome = outcome?;
        let State {
            blocks,
            datanodes,
            replication,
            ..
        } = &mut *state;
        if outcome != Registration::New {
            // The previous incarnation's copies died with it: order them again now rather
            // than after the timeout.
            for block in replication.pending.forget_node(&id) {
                blocks.mark_dirty(block);
            }
            // A known node registering again has restarted: if that was what its maintenance
            // window was for, the window has served its purpose.
            if datanodes.get(&id).is_some_and(|n| n.admin.is_maintenance()) {
                datanodes.set_admin(&id, AdminState::InService);
                blocks.mark_datanode_dirty(&id);
                if let Err(e) = admin_state::store(self.store.db(), &id, AdminState::InService) {
                    tracing::warn!(datanode = %id, "cannot persist admin state: {}", e.message);
                }
                maintenance_ended = true;
                tracing::info!(datanode = %id, "datanode registered again; its maintenance is over");
            }
        }
        // More room for copies that found no target.
        replication.needed.unpark_all();
        drop(state);
        // Flushed now, not at the next checkpoint: a restart that forgot the end of the
        // maintenance would put the node back in it, and its blocks out of healing's reach.
        if maintenance_ended {
            if let Err(e) = self.store.db().flush() {
                tracing::warn!(datanode = %id, "cannot persist admin state: {e}");
            }
        }
        let (addr, rack) = (&info.addr, &info.rack);
        match outcome {
            Registration::New => tracing::info!(datanode = %id, %addr, rack, "datanode registered"),
            Registration::Returned => tracing::info!(datanode = %id, %addr, "datanode is back"),
            Registration::Refreshed => {
                tracing::info!(datanode = %id, %addr, "datanode re-registered (restarted)")
            }
        }
        self.wake_monitor();
        Ok(RegisterResponse {})
    }

    /// A heartbeat sent from `peer`; it counts only from the host the node registered from.
    pub fn heartbeat(
        &self,
        req: HeartbeatRequest,
        peer: IpAddr,
    ) -> Result<HeartbeatResponse, Error> {
        let mut state = self.lock();
        let was_away = state
            .datanodes
            .get(&req.id)
            .is_some_and(|n| n.liveness == Liveness::Away);
        let commands = state.datanodes.heartbeat(
            &req.id,
            peer.to_canonical(),
            req.storage,
            req.active_transfers,
            Instant::now(),
        )?;
        if was_away {
            // Its replicas are readable and copyable again.
            state.blocks.mark_datanode_dirty(&req.id);
            state.replication.needed.unpark_all();
            tracing::info!(datanode = %req.id, "datanode in maintenance is heartbeating again");
        }
        Ok(HeartbeatResponse { commands })
    }

    /// A full report replaces the datanode's replicas in the block map. Replicas of blocks no
    /// file has, of the wrong length, stale (older than the block's committed generation), or
    /// ordered deleted earlier are deleted (not while in
    /// safe mode: the namespace may not be complete yet). The length and digest of a replica
    /// of a block under construction are recorded as an incremental report's are, so a
    /// `complete` after a namenode restart (which lost the incremental reports) can succeed.
    pub fn block_report(
        &self,
        req: BlockReportRequest,
        peer: IpAddr,
    ) -> Result<BlockReportResponse, Error> {
        let mut state = self.lock();
        state.datanodes.reporting_from(&req.id, peer)?;
        let reported: Vec<_> = req
            .replicas
            .iter()
            .map(|r| (r.block, r.length, r.generation))
            .collect();
        let to_delete = state.blocks.apply_full_report(&req.id, &reported);
        tracing::info!(
            datanode = %req.id,
            replicas = reported.len(),
            to_delete = to_delete.len(),
            "full block report"
        );
        for &block in &to_delete {
            state.datanodes.queue_delete(&req.id, block);
        }
        let mut under_construction = false;
        for replica in &req.replicas {
            let Some(sha256) = replica.sha256 else {
                continue;
            };
            let held = state
                .blocks
                .get(replica.block)
                .is_some_and(|info| !info.is_complete() && info.replicas.contains(&req.id));
            if held {
                let reported = Reported {
                    generation: replica.generation,
                    length: replica.length,
                    sha256,
                };
                state
                    .blocks
                    .record_reported(replica.block, &req.id, reported);
                under_construction = true;
            }
        }
        let left_safe_mode = update_safe_mode(&mut state);
        let commands = state.datanodes.take_commands(&req.id)?;
        drop(state);
        if under_construction {
            self.reports_arrived();
        }
        if left_safe_mode {
            self.wake_monitor();
        }
        Ok(BlockReportResponse { commands })
    }

    /// An incremental report: replicas finalized or deleted since the last one. A replica
    /// older than its block's committed generation is stale: never a location, deleted. A
    /// replica that completes a copy the monitor ordered wakes it, so the next copy starts
    /// at once.
    pub fn block_received(&self, req: BlockReceivedRequest, peer: IpAddr) -> Result<(), Error> {
        let mut state = self.lock();
        let State {
            ns,
            blocks,
            datanodes,
            replication,
            ..
        } = &mut *state;
        datanodes.reporting_from(&req.id, peer)?;
        let mut landed = false;
        let mut under_construction = false;
        let mut new_bytes = 0u64;
        for replica in &req.received {
            let mut verdict =
                blocks.check_replica(replica.block, replica.length, replica.generation);
            let contradicts = |d| contradicts_committed(ns, blocks, replica.block, d);
            if verdict == ReplicaVerdict::Accept && replica.sha256.is_some_and(contradicts) {
                verdict = ReplicaVerdict::WrongDigest;
            }
            match verdict {
                ReplicaVerdict::Accept => {
                    let new_here = blocks
                        .get(replica.block)
                        .is_some_and(|info| !info.replicas.contains(&req.id));
                    if new_here {
                        new_bytes = new_bytes.saturating_add(replica.length);
                    }
                    blocks.add_replica(replica.block, &req.id, replica.generation);
                    if let Some(sha256) = replica.sha256 {
                        let reported = Reported {
                            generation: replica.generation,
                            length: replica.length,
                            sha256,
                        };
                        under_construction |= blocks
                            .get(replica.block)
                            .is_some_and(|info| !info.is_complete());
                        blocks.record_reported(replica.block, &req.id, reported);
                    }
                    landed |= replication.copy_landed(replica.block, &req.id, replica.length);
                }
                verdict => {
                    tracing::debug!(
                        datanode = %req.id, block = %replica.block, ?verdict,
                        "replica to delete"
                    );
                    datanodes.queue_delete(&req.id, replica.block);
                }
            }
        }
        for &block in &req.deleted {
            blocks.remove_replica(block, &req.id);
        }
        if let Ok(node) = datanodes.reporting_mut(&req.id) {
            node.replicas_landed(new_bytes);
        }
        let left_safe_mode = update_safe_mode(&mut state);
        drop(state);
        if under_construction {
            self.reports_arrived();
        }
        if landed || left_safe_mode {
            self.wake_monitor();
        }
        Ok(())
    }

    /// A copy the monitor ordered failed at its source: it is dropped and ordered again at
    /// once (its targets briefly avoided), instead of after `replication_timeout`.
    pub fn replication_failed(
        &self,
        req: ReplicationFailedRequest,
        peer: IpAddr,
    ) -> Result<(), Error> {
        let mut state = self.lock();
        state.datanodes.reporting_from(&req.id, peer)?;
        let dropped = state.replication.pending.failed(
            req.block,
            &req.id,
            &req.targets,
            std::time::Instant::now(),
            FAILED_COPY_AVOIDANCE,
        );
        drop(state);
        if dropped {
            tracing::info!(block = %req.block, source = %req.id, targets = ?req.targets, "replica copy failed: {}", req.reason);
            self.wake_monitor();
        }
        Ok(())
    }

    /// A reader or the datanode itself found a corrupt replica. It is marked, never offered
    /// or copied again, and deleted once the block has its replication from good replicas
    /// (the last copy of a block is never deleted, however damaged).
    pub fn report_bad_replica(&self, req: ReportBadReplicaRequest) -> Result<(), Error> {
        let marked = self.lock().blocks.mark_corrupt(req.block, &req.datanode);
        if !marked {
            tracing::info!(
                block = %req.block, datanode = %req.datanode,
                "bad replica reported for a block no file has"
            );
            return Ok(());
        }
        tracing::warn!(
            block = %req.block, datanode = %req.datanode, reason = %req.reason,
            "replica marked corrupt; it will be replaced, then deleted"
        );
        self.wake_monitor();
        Ok(())
    }
}

/// Whether `sha256` differs from the digest the block of a complete file was committed at.
fn contradicts_committed(
    ns: &Namespace,
    blocks: &BlockMap,
    block: BlockId,
    sha256: Digest,
) -> bool {
    let Some(info) = blocks.get(block).filter(|info| info.is_complete()) else {
        return false;
    };
    ns.get(info.file)
        .and_then(|inode| inode.file())
        .and_then(|file| file.blocks.iter().find(|record| record.id == block))
        .and_then(|record| record.sha256)
        .is_some_and(|committed| committed != sha256)
}
