//! Choosing where a copy comes from and where it goes.

use std::time::Instant;

use granary_client::protocol::DatanodeInfo;
use granary_client::{BlockId, DatanodeId};
use rand::Rng;

use super::counts::{replica_kind, ReplicaKind};
use super::pending::PendingCopies;
use crate::blocks::BlockInfo;
use crate::datanodes::DatanodeManager;
use crate::placement::{choose_copy_targets, Candidate};

pub(super) enum Choice<T> {
    Found(T),
    /// Candidates exist but all are at their stream cap: try again next pass.
    Busy,
    /// No candidate at all.
    Nothing,
}

/// A running holder of a good replica below its stream cap: a leaving node first (it takes
/// no writes, so its disk and network are free), then the one sending the fewest copies.
pub(super) fn choose_source(
    info: &BlockInfo,
    nodes: &DatanodeManager,
    pending: &PendingCopies,
    cap: usize,
) -> Choice<DatanodeId> {
    let holders: Vec<&DatanodeId> = info
        .replicas
        .iter()
        .filter(|h| nodes.is_alive(h))
        .filter(|h| {
            let kind = replica_kind(info, h, nodes);
            matches!(
                kind,
                ReplicaKind::Live | ReplicaKind::Maintenance | ReplicaKind::Leaving
            )
        })
        .collect();
    if holders.is_empty() {
        return Choice::Nothing;
    }
    let best = holders
        .into_iter()
        .filter(|h| pending.source_load(h) < cap)
        .min_by_key(|h| {
            let leaving = nodes.get(h).is_some_and(|n| n.admin.is_leaving());
            (!leaving, pending.source_load(h), (*h).clone())
        });
    match best {
        Some(source) => Choice::Found(source.clone()),
        None => Choice::Busy,
    }
}

/// Up to `want` in-service nodes that hold no replica (good or corrupt) of the block, are not
/// already receiving it, did not recently time out on it, and are below their stream cap.
#[allow(clippy::too_many_arguments)]
pub(super) fn choose_targets(
    block: BlockId,
    info: &BlockInfo,
    nodes: &DatanodeManager,
    pending: &PendingCopies,
    cap: usize,
    want: usize,
    now: Instant,
    rng: &mut impl Rng,
) -> Choice<Vec<DatanodeInfo>> {
    let eligible: Vec<_> = nodes
        .in_service()
        .filter(|n| !info.replicas.contains(&n.info.id) && !info.corrupt.contains(&n.info.id))
        .filter(|n| !pending.is_target(block, &n.info.id))
        .filter(|n| !pending.is_avoided(block, &n.info.id, now))
        .collect();
    if eligible.is_empty() {
        return Choice::Nothing;
    }
    let pool: Vec<Candidate> = eligible
        .into_iter()
        .filter(|n| pending.target_load(&n.info.id) < cap)
        .map(|n| Candidate {
            info: n.info.clone(),
            load: n.storage.used.saturating_add(n.scheduled_bytes),
        })
        .collect();
    if pool.is_empty() {
        return Choice::Busy;
    }
    let racks: Vec<String> = info
        .replicas
        .iter()
        .filter(|h| replica_kind(info, h, nodes) != ReplicaKind::Corrupt)
        .filter_map(|h| nodes.get(h).map(|n| n.info.rack.clone()))
        .collect();
    Choice::Found(choose_copy_targets(pool, want, &racks, rng))
}
