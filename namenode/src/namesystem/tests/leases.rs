//! Leases and lease recovery: held, renewed, expired past the soft limit (another writer
//! recovers the file) and the hard limit (the namenode does), kept across a restart with a
//! fresh soft limit; recoveries committed only at their latest generation, and started again
//! with another primary after `recovery_timeout`.

use std::time::{Duration, Instant};

use granary_client::protocol::*;
use granary_client::{ErrorKind, Generation, RequestId};
use tempfile::TempDir;

use super::writers::*;
use super::{dn, p, register, Running};

const SOFT: Duration = Duration::from_millis(300);

fn short_leases(dir: &std::path::Path) -> Running {
    Running::open_with(dir, |c| {
        c.lease_soft_limit = SOFT;
        c.lease_hard_limit = Duration::from_secs(60);
        c.recovery_timeout = Duration::from_secs(10);
    })
}

#[tokio::test]
async fn a_lease_is_held_then_recovered_for_the_next_writer_past_its_soft_limit() {
    let dir = TempDir::new().unwrap();
    let running = short_leases(dir.path());
    let nn = &running.nn;
    register(nn, "dn-a", 1);
    register(nn, "dn-b", 2);
    let file = open(nn, "/f", "writer-a").await.unwrap();
    let allocated = add(nn, "/f", file, "writer-a", None).await.unwrap();
    assert_eq!(allocated.generation, Generation(1));
    let nodes = ids(&allocated.pipeline);
    for node in &nodes {
        report(nn, node, allocated.block, 1, 50);
    }

    let held = open(nn, "/f", "writer-b").await.unwrap_err();
    assert_eq!(held.kind, ErrorKind::LeaseHeld);
    assert!(held.message.contains("writer-a"), "{held}");
    let held = append(nn, "/f", "writer-b").await.unwrap_err();
    assert_eq!(held.kind, ErrorKind::LeaseHeld, "{held}");
    let renew = RenewLeaseRequest {
        holder: holder("nobody"),
    };
    nn.renew_lease(&renew);

    tokio::time::sleep(SOFT + Duration::from_millis(50)).await;
    let recovering = append(nn, "/f", "writer-b").await.unwrap_err();
    assert_eq!(
        recovering.kind,
        ErrorKind::RecoveryInProgress,
        "{recovering}"
    );
    assert!(recovering.kind.is_transient());
    let (primary, block, generation, length, replicas) = recover_command(nn, &nodes);
    assert_eq!(
        (block, generation, length),
        (allocated.block, Generation(2), None)
    );
    assert_eq!(replicas.len(), 2, "every node that may hold it");
    let gone = add(nn, "/f", file, "writer-a", None).await.unwrap_err();
    assert_eq!(gone.kind, ErrorKind::LeaseExpired, "{gone}");
    let report = nn.fsck(&p("/"), true).unwrap();
    assert_eq!(report.open_files.len(), 1);
    assert!(report.open_files[0].recovering);
    assert_eq!(report.open_files[0].holder, holder("writer-a"));
    assert_eq!(
        report.status,
        HealthStatus::Healthy,
        "an open file's last block is not missing"
    );

    let forged = CommitBlockSyncRequest {
        id: primary.clone(),
        block,
        generation,
        recovered: None,
    };
    let elsewhere = nn.commit_block_sync(forged, std::net::IpAddr::from([10, 9, 9, 9]));
    assert_eq!(
        elsewhere.await.unwrap_err().kind,
        ErrorKind::UnknownDatanode,
        "checked by host"
    );
    let stale = commit_sync(
        nn,
        &primary,
        block,
        Generation(1),
        Some((50, nodes.clone())),
    );
    assert_eq!(stale.await.unwrap_err().kind, ErrorKind::InvalidArgument);
    commit_sync(nn, &primary, block, generation, Some((40, nodes.clone())))
        .await
        .unwrap();
    let status = nn.stat(&p("/f")).unwrap();
    assert_eq!((status.length, status.lease_holder), (40, None));
    let located = nn.locate(&p("/f"), None).unwrap();
    assert_eq!(located.blocks[0].generation, Generation(2));
    assert_eq!(located.blocks[0].length, 40);
    assert_eq!(located.blocks[0].locations.len(), 2);
    commit_sync(nn, &primary, block, generation, Some((40, nodes.clone())))
        .await
        .expect("a repeated commit is harmless");

    let appended = append(nn, "/f", "writer-b").await.unwrap();
    let last = appended
        .last_block
        .expect("a partial last block is reopened");
    assert_eq!((last.generation, last.length), (Generation(3), 40));
    assert_eq!(appended.lease_soft_limit_ms, 300);
    running.close().await;
}

