//! Block bookkeeping: placement, replica reports, deletion, dead datanodes, bad replicas.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use granary_client::protocol::*;
use granary_client::{BlockId, DatanodeId, Digest, ErrorKind};
use tempfile::TempDir;

use super::{block_received, block_report};
use super::{create_req, dn, heartbeat, p, put_one_block, register, rid, Running};

#[tokio::test]
async fn blocks_are_placed_reported_located_and_deleted() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    let nn = &running.nn;
    let file = nn.create(create_req("/f", rid("c"))).await.unwrap().file;
    let add = AddBlockRequest {
        previous: None,
        holder: "test-writer".parse().unwrap(),
        path: p("/f"),
        file,
        excluded: Vec::new(),
        request_id: rid("add-1"),
    };
    assert_eq!(
        nn.add_block(add.clone(), None).await.unwrap_err().kind,
        ErrorKind::NoDatanodes
    );

    for (i, id) in ["dn-a", "dn-b", "dn-c"].iter().enumerate() {
        register(nn, id, i as u8 + 1);
    }
    let writer = Some(IpAddr::from([10, 0, 0, 2]));
    let allocated = nn.add_block(add.clone(), writer).await.unwrap();
    assert_eq!(
        nn.add_block(add, writer).await.unwrap(),
        allocated,
        "retried add_block allocates nothing"
    );
    assert_eq!(allocated.pipeline.len(), 2);
    assert_eq!(allocated.pipeline[0].id, dn("dn-b"));

    let received = |id: &str, block, length| BlockReceivedRequest {
        id: dn(id),
        received: vec![ReplicaReport {
            generation: granary_client::Generation(1),
            block,
            length,
            sha256: Some(Digest::of(b"x")),
        }],
        deleted: Vec::new(),
    };
    for holder in &allocated.pipeline {
        block_received(nn, received(&holder.id.0, allocated.block, 100)).unwrap();
    }
    block_received(nn, received("dn-c", BlockId(9999), 1)).unwrap();
    let commands = heartbeat(
        nn,
        HeartbeatRequest {
            id: dn("dn-c"),
            storage: StorageReport::default(),
            active_transfers: 0,
        },
    );
    assert_eq!(
        commands.unwrap().commands,
        vec![DatanodeCommand::Delete {
            blocks: vec![BlockId(9999)]
        }]
    );

    let committed = CommittedBlock {
        generation: granary_client::Generation(1),
        id: allocated.block,
        length: 100,
        sha256: Digest::of(b"x"),
        persisted_on: allocated.pipeline.iter().map(|d| d.id.clone()).collect(),
    };
    let complete = CompleteRequest {
        holder: "test-writer".parse().unwrap(),
        path: p("/f"),
        file,
        blocks: vec![committed],
        request_id: rid("done"),
    };
    nn.complete(complete).await.unwrap();
    let located = nn.locate(&p("/f"), writer).unwrap();
    assert_eq!(located.blocks[0].locations.len(), 2);
    assert_eq!(located.blocks[0].locations[0].id, dn("dn-b"));
    assert_eq!(nn.cluster_report().under_replicated_blocks, 0);

    let outsider = ["dn-a", "dn-b", "dn-c"]
        .into_iter()
        .map(dn)
        .find(|d| allocated.pipeline.iter().all(|p| p.id != *d));
    let report = BlockReportRequest {
        id: outsider.unwrap(),
        replicas: vec![
            ReplicaReport {
                generation: granary_client::Generation(1),
                block: allocated.block,
                length: 99,
                sha256: None,
            },
            ReplicaReport {
                generation: granary_client::Generation(1),
                block: BlockId(777),
                length: 5,
                sha256: None,
            },
        ],
    };
    let answer = block_report(nn, report).unwrap();
    assert_eq!(
        answer.commands,
        vec![DatanodeCommand::Delete {
            blocks: vec![allocated.block, BlockId(777)]
        }]
    );

    let delete = DeleteRequest {
        path: p("/f"),
        recursive: false,
        request_id: rid("rm"),
    };
    assert_eq!(nn.delete(delete).await.unwrap().blocks, 1);
    for holder in &allocated.pipeline {
        let beat = HeartbeatRequest {
            id: holder.id.clone(),
            storage: StorageReport::default(),
            active_transfers: 0,
        };
        let commands = heartbeat(nn, beat).unwrap().commands;
        assert_eq!(
            commands,
            vec![DatanodeCommand::Delete {
                blocks: vec![allocated.block]
            }]
        );
    }
    running.close().await;
}

