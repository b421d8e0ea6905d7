//! `complete` trusts the datanodes' reports, not the writer's claims.

use std::time::Duration;

use granary_client::protocol::*;
use granary_client::{BlockId, Digest, ErrorKind, InodeId, RequestId};
use tempfile::TempDir;

use super::{block_received, block_report};
use super::{create_req, dn, p, register, report_written, Running, WRITTEN};

/// A file under construction with one allocated block on a pipeline of two.
async fn open_with_block(nn: &super::Namesystem, path: &str) -> (InodeId, AddBlockResponse) {
    let file = nn
        .create(create_req(path, RequestId::new()))
        .await
        .unwrap()
        .file;
    let add = AddBlockRequest {
        previous: None,
        holder: "test-writer".parse().unwrap(),
        path: p(path),
        file,
        excluded: Vec::new(),
        request_id: RequestId::new(),
    };
    (file, nn.add_block(add, None).await.unwrap())
}

fn complete_req(path: &str, file: InodeId, block: CommittedBlock) -> CompleteRequest {
    CompleteRequest {
        holder: "test-writer".parse().unwrap(),
        path: p(path),
        file,
        blocks: vec![block],
        request_id: RequestId::new(),
    }
}

fn claim(block: BlockId, sha256: Digest, persisted_on: &AddBlockResponse) -> CommittedBlock {
    CommittedBlock {
        generation: granary_client::Generation(1),
        id: block,
        length: 100,
        sha256,
        persisted_on: persisted_on.pipeline.iter().map(|d| d.id.clone()).collect(),
    }
}

#[tokio::test]
async fn a_complete_with_a_forged_digest_is_refused() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    let nn = &running.nn;
    register(nn, "dn-a", 1);
    register(nn, "dn-b", 2);
    let (file, allocated) = open_with_block(nn, "/f").await;
    for holder in &allocated.pipeline {
        report_written(nn, &holder.id, allocated.block, 100);
    }
    let forged = claim(allocated.block, Digest::of(b"forged"), &allocated);
    let err = nn
        .complete(complete_req("/f", file, forged))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::BlockMismatch, "{err}");
    assert!(!err.kind.is_transient());
    assert_open_and_empty(nn, "/f");

    let longer = CommittedBlock {
        length: 100 + 1,
        ..claim(allocated.block, Digest::of(WRITTEN), &allocated)
    };
    let err = nn
        .complete(complete_req("/f", file, longer))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::BlockMismatch, "a forged length");

    let honest = claim(allocated.block, Digest::of(WRITTEN), &allocated);
    let status = nn.complete(complete_req("/f", file, honest)).await.unwrap();
    assert_eq!(status.status.length, 100);
    let located = nn.locate(&p("/f"), None).unwrap();
    assert_eq!(located.blocks[0].sha256, Digest::of(WRITTEN));
    assert_eq!(located.blocks[0].locations.len(), 2);
    running.close().await;
}

#[tokio::test]
async fn a_complete_claiming_replicas_no_datanode_reported_is_refused() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    let nn = &running.nn;
    register(nn, "dn-a", 1);
    register(nn, "dn-b", 2);
    let (file, allocated) = open_with_block(nn, "/f").await;
    let claimed = claim(allocated.block, Digest::of(WRITTEN), &allocated);
    let req = complete_req("/f", file, claimed);
    let err = nn.complete(req.clone()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotReplicatedYet, "{err}");
    assert!(err.kind.is_transient(), "the writer retries");
    assert_open_and_empty(nn, "/f");
    assert!(
        nn.lock()
            .blocks
            .get(allocated.block)
            .is_some_and(|info| info.replicas.is_empty()),
        "claimed replicas never enter the block map"
    );

    // The same request, retried once one datanode reported: only that one is a location.
    let reporter = allocated.pipeline[1].id.clone();
    report_written(nn, &reporter, allocated.block, 100);
    nn.complete(req).await.unwrap();
    let located = nn.locate(&p("/f"), None).unwrap();
    let holders: Vec<_> = located.blocks[0].locations.iter().map(|d| &d.id).collect();
    assert_eq!(holders, vec![&reporter]);
    running.close().await;
}