#[tokio::test]
async fn the_hard_limit_closes_abandoned_files_and_recoveries_time_out_to_another_primary() {
    let dir = TempDir::new().unwrap();
    let running = Running::open_with(dir.path(), |c| {
        c.lease_soft_limit = Duration::from_secs(1);
        c.lease_hard_limit = Duration::from_secs(2);
        c.recovery_timeout = Duration::from_secs(1);
    });
    let nn = &running.nn;
    register(nn, "dn-a", 1);
    register(nn, "dn-b", 2);
    let empty = open(nn, "/empty", "gone").await.unwrap();
    let file = open(nn, "/f", "gone").await.unwrap();
    let first = add(nn, "/f", file, "gone", None).await.unwrap();
    let nodes = ids(&first.pipeline);
    for node in &nodes {
        report(nn, node, first.block, 1, 1 << 20);
    }
    let kept = block_at(first.block, 1, 1 << 20);
    let second = add(nn, "/f", file, "gone", Some(kept)).await.unwrap();
    for node in &nodes {
        report(nn, node, second.block, 1, 70);
    }

    assert_eq!(
        nn.check_leases(Instant::now()).await.unwrap(),
        Default::default()
    );
    let later = Instant::now() + Duration::from_secs(3);
    let pass = nn.check_leases(later).await.unwrap();
    assert_eq!((pass.closed, pass.started), (1, 1), "{pass:?}");
    let closed = nn.stat(&p("/empty")).unwrap();
    assert_eq!((closed.length, closed.lease_holder), (0, None));
    assert_eq!(
        nn.lock().ns.get(empty).map(|i| i.is_under_construction()),
        Some(false)
    );
    let (primary, block, generation, _, _) = recover_command(nn, &nodes);
    assert_eq!((block, generation), (second.block, Generation(2)));
    let open_now = nn.stat(&p("/f")).unwrap();
    assert_eq!(
        open_now.length,
        1 << 20,
        "the block before the last is kept"
    );

    let pass = nn
        .check_leases(Instant::now() + Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(pass.restarted, 1, "{pass:?}");
    let (again, _, newer, _, _) = recover_command(nn, &nodes);
    assert_ne!(again, primary, "another primary");
    assert_eq!(newer, Generation(3));
    let late = commit_sync(nn, &primary, block, generation, Some((70, nodes.clone())));
    assert_eq!(
        late.await.unwrap_err().kind,
        ErrorKind::InvalidArgument,
        "superseded"
    );
    commit_sync(nn, &again, block, newer, None).await.unwrap();
    let status = nn.stat(&p("/f")).unwrap();
    assert_eq!(
        (status.length, status.lease_holder),
        (1 << 20, None),
        "nothing recovered: dropped"
    );
    assert_eq!(nn.locate(&p("/f"), None).unwrap().blocks.len(), 1);
    running.close().await;
}

#[tokio::test]
async fn a_file_nobody_alive_may_hold_closes_at_once_without_its_last_block() {
    let dir = TempDir::new().unwrap();
    let running = short_leases(dir.path());
    let nn = &running.nn;
    register(nn, "dn-a", 1);
    let file = open(nn, "/f", "gone").await.unwrap();
    add(nn, "/f", file, "gone", None).await.unwrap();
    nn.expire_datanodes(Instant::now() + Duration::from_secs(60));
    let answer = recover_lease(nn, "/f").await;
    assert!(answer.closed);
    assert_eq!(
        (answer.status.length, answer.status.lease_holder),
        (0, None)
    );
    assert!(
        recover_lease(nn, "/f").await.closed,
        "a closed file stays closed"
    );
    running.close().await;
}

#[tokio::test]
async fn leases_survive_a_restart_with_a_fresh_soft_limit_and_generations_are_never_reused() {
    let dir = TempDir::new().unwrap();
    let running = short_leases(dir.path());
    register(&running.nn, "dn-a", 1);
    let file = open(&running.nn, "/f", "writer-a").await.unwrap();
    let allocated = add(&running.nn, "/f", file, "writer-a", None)
        .await
        .unwrap();
    report(&running.nn, &dn("dn-a"), allocated.block, 1, 10);
    let flush = FlushRequest {
        path: p("/f"),
        file,
        block: block_at(allocated.block, 1, 10),
        holder: holder("writer-a"),
        request_id: RequestId::new(),
    };
    running.nn.flush_block(flush).await.unwrap();
    let reopen = ReopenBlockRequest {
        path: p("/f"),
        file,
        block: allocated.block,
        excluded: Vec::new(),
        holder: holder("writer-a"),
        request_id: RequestId::new(),
    };
    let reopened = running.nn.reopen_block(reopen.clone(), None).await.unwrap();
    assert_eq!(reopened.generation, Generation(2));
    tokio::time::sleep(SOFT + Duration::from_millis(50)).await;
    running.crash().await;

    let running = short_leases(dir.path());
    let nn = &running.nn;
    register(nn, "dn-a", 1);
    let status = nn.stat(&p("/f")).unwrap();
    assert_eq!(
        status.lease_holder,
        Some(holder("writer-a")),
        "the holder is persisted"
    );
    assert_eq!(status.length, 10, "the flushed length is journaled");
    let held = open(nn, "/f", "writer-b").await.unwrap_err();
    assert_eq!(
        held.kind,
        ErrorKind::LeaseHeld,
        "a fresh soft limit: {held}"
    );
    let again = ReopenBlockRequest {
        request_id: RequestId::new(),
        ..reopen
    };
    let report_full = BlockReportRequest {
        id: dn("dn-a"),
        replicas: vec![ReplicaReport {
            block: allocated.block,
            generation: Generation(1),
            length: 10,
            sha256: None,
        }],
    };
    super::block_report(nn, report_full).unwrap();
    let reopened = nn.reopen_block(again, None).await.unwrap();
    assert_eq!(
        reopened.generation,
        Generation(3),
        "generation 2 was handed out already"
    );
    assert_eq!(reopened.length, 10);
    running.close().await;
}
