//! Lease recovery: closing a file whose writer went away (its soft limit passed and another
//! writer asked, its hard limit passed, or `recover_lease`), and a truncate's cut.
//!
//! Blocks before the last are kept as committed. The last block, unless already committed
//! with nothing in flight, gets a new generation (journaled) and a primary among the live
//! nodes that may hold it; once the generation is durable the primary is sent `Recover`
//! (delivered by its heartbeat reply or its command long-poll). Its `commit_block_sync`, at
//! that generation only, closes the file at what it found. Without one within
//! `recovery_timeout`, the recovery starts again under a newer generation with another
//! primary. The lease monitor (`run_lease_monitor`) recovers files past the hard limit and
//! restarts timed-out recoveries; it does its work through `mutate`, so no I/O is done
//! under the lock.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use granary_client::protocol::{
    CommitBlockSyncRequest, DatanodeCommand, DatanodeInfo, RecoverLeaseRequest,
    RecoverLeaseResponse,
};
use granary_client::{
    BlockId, DatanodeId, Error, ErrorKind, FsPath, Generation, InodeId, LeaseHolder,
};
use serde::{Deserialize, Serialize};

use super::complete::settle_closed_file;
use super::{Namesystem, State};
use crate::blocks::Reported;
use crate::namespace::{Changes, FileInode};
use crate::recovery::{choose_primary, BlockRecovery};

/// `Recover` commands decided under the lock, sent once their generation is durable.
#[derive(Debug, Default)]
pub(crate) struct RecoveryOrders(Vec<RecoveryOrder>);

#[derive(Debug)]
struct RecoveryOrder {
    primary: DatanodeId,
    block: BlockId,
    generation: Generation,
    command: DatanodeCommand,
}

/// What one pass of the lease monitor did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeasePass {
    /// Files past the hard limit closed at once (nothing to recover).
    pub closed: usize,
    /// Recoveries started for files past the hard limit.
    pub started: usize,
    /// Recoveries started again after `recovery_timeout`.
    pub restarted: usize,
}

impl Namesystem {
    /// Forces the recovery of a file open for writing (HDFS's `recoverLease`); answers at
    /// once whether the file is closed.
    pub async fn recover_lease(
        &self,
        req: RecoverLeaseRequest,
    ) -> Result<RecoverLeaseResponse, Error> {
        self.recover_lease_as(&self.users.superuser(), req).await
    }

    /// [`Self::recover_lease`] for `caller`: w on the file, as HDFS.
    pub async fn recover_lease_as(
        &self,
        caller: &crate::namespace::Caller,
        req: RecoverLeaseRequest,
    ) -> Result<RecoverLeaseResponse, Error> {
        let mut orders = RecoveryOrders::default();
        let answer = self
            .mutate(None, |state, changes, now| {
                state
                    .ns
                    .check_access(caller, &req.path, granary_client::Access::WRITE)?;
                let inode = state.ns.inode_at(&req.path)?;
                if inode.is_dir() {
                    return Err(Error::new(
                        ErrorKind::IsADirectory,
                        format!("{} is a directory", req.path),
                    ));
                }
                let (id, open) = (inode.id, inode.is_under_construction());
                let closed = !open || self.begin_recovery(state, id, now, changes, &mut orders)?;
                let status = state.ns.stat(&req.path)?;
                Ok(RecoverLeaseResponse { closed, status })
            })
            .await;
        self.send_recoveries(orders);
        answer
    }

    /// The end of a block recovery, from its primary; accepted only at the generation of
    /// the file's latest recovery.
    pub async fn commit_block_sync(
        &self,
        req: CommitBlockSyncRequest,
        peer: IpAddr,
    ) -> Result<(), Error> {
        self.mutate(None, |state, changes, now| {
            state.datanodes.reporting_from(&req.id, peer)?;
            let block = req.block;
            let Some(recovery) = state.recoveries.of_block(block).cloned() else {
                let known = state.blocks.get(block);
                if known.is_none_or(|i| i.is_complete() && i.generation == req.generation) {
                    // A repeat of a commit that was applied (or a dropped block's).
                    return Ok(());
                }
                return Err(Error::invalid_argument(format!(
                    "commit_block_sync of {block} at {}: no recovery of it is in progress",
                    req.generation
                )));
            };
            if recovery.generation != req.generation {
                return Err(Error::invalid_argument(format!(
                    "commit_block_sync of {block} at {}: its latest recovery is at {}",
                    req.generation, recovery.generation
                )));
            }
            let recovered = req.recovered.as_ref().map(|r| (r.length, r.sha256));
            if let Some(r) = &req.recovered {
                let reported = Reported {
                    generation: req.generation,
                    length: r.length,
                    sha256: r.sha256,
                };
                for holder in r.holders.iter().filter(|h| state.datanodes.is_alive(h)) {
                    state.blocks.add_replica(block, holder, req.generation);
                    state.blocks.record_reported(block, holder, reported);
                }
            }
            state.ns.commit_recovered(
                recovery.file,
                block,
                req.generation,
                recovered,
                now,
                changes,
            )?;
            state.recoveries.finish(recovery.file);
            settle_closed_file(state, recovery.file);
            tracing::info!(
                %block, generation = %req.generation, primary = %req.id,
                length = ?req.recovered.as_ref().map(|r| r.length),
                "block recovery committed; file closed"
            );
            Ok(())
        })
        .await
    }

