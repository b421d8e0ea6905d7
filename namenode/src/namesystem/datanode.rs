//! Calls from datanodes (registration, heartbeats, block reports), bad-replica reports from
//! readers, and the operator's cluster report.

use std::time::Instant;

use granary_client::protocol::{
    BlockReceivedRequest, BlockReportRequest, BlockReportResponse, ClusterReport, DatanodeCommand,
    DatanodeReport, DatanodeState, HeartbeatRequest, HeartbeatResponse, RegisterRequest,
    RegisterResponse, ReportBadReplicaRequest, DEFAULT_RACK,
};
use granary_client::{DatanodeId, Error};

use super::{Namesystem, State};
use crate::blocks::ReplicaVerdict;
use crate::datanodes::Registration;

impl Namesystem {
    pub fn register(&self, mut req: RegisterRequest) -> Result<RegisterResponse, Error> {
        let id = &req.datanode.id;
        id.0.parse::<DatanodeId>()
            .map_err(Error::invalid_argument)?;
        if req.datanode.rack.trim().is_empty() {
            req.datanode.rack = DEFAULT_RACK.to_string();
        }
        let info = req.datanode.clone();
        let outcome = self
            .lock()
            .datanodes
            .register(req.datanode, req.storage, Instant::now());
        match outcome {
            Registration::New => {
                let rack = &info.rack;
                tracing::info!(datanode = %info.id, addr = %info.addr, rack, "datanode registered")
            }
            Registration::Revived => {
                tracing::info!(datanode = %info.id, addr = %info.addr, "dead datanode is back")
            }
            Registration::Refreshed => {
                tracing::info!(datanode = %info.id, addr = %info.addr, "datanode re-registered")
            }
        }
        Ok(RegisterResponse {})
    }

    pub fn heartbeat(&self, req: HeartbeatRequest) -> Result<HeartbeatResponse, Error> {
        let commands = self.lock().datanodes.heartbeat(
            &req.id,
            req.storage,
            req.active_transfers,
            Instant::now(),
        )?;
        Ok(HeartbeatResponse { commands })
    }

    /// A full report replaces the datanode's replicas in the block map. Replicas of blocks no
    /// file has, or of the wrong length, are deleted.
    pub fn block_report(&self, req: BlockReportRequest) -> Result<BlockReportResponse, Error> {
        let mut state = self.lock();
        let State {
            blocks, datanodes, ..
        } = &mut *state;
        datanodes.live_mut(&req.id)?;
        let reported: Vec<_> = req.replicas.iter().map(|r| (r.block, r.length)).collect();
        let to_delete = blocks.apply_full_report(&req.id, &reported);
        tracing::info!(
            datanode = %req.id,
            replicas = reported.len(),
            to_delete = to_delete.len(),
            "full block report"
        );
        let commands = if to_delete.is_empty() {
            Vec::new()
        } else {
            vec![DatanodeCommand::Delete { blocks: to_delete }]
        };
        Ok(BlockReportResponse { commands })
    }

    /// An incremental report: replicas finalized or deleted since the last one.
    pub fn block_received(&self, req: BlockReceivedRequest) -> Result<(), Error> {
        let mut state = self.lock();
        let State {
            blocks, datanodes, ..
        } = &mut *state;
        datanodes.live_mut(&req.id)?;
        for replica in &req.received {
            match blocks.check_replica(replica.block, replica.length) {
                ReplicaVerdict::Accept => {
                    blocks.add_replica(replica.block, &req.id);
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
        Ok(())
    }

    /// A reader found a corrupt replica: forget it, and delete it unless it is the last live
    /// copy (a damaged copy may still be partly readable; an absent one is not).
    pub fn report_bad_replica(&self, req: ReportBadReplicaRequest) -> Result<(), Error> {
        let mut state = self.lock();
        let State {
            blocks, datanodes, ..
        } = &mut *state;
        let Some(info) = blocks.get(req.block) else {
            tracing::info!(
                block = %req.block, datanode = %req.datanode,
                "bad replica reported for a block no file has"
            );
            return Ok(());
        };
        let other_live = info
            .replicas
            .iter()
            .filter(|d| **d != req.datanode && datanodes.is_live(d))
            .count();
        blocks.remove_replica(req.block, &req.datanode);
        if other_live > 0 {
            datanodes.queue_delete(&req.datanode, req.block);
            tracing::warn!(
                block = %req.block, datanode = %req.datanode, reason = %req.reason, other_live,
                "bad replica reported; deleting it"
            );
        } else {
            tracing::warn!(
                block = %req.block, datanode = %req.datanode, reason = %req.reason,
                "bad replica reported; it is the last live copy, so it stays on disk"
            );
        }
        Ok(())
    }

    pub fn cluster_report(&self) -> ClusterReport {
        let state = self.lock();
        let now = Instant::now();
        let datanodes: Vec<DatanodeReport> = state
            .datanodes
            .all()
            .map(|n| DatanodeReport {
                info: n.info.clone(),
                state: n.state,
                capacity: n.storage.capacity,
                used: n.storage.used,
                remaining: n.storage.remaining,
                blocks: state.blocks.replica_count(&n.info.id),
                seconds_since_heartbeat: now
                    .saturating_duration_since(n.last_heartbeat)
                    .as_secs_f64(),
            })
            .collect();
        let live: Vec<&DatanodeReport> = datanodes
            .iter()
            .filter(|d| d.state == DatanodeState::Live)
            .collect();
        let health = state.blocks.health(|id| state.datanodes.is_live(id));
        let (files, directories) = state.ns.counts();
        ClusterReport {
            live_datanodes: live.len() as u64,
            dead_datanodes: (datanodes.len() - live.len()) as u64,
            files,
            directories,
            blocks: health.blocks,
            under_replicated_blocks: health.under_replicated,
            missing_blocks: health.missing,
            capacity: live.iter().map(|d| d.capacity).sum(),
            used: live.iter().map(|d| d.used).sum(),
            remaining: live.iter().map(|d| d.remaining).sum(),
            default_replication: self.config.default_replication,
            default_block_size: self.config.default_block_size,
            datanodes,
        }
    }
}
