//! Block health end to end: fsck and setrep.

use std::time::Instant;

use granary_client::protocol::*;
use granary_client::{ErrorKind, RequestId};
use tempfile::TempDir;

use super::admin::setrep;
use super::block_received;
use super::{create_req, dn, p, put_one_block, register, Running};

#[tokio::test]
async fn fsck_classifies_every_block_below_a_path() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    let nn = &running.nn;
    for (i, id) in ["dn-a", "dn-b", "dn-c"].iter().enumerate() {
        register(nn, id, i as u8 + 1);
    }
    put_one_block(nn, "/d/ok", None).await;
    let (under, holders) = put_one_block(nn, "/d/under", None).await;
    let bad = |block, id: &granary_client::DatanodeId| ReportBadReplicaRequest {
        block,
        datanode: id.clone(),
        reason: "test".into(),
    };
    nn.report_bad_replica(bad(under, &holders[0])).unwrap();
    let (over, holders) = put_one_block(nn, "/d/over", None).await;
    let third = ["dn-a", "dn-b", "dn-c"]
        .into_iter()
        .map(dn)
        .find(|d| !holders.contains(d));
    let extra = BlockReceivedRequest {
        id: third.unwrap(),
        received: vec![ReplicaReport {
            generation: granary_client::Generation(1),
            block: over,
            length: 100,
            sha256: None,
        }],
        deleted: Vec::new(),
    };
    block_received(nn, extra).unwrap();
    let (corrupt, holders) = put_one_block(nn, "/d/bad", None).await;
    for holder in &holders {
        nn.report_bad_replica(bad(corrupt, holder)).unwrap();
    }
    // A file whose only replicas were deleted after it completed: its block is missing.
    let (missing, holders) = put_one_block(nn, "/e/gone", None).await;
    for holder in holders {
        let gone = BlockReceivedRequest {
            id: holder,
            received: Vec::new(),
            deleted: vec![missing],
        };
        block_received(nn, gone).unwrap();
    }

    let all = nn.fsck(&p("/"), false).unwrap();
    assert_eq!(all.status, HealthStatus::Corrupt);
    assert_eq!(
        (all.files, all.directories, all.blocks, all.bytes),
        (5, 3, 5, 500)
    );
    let ids = |list: &[BlockHealth]| list.iter().map(|b| b.block).collect::<Vec<_>>();
    assert_eq!(ids(&all.under_replicated), vec![under]);
    assert_eq!(ids(&all.over_replicated), vec![over]);
    assert_eq!(ids(&all.missing), vec![missing]);
    assert_eq!(ids(&all.corrupt), vec![corrupt]);
    let under_health = &all.under_replicated[0];
    assert_eq!(under_health.file, p("/d/under"));
    assert_eq!(
        (
            under_health.live_replicas,
            under_health.expected_replicas,
            under_health.corrupt_replicas
        ),
        (1, 2, 1)
    );
    assert_eq!(all.corrupt[0].corrupt_replicas, 2);
    let report = nn.cluster_report();
    assert_eq!(
        (
            report.under_replicated_blocks,
            report.over_replicated_blocks
        ),
        (1, 1)
    );
    assert_eq!((report.missing_blocks, report.corrupt_blocks), (1, 1));

    let ok = nn.fsck(&p("/d/ok"), false).unwrap();
    assert_eq!(ok.status, HealthStatus::Healthy);
    assert_eq!((ok.files, ok.directories, ok.blocks), (1, 0, 1));
    let under_only = nn.fsck(&p("/d/under"), false).unwrap();
    assert_eq!(
        under_only.status,
        HealthStatus::Healthy,
        "under-replicated is not corrupt"
    );
    assert_eq!(
        nn.fsck(&p("/e"), false).unwrap().status,
        HealthStatus::Corrupt
    );
    assert_eq!(
        nn.fsck(&p("/nope"), false).unwrap_err().kind,
        ErrorKind::NotFound
    );
    running.close().await;
}

