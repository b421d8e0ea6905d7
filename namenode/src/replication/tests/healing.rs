//! Ordering copies: priority, stream caps, pending copies, timeouts, missing and corrupt
//! blocks, safe mode.

use std::collections::HashSet;
use std::time::Duration;

use granary_client::BlockId;
use granary_compute::tracker::NamespaceEvent;

use super::{dn, Fixture, G0, LEN, TIMEOUT};
use crate::replication::queue::NOTHING_TO_COPY;
use crate::replication::Health;
use crate::safemode::SafeMode;

#[test]
fn the_block_with_fewest_replicas_is_copied_first() {
    let mut f = Fixture::new(&["a", "b", "c", "d", "e"], 1);
    // b is already sending a copy, so `a` is the only free source for both blocks.
    let busy = f.now + TIMEOUT;
    f.state
        .replication
        .pending
        .add(BlockId(99), dn("b"), vec![dn("e")], busy);
    let two = f.block(10, 3, &["a", "b"]);
    let one = f.block(20, 3, &["a"]);
    let pass = f.pass();
    let (copies, _) = f.commands();
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_eq!((copies[0].0.as_str(), copies[0].1), ("a", one));
    assert_eq!(
        pass.copies_ordered, 2,
        "one source, a pipeline of two targets"
    );
    assert_eq!(f.state.replication.needed.priority(two), Some(2));
}

#[test]
fn stream_caps_bound_each_source_and_each_target() {
    let mut f = Fixture::new(&["a", "b", "c", "d", "e", "f"], 2);
    for id in 1..=5 {
        f.block(id, 2, &["a"]);
    }
    f.pass();
    let (copies, _) = f.commands();
    assert_eq!(copies.len(), 2, "source cap: {copies:?}");
    assert!(copies.iter().all(|(source, _, _)| source == "a"));

    // Three sources, one possible target: the target's cap holds.
    let mut f = Fixture::new(&["a", "b", "c", "t"], 2);
    for id in 1..=3 {
        f.block(id, 4, &["a", "b", "c"]);
    }
    f.pass();
    let (copies, _) = f.commands();
    assert_eq!(copies.len(), 2, "target cap: {copies:?}");
    assert!(copies.iter().all(|(_, _, targets)| targets == &["t"]));
    let sources: HashSet<_> = copies.iter().map(|(s, _, _)| s.clone()).collect();
    assert_eq!(
        sources.len(),
        2,
        "the least busy source is used: {copies:?}"
    );
}

#[test]
fn while_jobs_run_blocks_with_two_replicas_heal_one_copy_at_a_time() {
    let nodes = ["a", "b", "c", "d", "e", "f"];
    let mut f = Fixture::new(&nodes, 4);
    f.state.replication.yield_to_jobs = true;
    for id in 1..=4 {
        f.block(id, 3, &["a", "b"]);
    }
    f.pass();
    let (copies, _) = f.commands();
    assert_eq!(copies.len(), 1, "one copy in the cluster: {copies:?}");

    // Down to one replica: urgent, full speed even while jobs run.
    let mut f = Fixture::new(&nodes, 4);
    f.state.replication.yield_to_jobs = true;
    for id in 1..=3 {
        f.block(id, 3, &["a"]);
    }
    f.pass();
    assert_eq!(f.commands().0.len(), 3);

    // No job running: the usual caps.
    let mut f = Fixture::new(&nodes, 4);
    for id in 1..=4 {
        f.block(id, 3, &["a", "b"]);
    }
    f.pass();
    assert_eq!(f.commands().0.len(), 4);
}

#[test]
fn a_pending_copy_is_not_ordered_twice() {
    let mut f = Fixture::new(&["a", "b", "c", "d"], 4);
    let block = f.block(1, 3, &["a"]);
    f.pass();
    let (copies, _) = f.commands();
    assert_eq!(copies.len(), 1);
    let targets = copies[0].2.clone();
    assert_eq!(targets.len(), 2);
    assert_eq!(f.state.replication.pending.len(), 2);
    f.state.blocks.mark_dirty(block);
    assert_eq!(f.pass().copies_ordered, 0);
    assert!(f.commands().0.is_empty());

    f.land(block, &targets[0]);
    assert_eq!(
        f.pass().copies_ordered,
        0,
        "the second target is still on its way"
    );
    assert_eq!(f.state.replication.re_replicated_bytes, LEN);
    f.land(block, &targets[1]);
    f.pass();
    assert!(f.commands().0.is_empty());
    assert!(!f.state.replication.needed.contains(block));
    assert_eq!(f.counts(block).health(), Health::Healthy);
    assert!(f.state.replication.pending.is_empty());
}

#[test]
fn a_timed_out_copy_is_ordered_again_avoiding_its_target() {
    let mut f = Fixture::new(&["a", "b", "c"], 4);
    let block = f.block(1, 2, &["a"]);
    f.pass();
    let (copies, _) = f.commands();
    let slow = copies[0].2[0].clone();
    f.advance(TIMEOUT - Duration::from_secs(1));
    assert_eq!(f.pass().copies_ordered, 0);

    f.advance(Duration::from_secs(2));
    assert_eq!(f.pass().copies_ordered, 1);
    let (copies, _) = f.commands();
    assert_eq!(copies.len(), 1);
    assert_ne!(copies[0].2[0], slow, "the slow target is avoided");
    assert_eq!(copies[0].1, block);

    // That one times out too: with every target avoided, the block waits...
    f.advance(TIMEOUT + Duration::from_secs(1));
    assert_eq!(f.pass().copies_ordered, 0);
    assert!(f.state.replication.needed.contains(block));
    // ...until the first avoidance expires.
    f.advance(TIMEOUT);
    assert_eq!(f.pass().copies_ordered, 1);
}