#[tokio::test]
async fn a_waiting_complete_is_woken_by_the_report() {
    let dir = TempDir::new().unwrap();
    let running = Running::open_with(dir.path(), |c| {
        c.complete_report_wait = Duration::from_secs(20);
    });
    let nn = running.nn.clone();
    register(&nn, "dn-a", 1);
    let (file, allocated) = open_with_block(&nn, "/f").await;
    let claimed = claim(allocated.block, Digest::of(WRITTEN), &allocated);
    let waiting = {
        let nn = nn.clone();
        tokio::spawn(async move { nn.complete(complete_req("/f", file, claimed)).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiting.is_finished());
    report_written(&nn, &dn("dn-a"), allocated.block, 100);
    let done = tokio::time::timeout(Duration::from_secs(10), waiting).await;
    let status = done.expect("woken well before the wait ends").unwrap();
    assert_eq!(status.unwrap().status.path, p("/f"));
    drop(nn);
    running.close().await;
}

#[tokio::test]
async fn min_replication_reports_are_needed() {
    let dir = TempDir::new().unwrap();
    let running = Running::open_with(dir.path(), |c| c.min_replication = 2);
    let nn = &running.nn;
    register(nn, "dn-a", 1);
    register(nn, "dn-b", 2);
    let (file, allocated) = open_with_block(nn, "/f").await;
    report_written(nn, &allocated.pipeline[0].id, allocated.block, 100);
    let req = complete_req(
        "/f",
        file,
        claim(allocated.block, Digest::of(WRITTEN), &allocated),
    );
    let err = nn.complete(req.clone()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotReplicatedYet);
    report_written(nn, &allocated.pipeline[1].id, allocated.block, 100);
    nn.complete(req).await.unwrap();
    running.close().await;
}

#[tokio::test]
async fn a_late_report_contradicting_the_committed_digest_is_deleted() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    let nn = &running.nn;
    for (i, id) in ["dn-a", "dn-b", "dn-c"].iter().enumerate() {
        register(nn, id, i as u8 + 1);
    }
    let (block, holders) = super::put_one_block(nn, "/f", None).await;
    let outsider = ["dn-a", "dn-b", "dn-c"]
        .into_iter()
        .map(dn)
        .find(|d| !holders.contains(d))
        .unwrap();
    let late = BlockReceivedRequest {
        id: outsider.clone(),
        received: vec![ReplicaReport {
            generation: granary_client::Generation(1),
            block,
            length: 100,
            sha256: Some(Digest::of(b"something else")),
        }],
        deleted: Vec::new(),
    };
    block_received(nn, late).unwrap();
    let located = nn.locate(&p("/f"), None).unwrap();
    assert!(located.blocks[0].locations.iter().all(|d| d.id != outsider));
    let commands = nn.lock().datanodes.take_commands(&outsider).unwrap();
    assert_eq!(
        commands,
        vec![DatanodeCommand::Delete {
            blocks: vec![block]
        }]
    );
    running.close().await;
}

#[tokio::test]
async fn after_a_restart_the_full_reports_digests_let_the_file_complete() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    register(&running.nn, "dn-a", 1);
    register(&running.nn, "dn-b", 2);
    let (file, allocated) = open_with_block(&running.nn, "/f").await;
    for holder in &allocated.pipeline {
        report_written(&running.nn, &holder.id, allocated.block, 100);
    }
    // The namenode restarts before the writer's complete: the incremental reports are lost.
    running.close().await;
    let running = Running::open(dir.path());
    let nn = &running.nn;
    register(nn, "dn-a", 1);
    register(nn, "dn-b", 2);
    let claimed = claim(allocated.block, Digest::of(WRITTEN), &allocated);
    let req = complete_req("/f", file, claimed);
    let err = nn.complete(req.clone()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotReplicatedYet, "{err}");

    let full_report = |id: &str, sha256: Digest| BlockReportRequest {
        id: dn(id),
        replicas: vec![ReplicaReport {
            generation: granary_client::Generation(1),
            block: allocated.block,
            length: 100,
            sha256: Some(sha256),
        }],
    };
    block_report(nn, full_report("dn-a", Digest::of(b"other bytes"))).unwrap();
    let err = nn.complete(req.clone()).await.unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::BlockMismatch,
        "the full report's digest counts"
    );

    block_report(nn, full_report("dn-b", Digest::of(WRITTEN))).unwrap();
    // A new request: the refusal is the stored answer of the first.
    let retried = CompleteRequest {
        request_id: RequestId::new(),
        ..req
    };
    nn.complete(retried).await.unwrap();
    let located = nn.locate(&p("/f"), None).unwrap();
    assert_eq!(located.blocks[0].sha256, Digest::of(WRITTEN));
    let holders: Vec<_> = located.blocks[0].locations.iter().map(|d| &d.id).collect();
    assert_eq!(
        holders,
        vec![&dn("dn-b")],
        "the replica of other bytes is dropped"
    );
    running.close().await;
}

/// An open file is visible, with its holder, at its committed length (nothing yet).
fn assert_open_and_empty(nn: &super::Namesystem, path: &str) {
    let status = nn.stat(&p(path)).unwrap();
    assert_eq!(status.lease_holder, Some("test-writer".parse().unwrap()));
    assert_eq!(status.length, 0);
    assert!(nn.locate(&p(path), None).unwrap().blocks.is_empty());
}
