use std::net::IpAddr;

use granary_client::protocol::DEFAULT_RACK;

use super::*;

fn info(id: &str, port: u16) -> DatanodeInfo {
    DatanodeInfo {
        id: DatanodeId(id.into()),
        addr: ([127, 0, 0, 1], port).into(),
        rack: DEFAULT_RACK.into(),
    }
}

/// Where every node of these tests runs.
const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

fn manager() -> DatanodeManager {
    DatanodeManager::new(Duration::from_secs(1), HashMap::new())
}

#[test]
fn silent_nodes_die_and_must_register_again() {
    let start = Instant::now();
    let mut dns = manager();
    let a = DatanodeId("a".into());
    assert_eq!(
        dns.register(info("a", 1), StorageReport::default(), start)
            .unwrap(),
        Registration::New
    );
    let first_generation = dns.get(&a).unwrap().generation;
    dns.queue_delete(&a, BlockId(4));
    let commands = dns
        .heartbeat(&a, LOCAL, StorageReport::default(), 0, start)
        .unwrap();
    assert_eq!(
        commands,
        vec![DatanodeCommand::Delete {
            blocks: vec![BlockId(4)]
        }]
    );
    assert!(dns.take_commands(&a).unwrap().is_empty(), "delivered once");

    assert!(dns.silent(start + Duration::from_millis(500)).is_empty());
    assert_eq!(dns.silent(start + Duration::from_secs(2)), vec![a.clone()]);
    dns.queue_delete(&a, BlockId(5));
    dns.set_liveness(&a, Liveness::Dead);
    assert_eq!(dns.get(&a).unwrap().state(), DatanodeState::Dead);
    let err = dns
        .heartbeat(&a, LOCAL, StorageReport::default(), 0, start)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::UnknownDatanode);

    let moved = info("a", 2);
    assert_eq!(
        dns.register(moved.clone(), StorageReport::default(), start)
            .unwrap(),
        Registration::Returned
    );
    assert_eq!(dns.get(&a).unwrap().info, moved);
    assert!(dns.get(&a).unwrap().generation > first_generation);
    assert!(dns.is_alive(&a));
    assert!(
        dns.take_commands(&a).unwrap().is_empty(),
        "a dead node's commands are dropped"
    );
    assert_eq!(
        dns.register(moved, StorageReport::default(), start)
            .unwrap(),
        Registration::Refreshed
    );
    let unknown = dns.heartbeat(
        &DatanodeId("zz".into()),
        LOCAL,
        StorageReport::default(),
        0,
        start,
    );
    assert_eq!(unknown.unwrap_err().kind, ErrorKind::UnknownDatanode);
}

#[test]
fn states_combine_liveness_and_admin_state() {
    let now = Instant::now();
    let remembered = HashMap::from([(DatanodeId("d".into()), AdminState::Decommissioned)]);
    let mut dns = DatanodeManager::new(Duration::from_secs(1), remembered);
    for (i, id) in ["a", "b", "c", "d"].iter().enumerate() {
        dns.register(info(id, i as u16), StorageReport::default(), now)
            .unwrap();
    }
    let id = |s: &str| DatanodeId(s.into());
    let state = |dns: &DatanodeManager, s: &str| dns.get(&id(s)).unwrap().state();
    assert_eq!(
        state(&dns, "d"),
        DatanodeState::Decommissioned,
        "remembered"
    );
    dns.set_admin(&id("b"), AdminState::Decommissioning);
    dns.set_admin(&id("c"), AdminState::Maintenance { until_ms: 9 });
    assert_eq!(state(&dns, "a"), DatanodeState::Live);
    assert_eq!(state(&dns, "b"), DatanodeState::Decommissioning);
    assert_eq!(state(&dns, "c"), DatanodeState::Maintenance);
    let in_service: Vec<_> = dns.in_service().map(|n| n.info.id.as_str()).collect();
    assert_eq!(in_service, vec!["a"]);

    dns.set_liveness(&id("b"), Liveness::Dead);
    dns.set_liveness(&id("c"), Liveness::Away);
    dns.set_liveness(&id("d"), Liveness::Dead);
    assert_eq!(state(&dns, "b"), DatanodeState::Dead);
    assert_eq!(state(&dns, "c"), DatanodeState::Maintenance);
    assert_eq!(state(&dns, "d"), DatanodeState::Decommissioned);
    // Away is not dead: its heartbeats are welcome and make it alive again.
    dns.heartbeat(&id("c"), LOCAL, StorageReport::default(), 0, now)
        .unwrap();
    assert!(dns.is_alive(&id("c")));
    let report = dns.get(&id("c")).unwrap().report(3, now);
    assert_eq!(report.maintenance_until_ms, Some(9));
    assert_eq!(report.blocks, 3);
}