#[test]
fn missing_blocks_stay_queued_and_heal_when_a_replica_returns() {
    let mut f = Fixture::new(&["a", "b", "c"], 4);
    let block = f.block(1, 2, &["a"]);
    f.lose("a");
    let pass = f.pass();
    assert_eq!(pass.copies_ordered, 0);
    assert_eq!(f.counts(block).health(), Health::Missing);
    assert_eq!(
        f.state.replication.needed.priority(block),
        Some(NOTHING_TO_COPY)
    );
    for _ in 0..3 {
        f.advance(Duration::from_secs(5));
        f.pass();
        assert!(f.state.replication.needed.contains(block), "never dropped");
    }
    let info = f.state.datanodes.get(&dn("a")).unwrap().info.clone();
    f.state
        .datanodes
        .register(info, Default::default(), f.now)
        .unwrap();
    f.state
        .blocks
        .apply_full_report(&dn("a"), &[(block, LEN, G0)]);
    assert_eq!(f.pass().copies_ordered, 1);
}

#[test]
fn a_corrupt_replica_is_replaced_then_deleted_and_never_made_good_by_a_report() {
    let mut f = Fixture::new(&["a", "b", "c", "d"], 4);
    let block = f.block(1, 2, &["a", "b"]);
    f.state.blocks.mark_corrupt(block, &dn("a"));
    let pass = f.pass();
    assert_eq!((pass.copies_ordered, pass.corrupt_deleted), (1, 0));
    let (copies, deletes) = f.commands();
    assert_eq!(copies[0].0, "b", "never copied from the corrupt replica");
    assert!(deletes.is_empty(), "kept until the block is whole again");

    // The datanode lists the corrupt replica in a full report: still corrupt.
    f.state
        .blocks
        .apply_full_report(&dn("a"), &[(block, LEN, G0)]);
    assert_eq!(f.counts(block).corrupt, 1);
    assert_eq!(f.counts(block).live, 1);

    f.land(block, &copies[0].2[0]);
    assert_eq!(f.pass().corrupt_deleted, 1);
    let (_, deletes) = f.commands();
    assert_eq!(deletes, vec![("a".to_string(), block)]);
    f.state.blocks.remove_replica(block, &dn("a"));
    assert_eq!(f.counts(block).corrupt, 0);
    assert_eq!(f.counts(block).health(), Health::Healthy);
}

#[test]
fn the_last_replica_is_kept_however_corrupt() {
    let mut f = Fixture::new(&["a", "b"], 4);
    let block = f.block(1, 2, &["a"]);
    f.state.blocks.mark_corrupt(block, &dn("a"));
    let pass = f.pass();
    assert_eq!((pass.copies_ordered, pass.corrupt_deleted), (0, 0));
    assert_eq!(f.counts(block).health(), Health::Corrupt);
    assert!(f.commands().1.is_empty());
}

#[test]
fn a_corrupt_replica_in_the_way_of_the_only_target_is_deleted() {
    // Two nodes, replication 2, one replica corrupt: the good copy can only go where the
    // corrupt one sits.
    let mut f = Fixture::new(&["a", "b"], 4);
    let block = f.block(1, 2, &["a", "b"]);
    f.state.blocks.mark_corrupt(block, &dn("b"));
    assert_eq!(f.pass().corrupt_deleted, 1);
    assert_eq!(f.commands().1, vec![("b".to_string(), block)]);
    f.state.blocks.remove_replica(block, &dn("b"));
    f.advance(Duration::from_secs(2));
    f.pass();
    let (copies, _) = f.commands();
    assert_eq!(
        copies,
        vec![("a".to_string(), block, vec!["b".to_string()])]
    );
}

#[test]
fn nothing_is_copied_or_deleted_in_safe_mode() {
    let mut f = Fixture::new(&["a", "b", "c"], 4);
    let under = f.block(1, 3, &["a"]);
    let over = f.block(2, 1, &["a", "b"]);
    let unreported = f.block(3, 1, &[]);
    let (reported, total) = f.state.blocks.safe_counts();
    f.state.safemode = SafeMode::at_startup(0.9, reported, total);
    f.state.datanodes.set_hold_deletes(true);
    f.state.datanodes.queue_delete(&dn("c"), BlockId(77));
    let pass = f.pass();
    assert_eq!((pass.copies_ordered, pass.replicas_trimmed), (0, 0));
    assert!(!pass.left_safe_mode);
    assert_eq!(f.commands(), (Vec::new(), Vec::new()));

    let mut events = f.state.events.subscribe().unwrap();
    f.state.blocks.add_replica(unreported, &dn("c"), G0);
    let pass = f.pass();
    assert!(pass.left_safe_mode);
    assert!(
        matches!(events.try_recv(), Ok(NamespaceEvent::SafeModeLeft)),
        "the tracker is told the pass left safe mode"
    );
    assert_eq!((pass.copies_ordered, pass.replicas_trimmed), (2, 1));
    let (copies, deletes) = f.commands();
    assert_eq!(copies[0].1, under);
    assert!(
        deletes.contains(&("c".to_string(), BlockId(77))),
        "held deletes released"
    );
    assert!(deletes.iter().any(|&(_, b)| b == over));
}
