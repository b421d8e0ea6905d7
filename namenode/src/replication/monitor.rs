//! One pass of the replication monitor, a pure function of the namesystem state and the
//! clock (so tests drive it directly). In order: end maintenance windows that are over; leave
//! start-up safe mode when enough blocks are reported; give up copies past their deadline;
//! and, unless in safe mode, re-examine the blocks that changed (queueing those that need
//! copies, trimming excess replicas, deleting corrupt ones that have been replaced), order
//! copies for the neediest blocks within the per-node stream caps, and finish decommissions.

use std::time::{Duration, Instant};

use granary_client::protocol::DatanodeCommand;
use granary_client::{BlockId, DatanodeId};

use super::choose::{choose_source, choose_targets, Choice};
use super::counts::{count, replica_kind, Health, ReplicaCounts, ReplicaKind};
use super::excess::{choose_excess, Holder};
use super::queue::NOTHING_TO_COPY;
use super::Settings;
use crate::datanodes::{AdminState, Liveness};
use crate::namesystem::liveness::declare_lost;
use crate::namesystem::{update_safe_mode, State};

/// Changed blocks examined per pass, so one pass after a huge node dies stays short.
const MAX_DIRTY_PER_PASS: usize = 100_000;
/// Queued blocks considered for a copy per pass.
const MAX_EXAMINED_PER_PASS: usize = 10_000;
/// How long a block with no source or no possible target at all waits before the next try.
const PARK_FOR: Duration = Duration::from_secs(1);

/// What a pass did.
#[derive(Debug, Default)]
pub struct Pass {
    /// Datanodes whose admin state changed (decommissioned, maintenance over): to persist.
    pub admin_changed: Vec<DatanodeId>,
    /// Replica copies ordered (one per target).
    pub copies_ordered: usize,
    /// Excess replicas ordered deleted.
    pub replicas_trimmed: usize,
    /// Corrupt replicas ordered deleted.
    pub corrupt_deleted: usize,
    pub left_safe_mode: bool,
}

pub(crate) fn run_pass(state: &mut State, settings: &Settings, now: Instant, now_ms: u64) -> Pass {
    let mut pass = Pass::default();
    end_maintenance(state, now, now_ms, &mut pass);
    pass.left_safe_mode = update_safe_mode(state);
    for out in state.replication.pending.expire(now, settings.avoid_for) {
        tracing::warn!(
            block = %out.block, source = %out.source, targets = ?out.targets,
            "replica copy not confirmed within {:?}; ordering it again, avoiding those targets \
             for {:?}", settings.timeout, settings.avoid_for
        );
        state.blocks.mark_dirty(out.block);
    }
    // No copy and no deletion while in safe mode: changed blocks stay dirty until it ends.
    if state.safemode.is_on() {
        return pass;
    }
    examine_dirty(state, &mut pass);
    order_copies(state, settings, now, &mut pass);
    finish_decommissions(state, &mut pass);
    pass
}

/// The queue priority of a block, `None` when it needs no copy.
fn priority(counts: &ReplicaCounts) -> Option<u16> {
    match counts.health() {
        Health::Missing | Health::Corrupt => Some(NOTHING_TO_COPY),
        Health::UnderReplicated => Some(counts.counted()),
        Health::Healthy | Health::OverReplicated => None,
    }
}

fn end_maintenance(state: &mut State, now: Instant, now_ms: u64, pass: &mut Pass) {
    let over: Vec<DatanodeId> = state
        .datanodes
        .all()
        .filter(|n| n.admin.maintenance_until_ms().is_some_and(|u| u <= now_ms))
        .map(|n| n.info.id.clone())
        .collect();
    for id in over {
        state.datanodes.set_admin(&id, AdminState::InService);
        state.blocks.mark_datanode_dirty(&id);
        pass.admin_changed.push(id.clone());
        tracing::info!(datanode = %id, "maintenance window over; the datanode is in service again");
        let away = state
            .datanodes
            .get(&id)
            .is_some_and(|n| n.liveness == Liveness::Away);
        if away {
            declare_lost(
                state,
                &id,
                "its maintenance window ended while it was away",
                now,
            );
        }
    }
}

fn examine_dirty(state: &mut State, pass: &mut Pass) {
    for block in state.blocks.take_dirty(MAX_DIRTY_PER_PASS) {
        let State {
            blocks,
            datanodes,
            replication,
            ..
        } = &mut *state;
        let Some(info) = blocks.get(block).filter(|i| i.is_complete()) else {
            replication.needed.remove(block);
            continue;
        };
        let counts = count(info, datanodes);
        match priority(&counts) {
            Some(p) => {
                replication.needed.set(block, p);
                replication.needed.unpark(block);
            }
            None => replication.needed.remove(block),
        }
        if counts.live > counts.expected && !replication.pending.has(block) {
            pass.replicas_trimmed += trim(state, block, &counts);
        } else if counts.corrupt > 0 && counts.live >= counts.expected {
            pass.corrupt_deleted += delete_corrupt(state, block, "it has been replaced");
        }
    }
}