#[test]
fn deletions_are_held_in_safe_mode_and_handed_out_in_bounded_replies() {
    let now = Instant::now();
    let mut dns = manager();
    let a = DatanodeId("a".into());
    dns.register(info("a", 1), StorageReport::default(), now)
        .unwrap();
    dns.set_hold_deletes(true);
    for block in 0..(MAX_DELETES_PER_REPLY as u64 + 1) {
        dns.queue_delete(&a, BlockId(block));
    }
    dns.queue_delete(&a, BlockId(0));
    let replicate = DatanodeCommand::Replicate {
        block: BlockId(1),
        targets: Vec::new(),
    };
    dns.queue(&a, replicate.clone());
    assert_eq!(dns.take_commands(&a).unwrap(), vec![replicate]);
    dns.set_hold_deletes(false);
    let sizes = |commands: Vec<DatanodeCommand>| -> Vec<usize> {
        commands
            .into_iter()
            .map(|c| match c {
                DatanodeCommand::Delete { blocks } => blocks.len(),
                DatanodeCommand::Replicate { .. } | DatanodeCommand::Recover { .. } => 0,
            })
            .collect()
    };
    let first = dns
        .heartbeat(&a, LOCAL, StorageReport::default(), 0, now)
        .unwrap();
    assert_eq!(sizes(first), vec![MAX_DELETES_PER_REPLY]);
    let second = dns.take_commands(&a).unwrap();
    assert_eq!(
        second,
        vec![DatanodeCommand::Delete {
            blocks: vec![BlockId(MAX_DELETES_PER_REPLY as u64)]
        }]
    );
    assert!(dns
        .heartbeat(&a, LOCAL, StorageReport::default(), 0, now)
        .unwrap()
        .is_empty());
}

#[test]
fn a_live_id_cannot_be_taken_over_from_another_address() {
    let now = Instant::now();
    let mut dns = manager();
    let a = DatanodeId("a".into());
    dns.register(info("a", 1), StorageReport::default(), now)
        .unwrap();
    let impostor = dns.register(info("a", 2), StorageReport::default(), now);
    assert_eq!(impostor.unwrap_err().kind, ErrorKind::DatanodeConflict);
    assert_eq!(dns.get(&a).unwrap().info, info("a", 1), "entry untouched");
    assert_eq!(
        dns.register(info("a", 1), StorageReport::default(), now)
            .unwrap(),
        Registration::Refreshed,
        "the node itself may register again"
    );

    let elsewhere = IpAddr::from([10, 0, 0, 9]);
    let beat = dns.heartbeat(&a, elsewhere, StorageReport::default(), 0, now);
    assert_eq!(beat.unwrap_err().kind, ErrorKind::UnknownDatanode);
    let later = now + Duration::from_secs(2);
    assert_eq!(
        dns.silent(later),
        vec![a.clone()],
        "heartbeats from another host do not keep the entry alive"
    );

    dns.set_liveness(&a, Liveness::Dead);
    assert_eq!(
        dns.register(info("a", 2), StorageReport::default(), later)
            .unwrap(),
        Registration::Returned,
        "accepted once the node is declared dead"
    );
    assert_eq!(dns.get(&a).unwrap().info.addr.port(), 2);
}
