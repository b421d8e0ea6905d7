//! Operator calls: the cluster report, fsck, safe mode, and decommission, recommission and
//! maintenance of datanodes.

use std::time::{Duration, Instant};

use granary_client::protocol::{
    ClusterReport, DatanodeReport, DatanodeState, FsckReport, MaintenanceRequest, SafeModeAction,
    SafeModeStatus,
};
use granary_client::{DatanodeId, Error, FsPath};

use super::liveness::declare_lost;
use super::{leave_safe_mode, Namesystem, State};
use crate::datanodes::{admin_state, AdminState, Liveness};
use crate::namespace::store::store_error;
use crate::now_ms;
use crate::replication::{count, Health};

impl Namesystem {
    pub fn cluster_report(&self) -> ClusterReport {
        let state = self.lock();
        let now = Instant::now();
        let datanodes: Vec<DatanodeReport> = state
            .datanodes
            .all()
            .map(|n| n.report(state.blocks.replica_count(&n.info.id), now))
            .collect();
        let in_state = |s: DatanodeState| datanodes.iter().filter(|d| d.state == s).count() as u64;
        let live: Vec<&DatanodeReport> = datanodes
            .iter()
            .filter(|d| d.state == DatanodeState::Live)
            .collect();
        let (mut blocks, mut under, mut over, mut missing, mut corrupt) = (0, 0, 0, 0, 0);
        for (_, info) in state.blocks.iter().filter(|(_, i)| i.is_complete()) {
            blocks += 1;
            match count(info, &state.datanodes).health() {
                Health::Healthy => {}
                Health::UnderReplicated => under += 1,
                Health::OverReplicated => over += 1,
                Health::Missing => missing += 1,
                Health::Corrupt => corrupt += 1,
            }
        }
        let (files, directories) = state.ns.counts();
        ClusterReport {
            live_datanodes: live.len() as u64,
            dead_datanodes: in_state(DatanodeState::Dead),
            decommissioning_datanodes: in_state(DatanodeState::Decommissioning),
            decommissioned_datanodes: in_state(DatanodeState::Decommissioned),
            maintenance_datanodes: in_state(DatanodeState::Maintenance),
            files,
            directories,
            blocks,
            under_replicated_blocks: under,
            missing_blocks: missing,
            over_replicated_blocks: over,
            corrupt_blocks: corrupt,
            pending_replications: state.replication.pending.len() as u64,
            re_replicated_bytes: state.replication.re_replicated_bytes,
            safe_mode: state.safemode.is_on(),
            capacity: live.iter().map(|d| d.capacity).sum(),
            used: live.iter().map(|d| d.used).sum(),
            remaining: live.iter().map(|d| d.remaining).sum(),
            default_replication: self.config.default_replication,
            default_block_size: self.config.default_block_size,
            datanodes,
        }
    }

    /// Checks every block at or below `path`, in steps of about `ls_limit` entries, each
    /// under its own short hold of the lock. Blocking (run it off the async runtime); it
    /// yields between steps, so calls waiting for the lock get it before the next step.
    /// `open_for_write` also lists the files open for writing.
    pub fn fsck(&self, path: &FsPath, open_for_write: bool) -> Result<FsckReport, Error> {
        let mut fsck = crate::fsck::Fsck::new(path, open_for_write);
        while !fsck.step(&self.lock(), self.config.ls_limit)? {
            std::thread::yield_now();
        }
        Ok(fsck.finish())
    }

    pub fn safe_mode(&self, action: SafeModeAction) -> SafeModeStatus {
        let mut state = self.lock();
        match action {
            SafeModeAction::Get => {}
            SafeModeAction::Enter => {
                state.safemode.enter();
                state.datanodes.set_hold_deletes(true);
            }
            SafeModeAction::Leave => {
                if state.safemode.leave() {
                    leave_safe_mode(&mut state);
                }
            }
        }
        let on = state.safemode.is_on();
        let (reported, total) = state.blocks.safe_counts();
        let status = state.safemode.status(reported, total);
        drop(state);
        if !on {
            self.wake_monitor();
        }
        status
    }

    /// Starts draining a datanode (a decommissioned one stays decommissioned).
    pub async fn decommission(&self, id: &DatanodeId) -> Result<DatanodeReport, Error> {
        self.set_admin_state(id, |old| match old {
            AdminState::Decommissioned => AdminState::Decommissioned,
            _ => AdminState::Decommissioning,
        })
        .await
    }

    /// Returns a datanode to service; its replicas count again (the excess is trimmed).
    pub async fn recommission(&self, id: &DatanodeId) -> Result<DatanodeReport, Error> {
        self.set_admin_state(id, |_| AdminState::InService).await
    }

    /// Puts a datanode in maintenance for `duration_ms`, at most `max_maintenance`.
    pub async fn maintenance(&self, req: &MaintenanceRequest) -> Result<DatanodeReport, Error> {
        let max = self.config.max_maintenance;
        let window = req
            .duration_ms
            .map_or(max, |ms| Duration::from_millis(ms).min(max));
        let until_ms = now_ms().saturating_add(window.as_millis() as u64);
        self.set_admin_state(&req.datanode, |_| AdminState::Maintenance { until_ms })
            .await
    }

    /// Changes a registered datanode's admin state, persists it (durably before answering),
    /// and has the monitor look at its blocks again.
    async fn set_admin_state(
        &self,
        id: &DatanodeId,
        change: impl FnOnce(AdminState) -> AdminState,
    ) -> Result<DatanodeReport, Error> {
        let report = {
            let mut state = self.lock();
            let Some(node) = state.datanodes.get(id) else {
                return Err(Error::not_found(format!("no datanode {id} is registered")));
            };
            let old = node.admin;
            let new = change(old);
            if old != new {
                admin_state::store(self.store.db(), id, new)?;
                apply_admin_change(&mut state, id, old, new);
                self.publish_deaths(&mut state);
            }
            let blocks = state.blocks.replica_count(id);
            let node = state.datanodes.get(id);
            node.map(|n| n.report(blocks, Instant::now()))
                .ok_or_else(|| Error::internal(format!("datanode {id} vanished")))?
        };
        self.store.db().flush_async().await.map_err(store_error)?;
        self.wake_monitor();
        Ok(report)
    }
}

fn apply_admin_change(state: &mut State, id: &DatanodeId, old: AdminState, new: AdminState) {
    state.datanodes.set_admin(id, new);
    state.blocks.mark_datanode_dirty(id);
    state.replication.needed.unpark_all();
    tracing::info!(datanode = %id, from = ?old, to = ?new, "datanode admin state changed");
    // Out of maintenance while away: nothing excuses its silence any more.
    let away = state
        .datanodes
        .get(id)
        .is_some_and(|n| n.liveness == Liveness::Away);
    if away && !new.is_maintenance() {
        let reason = "its maintenance ended while it was away";
        declare_lost(state, id, reason, Instant::now());
    }
}