    /// Recovers the files of holders past `lease_hard_limit` and restarts recoveries past
    /// `recovery_timeout`, as of `now`.
    pub async fn check_leases(&self, now: Instant) -> Result<LeasePass, Error> {
        let mut orders = RecoveryOrders::default();
        let pass = self
            .mutate(None, |state, changes, now_ms| {
                let mut pass = LeasePass::default();
                // Before any recovery starts in this pass, so none is restarted at once.
                let timed_out = state
                    .recoveries
                    .timed_out(now, self.config.recovery_timeout);
                for (holder, file) in state.leases.files_past(now, self.config.lease_hard_limit) {
                    if state.recoveries.is_recovering(file) {
                        continue;
                    }
                    tracing::warn!(
                        %holder, %file,
                        "lease past the hard limit; recovering the file"
                    );
                    match self.begin_recovery(state, file, now_ms, changes, &mut orders)? {
                        true => pass.closed += 1,
                        false => pass.started += 1,
                    }
                }
                for file in timed_out {
                    self.restart_recovery(state, file, now_ms, changes, &mut orders)?;
                    pass.restarted += 1;
                }
                Ok(pass)
            })
            .await;
        self.send_recoveries(orders);
        pass
    }

    /// Runs [`Namesystem::check_leases`] every `lease_check_interval` until aborted.
    pub async fn run_lease_monitor(self: Arc<Self>) {
        let mut ticker = tokio::time::interval(self.config.lease_check_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match self.check_leases(Instant::now()).await {
                Ok(pass) if pass != LeasePass::default() => tracing::info!(?pass, "lease monitor"),
                Ok(_) => {}
                Err(e) if e.kind == ErrorKind::SafeMode => {}
                Err(e) => tracing::warn!("lease monitor: {e}"),
            }
        }
    }

    /// Another writer (`requester`) wants the file at `path`; its id, or `None` when
    /// nothing is there. Nothing to do unless it is open: by the requester itself, fine; by
    /// a holder within its soft limit, `lease_held` naming it; otherwise the file is
    /// recovered first: closed at once, fine, or `recovery_in_progress` while its last
    /// block is recovered.
    pub(super) fn take_over(
        &self,
        state: &mut State,
        path: &FsPath,
        requester: &LeaseHolder,
        now_ms: u64,
        changes: &mut Changes,
        orders: &mut RecoveryOrders,
    ) -> Result<Option<InodeId>, Error> {
        let Some(file) = state.ns.lookup(path)? else {
            return Ok(None);
        };
        let Some(f) = open_file(state, file) else {
            return Ok(Some(file));
        };
        if state.recoveries.is_recovering(file) {
            return Err(recovery_in_progress(path));
        }
        let soft = self.config.lease_soft_limit;
        if let Some(holder) = f.lease_holder.clone() {
            if &holder == requester {
                return Ok(Some(file));
            }
            if !state.leases.expired(&holder, Instant::now(), soft) {
                let age = state
                    .leases
                    .age(&holder, Instant::now())
                    .unwrap_or_default();
                return Err(Error::new(
                    ErrorKind::LeaseHeld,
                    format!(
                        "{path} is open for writing by {holder} (lease renewed {:.1} s ago)",
                        age.as_secs_f64()
                    ),
                ));
            }
            tracing::info!(
                %path, %holder, %requester,
                "lease past the soft limit; recovering the file"
            );
        }
        match self.begin_recovery(state, file, now_ms, changes, orders)? {
            true => Ok(Some(file)),
            false => Err(recovery_in_progress(path)),
        }
    }