/// Orders the deletion of live replicas beyond the replication.
fn trim(state: &mut State, block: BlockId, counts: &ReplicaCounts) -> usize {
    let State {
        blocks, datanodes, ..
    } = &mut *state;
    let Some(info) = blocks.get(block) else {
        return 0;
    };
    let holders: Vec<Holder> = info
        .replicas
        .iter()
        .filter(|h| replica_kind(info, h, datanodes) == ReplicaKind::Live)
        .filter_map(|h| datanodes.get(h))
        .map(|n| Holder {
            id: n.info.id.clone(),
            rack: n.info.rack.clone(),
            fullness: n.fullness(),
        })
        .collect();
    let victims = choose_excess(holders, counts.expected as usize);
    for victim in &victims {
        tracing::info!(%block, datanode = %victim, live = counts.live, expected = counts.expected, "deleting an excess replica");
        blocks.mark_excess(block, victim);
        datanodes.queue_delete(victim, block);
    }
    victims.len()
}

/// Orders the deletion of the block's corrupt replicas on running nodes.
fn delete_corrupt(state: &mut State, block: BlockId, why: &str) -> usize {
    let State {
        blocks, datanodes, ..
    } = &mut *state;
    let Some(info) = blocks.get(block) else {
        return 0;
    };
    let holders: Vec<DatanodeId> = info
        .replicas
        .iter()
        .filter(|h| info.corrupt.contains(*h) && datanodes.is_alive(h))
        .cloned()
        .collect();
    for holder in &holders {
        tracing::info!(%block, datanode = %holder, "deleting a corrupt replica: {why}");
        datanodes.queue_delete(holder, block);
    }
    holders.len()
}

fn order_copies(state: &mut State, settings: &Settings, now: Instant, pass: &mut Pass) {
    let mut rng = rand::thread_rng();
    let batch = state
        .replication
        .needed
        .next_batch(now, MAX_EXAMINED_PER_PASS);
    for block in batch {
        let State {
            blocks,
            datanodes,
            replication,
            ..
        } = &mut *state;
        let Some(info) = blocks.get(block).filter(|i| i.is_complete()) else {
            replication.needed.remove(block);
            continue;
        };
        let counts = count(info, datanodes);
        let Some(p) = priority(&counts) else {
            replication.needed.remove(block);
            continue;
        };
        replication.needed.set(block, p);
        let want =
            (counts.needed() as usize).saturating_sub(replication.pending.pending_for(block));
        if p == NOTHING_TO_COPY || want == 0 {
            continue;
        }
        // A block down to one replica heals at full speed whatever runs; one that still has
        // two is not urgent while jobs need the machines: one such copy at a time in the
        // whole cluster (HDFS paces all healing likewise).
        if replication.yield_to_jobs && counts.counted() >= 2 && !replication.pending.is_empty() {
            continue;
        }
        let cap = settings.max_streams;
        let source = match choose_source(info, datanodes, &replication.pending, cap) {
            Choice::Found(source) => source,
            Choice::Busy => continue,
            Choice::Nothing => {
                replication.needed.park(block, now + PARK_FOR);
                continue;
            }
        };
        let chosen = choose_targets(
            block,
            info,
            datanodes,
            &replication.pending,
            cap,
            want,
            now,
            &mut rng,
        );
        let targets = match chosen {
            Choice::Found(targets) => targets,
            Choice::Busy => continue,
            Choice::Nothing => {
                replication.needed.park(block, now + PARK_FOR);
                // Every possible target already holds a replica; if some are corrupt, they
                // are in the way of a good copy.
                if counts.corrupt > 0 {
                    pass.corrupt_deleted +=
                        delete_corrupt(state, block, "its node is needed for a good copy");
                }
                continue;
            }
        };
        let length = info.length.unwrap_or(0);
        let ids: Vec<DatanodeId> = targets.iter().map(|t| t.id.clone()).collect();
        tracing::debug!(%block, %source, targets = ?ids, "ordering a replica copy");
        for target in &ids {
            datanodes.add_scheduled(target, length);
        }
        pass.copies_ordered += ids.len();
        replication
            .pending
            .add(block, source.clone(), ids, now + settings.timeout);
        datanodes.queue(&source, DatanodeCommand::Replicate { block, targets });
    }
}

/// A decommissioning node is done when every complete block it holds has its replication on
/// in-service nodes, or as many replicas as there are in-service nodes when there are fewer
/// (at least one): waiting for more could never end.
fn finish_decommissions(state: &mut State, pass: &mut Pass) {
    let in_service = state.datanodes.in_service().count();
    let draining: Vec<DatanodeId> = state
        .datanodes
        .all()
        .filter(|n| n.admin == AdminState::Decommissioning && n.is_alive())
        .map(|n| n.info.id.clone())
        .collect();
    for id in draining {
        let done = state.blocks.blocks_on(&id).all(|block| {
            let Some(info) = state.blocks.get(block).filter(|i| i.is_complete()) else {
                return true;
            };
            let counts = count(info, &state.datanodes);
            counts.live as usize >= (counts.expected as usize).min(in_service).max(1)
        });
        if done {
            state.datanodes.set_admin(&id, AdminState::Decommissioned);
            pass.admin_changed.push(id.clone());
            let blocks = state.blocks.replica_count(&id);
            tracing::info!(datanode = %id, blocks, "datanode decommissioned: every block it holds is replicated elsewhere; it may be stopped");
        }
    }
}