#[tokio::test]
async fn corrupt_replicas_are_never_offered_and_dead_datanodes_lose_their_replicas() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    let nn = &running.nn;
    register(nn, "dn-a", 1);
    register(nn, "dn-b", 2);
    let (block, holders) = put_one_block(nn, "/f", None).await;
    assert_eq!(holders.len(), 2);

    let bad = |id: &DatanodeId| ReportBadReplicaRequest {
        block,
        datanode: id.clone(),
        reason: "checksum".into(),
    };
    nn.report_bad_replica(bad(&holders[0])).unwrap();
    let located = nn.locate(&p("/f"), None).unwrap();
    let offered: Vec<_> = located.blocks[0].locations.iter().map(|l| &l.id).collect();
    assert_eq!(offered, vec![&holders[1]]);
    let report = nn.cluster_report();
    assert_eq!(
        (report.under_replicated_blocks, report.corrupt_blocks),
        (1, 0)
    );

    nn.report_bad_replica(bad(&holders[1])).unwrap();
    let report = nn.cluster_report();
    assert_eq!((report.corrupt_blocks, report.missing_blocks), (1, 0));
    assert!(nn.locate(&p("/f"), None).unwrap().blocks[0]
        .locations
        .is_empty());
    nn.replication_pass(Instant::now());
    let beat = |id: &DatanodeId| HeartbeatRequest {
        id: id.clone(),
        storage: StorageReport::default(),
        active_transfers: 0,
    };
    for holder in &holders {
        assert!(
            heartbeat(nn, beat(holder)).unwrap().commands.is_empty(),
            "the last copies are never deleted"
        );
    }
    // Reported again: still corrupt.
    let reported = BlockReceivedRequest {
        id: holders[1].clone(),
        received: vec![ReplicaReport {
            generation: granary_client::Generation(1),
            block,
            length: 100,
            sha256: None,
        }],
        deleted: Vec::new(),
    };
    block_received(nn, reported).unwrap();
    assert_eq!(nn.cluster_report().corrupt_blocks, 1);

    nn.expire_datanodes(Instant::now() + Duration::from_secs(60));
    let report = nn.cluster_report();
    assert_eq!(
        (
            report.live_datanodes,
            report.dead_datanodes,
            report.missing_blocks
        ),
        (0, 2, 1)
    );
    assert!(nn.locate(&p("/f"), None).unwrap().blocks[0]
        .locations
        .is_empty());
    assert_eq!(
        heartbeat(nn, beat(&holders[1])).unwrap_err().kind,
        ErrorKind::UnknownDatanode
    );
    running.close().await;
}

#[tokio::test]
async fn files_under_construction_keep_their_blocks_across_a_restart() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    register(&running.nn, "dn-a", 1);
    let file = running
        .nn
        .create(create_req("/uc", rid("c")))
        .await
        .unwrap()
        .file;
    let add = AddBlockRequest {
        previous: None,
        holder: "test-writer".parse().unwrap(),
        path: p("/uc"),
        file,
        excluded: Vec::new(),
        request_id: rid("a"),
    };
    let block = running.nn.add_block(add, None).await.unwrap().block;
    running.close().await;

    let running = Running::open(dir.path());
    register(&running.nn, "dn-a", 1);
    let report = BlockReportRequest {
        id: dn("dn-a"),
        replicas: vec![ReplicaReport {
            generation: granary_client::Generation(1),
            block,
            length: 42,
            sha256: None,
        }],
    };
    assert!(block_report(&running.nn, report)
        .unwrap()
        .commands
        .is_empty());
    let status = running.nn.stat(&p("/uc")).unwrap();
    assert_eq!(
        status.lease_holder,
        Some("test-writer".parse().unwrap()),
        "still open"
    );
    assert!(running
        .nn
        .locate(&p("/uc"), None)
        .unwrap()
        .blocks
        .is_empty());
    running.close().await;
}

#[tokio::test]
async fn reports_under_a_live_id_from_another_host_are_refused_and_change_nothing() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    let nn = &running.nn;
    register(nn, "dn-a", 1);
    let (block, holders) = put_one_block(nn, "/f", None).await;
    assert_eq!(holders, [dn("dn-a")]);
    let elsewhere = IpAddr::from([10, 0, 0, 99]);

    let forged = BlockReceivedRequest {
        id: dn("dn-a"),
        received: vec![ReplicaReport {
            generation: granary_client::Generation(1),
            block: BlockId(4242),
            length: 7,
            sha256: Some(Digest::of(b"forged")),
        }],
        deleted: vec![block],
    };
    let err = nn.block_received(forged, elsewhere).unwrap_err();
    assert_eq!(err.kind, ErrorKind::UnknownDatanode);
    let wipe = BlockReportRequest {
        id: dn("dn-a"),
        replicas: Vec::new(),
    };
    let err = nn.block_report(wipe, elsewhere).unwrap_err();
    assert_eq!(err.kind, ErrorKind::UnknownDatanode);
    let failed = ReplicationFailedRequest {
        id: dn("dn-a"),
        block,
        targets: Vec::new(),
        reason: "forged".into(),
    };
    let err = nn.replication_failed(failed, elsewhere).unwrap_err();
    assert_eq!(err.kind, ErrorKind::UnknownDatanode);
    let err = nn.poll_commands(&dn("dn-a"), elsewhere).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::UnknownDatanode);

    let located = nn.locate(&p("/f"), None).unwrap();
    assert_eq!(
        located.blocks[0].locations.len(),
        1,
        "its replica is still known"
    );
    assert_eq!(located.blocks[0].locations[0].id, dn("dn-a"));
    assert!(
        nn.lock().blocks.get(BlockId(4242)).is_none(),
        "nothing forged recorded"
    );
}
