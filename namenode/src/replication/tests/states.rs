//! Trimming excess replicas, and the admin states: decommission, recommission, maintenance.

use std::time::Duration;

use granary_client::protocol::DatanodeState;

use super::{dn, Fixture};
use crate::datanodes::{AdminState, Liveness};
use crate::replication::Health;

#[test]
fn excess_replicas_go_from_the_fullest_nodes_never_below_the_replication() {
    let nodes = [
        ("a", "/r", 100),
        ("b", "/r", 900),
        ("c", "/r", 500),
        ("d", "/r", 200),
    ];
    let mut f = Fixture::with_racks(&nodes, 4);
    let block = f.block(1, 2, &["a", "b", "c", "d"]);
    assert_eq!(f.counts(block).health(), Health::OverReplicated);
    assert_eq!(f.pass().replicas_trimmed, 2);
    let (_, mut deletes) = f.commands();
    deletes.sort();
    assert_eq!(deletes, vec![("b".into(), block), ("c".into(), block)]);
    // Until they report the deletion, the victims no longer count and are not picked again.
    assert_eq!(f.counts(block).live, 2);
    f.state.blocks.mark_dirty(block);
    assert_eq!(f.pass().replicas_trimmed, 0);
    assert_eq!(f.counts(block).health(), Health::Healthy);
}

#[test]
fn trimming_keeps_racks_and_waits_for_pending_copies() {
    let nodes = [
        ("a1", "/a", 100),
        ("a2", "/a", 200),
        ("b1", "/b", 900),
        ("c", "/c", 0),
    ];
    let mut f = Fixture::with_racks(&nodes, 4);
    let block = f.block(1, 2, &["a1", "a2", "b1"]);
    f.pass();
    assert_eq!(
        f.commands().1,
        vec![("a2".into(), block)],
        "b1 is its rack's only copy"
    );

    let other = f.block(2, 3, &["a1", "b1"]);
    f.pass();
    let (copies, _) = f.commands();
    assert_eq!(copies.len(), 1);
    // The file's replication drops while the copy is on its way: no trim until it lands.
    f.state.blocks.set_replication(other, 1);
    assert_eq!(f.pass().replicas_trimmed, 0);
    f.land(other, &copies[0].2[0]);
    assert_eq!(f.pass().replicas_trimmed, 2);
}

#[test]
fn decommission_ends_only_when_every_block_is_replicated_elsewhere() {
    let mut f = Fixture::new(&["a", "b", "c", "d"], 4);
    let block = f.block(1, 2, &["a", "b"]);
    let spare = f.block(2, 1, &["b"]);
    f.state
        .datanodes
        .set_admin(&dn("a"), AdminState::Decommissioning);
    f.state.blocks.mark_datanode_dirty(&dn("a"));
    let pass = f.pass();
    assert!(pass.admin_changed.is_empty());
    let (copies, _) = f.commands();
    assert_eq!(copies.len(), 1);
    assert_eq!(
        (copies[0].0.as_str(), copies[0].1),
        ("a", block),
        "the leaving node is the preferred source"
    );
    assert!(!copies[0].2.contains(&"a".to_string()));
    assert_eq!(
        f.state.datanodes.get(&dn("a")).unwrap().state(),
        DatanodeState::Decommissioning
    );
    f.advance(Duration::from_secs(1));
    assert!(f.pass().admin_changed.is_empty(), "the copy has not landed");

    f.land(block, &copies[0].2[0]);
    let pass = f.pass();
    assert_eq!(pass.admin_changed, vec![dn("a")]);
    assert_eq!(
        f.state.datanodes.get(&dn("a")).unwrap().state(),
        DatanodeState::Decommissioned
    );
    assert_eq!(f.counts(spare).health(), Health::Healthy);
    // A decommissioned node's replicas neither count nor are trimmed.
    assert_eq!((f.counts(block).live, f.counts(block).leaving), (2, 1));
    assert_eq!(pass.replicas_trimmed, 0);

    // Back in service: its replica counts again, and one of three is excess.
    f.state.datanodes.set_admin(&dn("a"), AdminState::InService);
    f.state.blocks.mark_datanode_dirty(&dn("a"));
    assert_eq!(f.pass().replicas_trimmed, 1);
    assert_eq!(f.commands().1.len(), 1);
    assert_eq!(f.counts(block).live, 2);
}

#[test]
fn a_dead_decommissioned_node_triggers_no_copies() {
    let mut f = Fixture::new(&["a", "b", "c"], 4);
    let block = f.block(1, 2, &["a", "b", "c"]);
    f.state
        .datanodes
        .set_admin(&dn("a"), AdminState::Decommissioned);
    f.state.blocks.mark_datanode_dirty(&dn("a"));
    f.pass();
    f.commands();
    f.lose("a");
    let pass = f.pass();
    assert_eq!((pass.copies_ordered, pass.replicas_trimmed), (0, 0));
    assert_eq!(f.counts(block).health(), Health::Healthy);
    let a = f.state.datanodes.get(&dn("a")).unwrap();
    assert_eq!(
        (a.liveness, a.state()),
        (Liveness::Dead, DatanodeState::Decommissioned)
    );
}

#[test]
fn maintenance_suppresses_copies_until_its_deadline() {
    let mut f = Fixture::new(&["a", "b", "c"], 4);
    let block = f.block(1, 2, &["a", "b"]);
    let until_ms = f.now_ms + 60_000;
    f.state
        .datanodes
        .set_admin(&dn("a"), AdminState::Maintenance { until_ms });
    f.lose("a");
    let a = f.state.datanodes.get(&dn("a")).unwrap();
    assert_eq!(
        (a.liveness, a.state()),
        (Liveness::Away, DatanodeState::Maintenance)
    );
    assert_eq!(f.pass().copies_ordered, 0);
    assert_eq!(f.counts(block).maintenance, 1);
    assert_eq!(f.counts(block).health(), Health::Healthy);
    f.advance(Duration::from_secs(59));
    assert_eq!(f.pass().copies_ordered, 0);

    f.advance(Duration::from_secs(2));
    let pass = f.pass();
    assert_eq!(pass.admin_changed, vec![dn("a")]);
    assert_eq!(
        pass.copies_ordered, 1,
        "silent after its window: dead, and healed"
    );
    let (copies, _) = f.commands();
    assert_eq!(copies, vec![("b".into(), block, vec!["c".into()])]);
    assert_eq!(
        f.state.datanodes.get(&dn("a")).unwrap().state(),
        DatanodeState::Dead
    );
}

#[test]
fn a_block_only_on_maintenance_nodes_gets_one_copy_elsewhere() {
    let mut f = Fixture::new(&["a", "b", "c"], 4);
    let block = f.block(1, 2, &["a", "b"]);
    let until_ms = f.now_ms + 60_000;
    for id in ["a", "b"] {
        let maintenance = AdminState::Maintenance { until_ms };
        f.state.datanodes.set_admin(&dn(id), maintenance);
    }
    f.state.blocks.mark_dirty(block);
    assert_eq!(f.pass().copies_ordered, 1);
    let (copies, _) = f.commands();
    assert_eq!(copies[0].2, vec!["c".to_string()]);
}