#[tokio::test]
async fn setrep_is_validated_idempotent_persisted_and_converges() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    let nn = &running.nn;
    for (i, id) in ["dn-a", "dn-b", "dn-c"].iter().enumerate() {
        register(nn, id, i as u8 + 1);
    }
    let (block, holders) = put_one_block(nn, "/f", None).await;
    for bad in [0, 33] {
        let err = nn
            .set_replication(setrep("/f", bad, "bad"))
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
    }
    let mkdir = MkdirRequest {
        permission: None,
        path: p("/dir"),
        parents: false,
        request_id: RequestId::new(),
    };
    nn.mkdir(mkdir).await.unwrap();
    let err = nn
        .set_replication(setrep("/dir", 2, "d"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::IsADirectory);
    nn.create(create_req("/uc", RequestId::new()))
        .await
        .unwrap();
    let err = nn.set_replication(setrep("/uc", 2, "u")).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::UnderConstruction);
    let err = nn
        .set_replication(setrep("/nope", 2, "n"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);

    let status = nn.set_replication(setrep("/f", 3, "up")).await.unwrap();
    assert_eq!(status.replication, 3);
    assert_eq!(
        nn.set_replication(setrep("/f", 3, "up")).await.unwrap(),
        status
    );
    nn.replication_pass(Instant::now());
    let mut copies = Vec::new();
    for holder in &holders {
        copies.extend(nn.lock().datanodes.take_commands(holder).unwrap());
    }
    let [DatanodeCommand::Replicate { targets, .. }] = copies.as_slice() else {
        panic!("one copy expected: {copies:?}");
    };
    let received = BlockReceivedRequest {
        id: targets[0].id.clone(),
        received: vec![ReplicaReport {
            generation: granary_client::Generation(1),
            block,
            length: 100,
            sha256: None,
        }],
        deleted: Vec::new(),
    };
    block_received(nn, received).unwrap();
    let report = nn.cluster_report();
    assert_eq!(
        (report.re_replicated_bytes, report.pending_replications),
        (100, 0)
    );
    assert_eq!(report.under_replicated_blocks, 0);

    nn.set_replication(setrep("/f", 1, "down")).await.unwrap();
    let pass = nn.replication_pass(Instant::now());
    assert_eq!(pass.replicas_trimmed, 2);
    assert_eq!(
        nn.locate(&p("/f"), None).unwrap().blocks[0].locations.len(),
        3,
        "excess replicas stay readable, last"
    );
    running.close().await;

    let running = Running::open(dir.path());
    assert_eq!(running.nn.stat(&p("/f")).unwrap().replication, 1);
    running.close().await;
}

#[tokio::test]
async fn fsck_walks_a_large_tree_in_small_steps() {
    let dir = TempDir::new().unwrap();
    let running = Running::open_with(dir.path(), |c| c.ls_limit = 4);
    let nn = &running.nn;
    for (i, id) in ["dn-a", "dn-b"].iter().enumerate() {
        register(nn, id, i as u8 + 1);
    }
    for d in 0..3 {
        for f in 0..5 {
            put_one_block(nn, &format!("/t/d{d}/sub/f{f}"), None).await;
        }
    }
    let (lonely, holders) = put_one_block(nn, "/t/d1/z", None).await;
    let gone = BlockReceivedRequest {
        id: holders[0].clone(),
        received: Vec::new(),
        deleted: vec![lonely],
    };
    block_received(nn, gone).unwrap();

    let mut steps = 0;
    let mut fsck = crate::fsck::Fsck::new(&p("/t"), false);
    while !fsck.step(&nn.lock(), 4).unwrap() {
        steps += 1;
        assert!(steps < 100, "the walk must end");
    }
    assert!(steps > 3, "done in several short lock holds ({steps})");
    let report = fsck.finish();
    assert_eq!(
        (report.files, report.directories, report.blocks),
        (16, 7, 16)
    );
    let under: Vec<_> = report.under_replicated.iter().map(|b| &b.file).collect();
    assert_eq!(under, vec![&p("/t/d1/z")]);
    assert_eq!(
        nn.fsck(&p("/t"), false).unwrap(),
        report,
        "the same as one call"
    );
    running.close().await;
}
