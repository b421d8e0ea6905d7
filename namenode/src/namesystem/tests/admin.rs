//! Operator features end to end: safe mode, decommission and maintenance.

use std::time::{Duration, Instant};

use granary_client::protocol::*;
use granary_client::{BlockId, ErrorKind, RequestId};
use tempfile::TempDir;

use super::block_report;
use super::{create_req, dn, heartbeat, p, put_one_block, register, rid, Running};
use crate::now_ms;

pub(super) fn setrep(path: &str, replication: u16, request_id: &str) -> SetReplicationRequest {
    SetReplicationRequest {
        path: p(path),
        replication,
        request_id: rid(request_id),
    }
}

fn report(id: &str, blocks: &[BlockId]) -> BlockReportRequest {
    let replicas = blocks
        .iter()
        .map(|&block| ReplicaReport {
            generation: granary_client::Generation(1),
            block,
            length: 100,
            sha256: None,
        })
        .collect();
    BlockReportRequest {
        id: dn(id),
        replicas,
    }
}

#[tokio::test]
async fn safe_mode_refuses_changes_until_enough_blocks_are_reported() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    register(&running.nn, "dn-a", 1);
    register(&running.nn, "dn-b", 2);
    let (f, _) = put_one_block(&running.nn, "/f", None).await;
    let (g, _) = put_one_block(&running.nn, "/g", None).await;
    running.close().await;

    let running = Running::open_with(dir.path(), |c| c.safemode_threshold = 0.999);
    let nn = &running.nn;
    let status = nn.safe_mode(SafeModeAction::Get);
    assert!(status.on && !status.manual);
    assert_eq!((status.reported_blocks, status.total_blocks), (0, 2));
    assert!(nn.cluster_report().safe_mode);

    let refused = nn
        .create(create_req("/new", rid("c-sm")))
        .await
        .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::SafeMode);
    assert!(
        refused
            .message
            .contains("0 of 2 blocks reported, need 99.9%"),
        "{}",
        refused.message
    );
    let mkdir = MkdirRequest {
        permission: None,
        path: p("/d"),
        parents: true,
        request_id: rid("m-sm"),
    };
    assert_eq!(
        nn.mkdir(mkdir.clone()).await.unwrap_err().kind,
        ErrorKind::SafeMode
    );
    let delete = DeleteRequest {
        path: p("/f"),
        recursive: false,
        request_id: RequestId::new(),
    };
    assert_eq!(
        nn.delete(delete).await.unwrap_err().kind,
        ErrorKind::SafeMode
    );
    let rename = RenameRequest {
        src: p("/f"),
        dst: p("/h"),
        request_id: RequestId::new(),
    };
    assert_eq!(
        nn.rename(rename).await.unwrap_err().kind,
        ErrorKind::SafeMode
    );
    let refused = nn
        .set_replication(setrep("/f", 1, "s-sm"))
        .await
        .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::SafeMode);
    // Reads work.
    assert_eq!(nn.stat(&p("/f")).unwrap().length, 100);
    assert_eq!(nn.lock().ns.list(&p("/"), false).unwrap().len(), 2);
    assert_eq!(nn.locate(&p("/g"), None).unwrap().blocks[0].id, g);

    // Deletions of unknown replicas wait for the end of safe mode.
    register(nn, "dn-b", 2);
    let answer = block_report(nn, report("dn-b", &[f, BlockId(999)])).unwrap();
    assert!(answer.commands.is_empty());
    assert!(nn.safe_mode(SafeModeAction::Get).on, "1 of 2 reported");
    register(nn, "dn-a", 1);
    block_report(nn, report("dn-a", &[f, g])).unwrap();
    assert!(!nn.safe_mode(SafeModeAction::Get).on);
    let beat = HeartbeatRequest {
        id: dn("dn-b"),
        storage: StorageReport::default(),
        active_transfers: 0,
    };
    let commands = heartbeat(nn, beat).unwrap().commands;
    assert_eq!(
        commands,
        vec![DatanodeCommand::Delete {
            blocks: vec![BlockId(999)]
        }]
    );
    // Refusals were not cached: the same request ids now succeed.
    nn.create(create_req("/new", rid("c-sm"))).await.unwrap();
    nn.mkdir(mkdir).await.unwrap();

    let status = nn.safe_mode(SafeModeAction::Enter);
    assert!(status.on && status.manual);
    let refused = nn
        .create(create_req("/x", RequestId::new()))
        .await
        .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::SafeMode);
    assert!(refused.message.contains("entered by an operator"));
    assert!(!nn.safe_mode(SafeModeAction::Leave).on);
    nn.create(create_req("/x", RequestId::new())).await.unwrap();
    running.close().await;
}

#[tokio::test]
async fn admin_states_answer_reports_and_survive_a_restart() {
    let dir = TempDir::new().unwrap();
    let running = Running::open_with(dir.path(), |c| {
        c.max_maintenance = Duration::from_secs(3600);
    });
    let nn = &running.nn;
    for (i, id) in ["dn-a", "dn-b", "dn-c"].iter().enumerate() {
        register(nn, id, i as u8 + 1);
    }
    let err = nn.decommission(&dn("dn-x")).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    let a = nn.decommission(&dn("dn-a")).await.unwrap();
    assert_eq!(a.state, DatanodeState::Decommissioning);
    let asked = MaintenanceRequest {
        datanode: dn("dn-b"),
        duration_ms: Some(10 * 3600 * 1000),
    };
    let b = nn.maintenance(&asked).await.unwrap();
    assert_eq!(b.state, DatanodeState::Maintenance);
    let until = b.maintenance_until_ms.unwrap();
    let hour_from_now = now_ms() + 3600 * 1000;
    assert!(
        until <= hour_from_now && until + 10_000 > hour_from_now,
        "capped at max_maintenance"
    );
    let c = MaintenanceRequest {
        datanode: dn("dn-c"),
        duration_ms: None,
    };
    assert!(nn
        .maintenance(&c)
        .await
        .unwrap()
        .maintenance_until_ms
        .is_some());
    let c = nn.recommission(&dn("dn-c")).await.unwrap();
    assert_eq!(
        (c.state, c.maintenance_until_ms),
        (DatanodeState::Live, None)
    );
    let report = nn.cluster_report();
    assert_eq!(
        (
            report.live_datanodes,
            report.decommissioning_datanodes,
            report.maintenance_datanodes
        ),
        (1, 1, 1)
    );
    // dn-a holds nothing: it is drained at once.
    nn.replication_pass(Instant::now());
    assert_eq!(nn.cluster_report().decommissioned_datanodes, 1);
    running.close().await;

    let running = Running::open(dir.path());
    for (i, id) in ["dn-a", "dn-b", "dn-c"].iter().enumerate() {
        register(&running.nn, id, i as u8 + 1);
    }
    let states: Vec<_> = running
        .nn
        .cluster_report()
        .datanodes
        .iter()
        .map(|d| d.state)
        .collect();
    use DatanodeState::*;
    assert_eq!(states, vec![Decommissioned, Maintenance, Live]);
    // A placement never lands on them.
    let (_, holders) = put_one_block(&running.nn, "/f", None).await;
    assert_eq!(holders, vec![dn("dn-c")]);
    // dn-b registering again on the same namenode means it restarted: maintenance is over.
    register(&running.nn, "dn-b", 2);
    let b = &running.nn.cluster_report().datanodes[1];
    assert_eq!((b.state, b.maintenance_until_ms), (Live, None));
    running.close().await;
}