    /// Starts the recovery of an open file; `true` when the file could be closed at once (no
    /// block in flight, or nobody alive may hold a byte of it).
    pub(super) fn begin_recovery(
        &self,
        state: &mut State,
        file: InodeId,
        now_ms: u64,
        changes: &mut Changes,
        orders: &mut RecoveryOrders,
    ) -> Result<bool, Error> {
        if state.recoveries.is_recovering(file) {
            return Ok(false);
        }
        let Some(f) = open_file(state, file) else {
            state.leases.remove(file);
            return Ok(true);
        };
        let in_flight = f
            .blocks
            .last()
            .filter(|b| !b.is_committed() || b.pending.is_some() || b.cut_to.is_some())
            .map(|b| (b.id, b.cut_to));
        let Some((block, length)) = in_flight else {
            close_now(state, file, now_ms, changes)?;
            return Ok(true);
        };
        let candidates = recovery_candidates(state, block);
        if candidates.is_empty() {
            tracing::info!(
                %file, %block,
                "no live datanode may hold the last block; closing without it"
            );
            close_now(state, file, now_ms, changes)?;
            return Ok(true);
        }
        let generation = state.ns.bump_last_generation(file, changes)?;
        let recovery = (file, block, generation, length);
        orders.order(state, recovery, &candidates, Vec::new());
        Ok(false)
    }

    /// A recovery timed out: again under a newer generation, with another primary.
    fn restart_recovery(
        &self,
        state: &mut State,
        file: InodeId,
        now_ms: u64,
        changes: &mut Changes,
        orders: &mut RecoveryOrders,
    ) -> Result<(), Error> {
        let Some(old) = state.recoveries.finish(file) else {
            return Ok(());
        };
        let candidates = recovery_candidates(state, old.block);
        if candidates.is_empty() {
            tracing::warn!(
                %file, block = %old.block,
                "recovery timed out and no live datanode may hold the block; closing at what \
                 is committed"
            );
            return close_now(state, file, now_ms, changes);
        }
        let generation = state.ns.bump_last_generation(file, changes)?;
        tracing::info!(
            %file, block = %old.block, primary = %old.primary, %generation,
            "block recovery timed out; starting again"
        );
        let recovery = (file, old.block, generation, old.length);
        orders.order(state, recovery, &candidates, old.primaries);
        Ok(())
    }

    /// Queues the `Recover` commands of `orders` whose recovery is still the latest; called
    /// once their generations are durable.
    pub(super) fn send_recoveries(&self, orders: RecoveryOrders) {
        if orders.0.is_empty() {
            return;
        }
        let mut state = self.lock();
        for order in orders.0 {
            let current = state
                .recoveries
                .of_block(order.block)
                .is_some_and(|r| r.generation == order.generation);
            if current {
                state.datanodes.queue(&order.primary, order.command);
            }
        }
    }
}

/// The file `file`, when it is open for writing.
fn open_file(state: &State, file: InodeId) -> Option<&FileInode> {
    state
        .ns
        .get(file)
        .and_then(|i| i.file())
        .filter(|f| f.under_construction)
}

fn recovery_in_progress(path: &FsPath) -> Error {
    Error::new(
        ErrorKind::RecoveryInProgress,
        format!("{path}: its last block is being recovered; retry shortly"),
    )
}

/// Live nodes that hold the block or were given it to write.
fn recovery_candidates(state: &State, block: BlockId) -> Vec<DatanodeInfo> {
    state
        .blocks
        .possible_holders(block)
        .iter()
        .filter_map(|id| state.datanodes.get(id).filter(|n| n.is_alive()))
        .map(|n| n.info.clone())
        .collect()
}

impl RecoveryOrders {
    /// Records a recovery of `(file, block, generation, length)` led by a primary among
    /// `candidates` (one not in `earlier` if any), and its order.
    pub(super) fn order(
        &mut self,
        state: &mut State,
        (file, block, generation, length): (InodeId, BlockId, Generation, Option<u64>),
        candidates: &[DatanodeInfo],
        earlier: Vec<DatanodeId>,
    ) {
        let Some(primary) = choose_primary(candidates, &earlier).map(|p| p.id.clone()) else {
            return;
        };
        let mut primaries = earlier;
        primaries.push(primary.clone());
        tracing::info!(%file, %block, %generation, %primary, ?length, "block recovery ordered");
        state.recoveries.start(BlockRecovery {
            file,
            block,
            generation,
            length,
            primary: primary.clone(),
            primaries,
            ordered: Instant::now(),
        });
        state
            .blocks
            .reopen(block, candidates.iter().map(|c| c.id.clone()).collect());
        self.0.push(RecoveryOrder {
            primary,
            block,
            generation,
            command: DatanodeCommand::Recover {
                block,
                generation,
                length,
                replicas: candidates.to_vec(),
            },
        });
    }
}

/// Closes an open file without a recovery and settles its blocks.
fn close_now(
    state: &mut State,
    file: InodeId,
    now_ms: u64,
    changes: &mut Changes,
) -> Result<(), Error> {
    state.ns.close_now(file, now_ms, changes)?;
    state.recoveries.finish(file);
    settle_closed_file(state, file);
    Ok(())
}
