//! Appends (reopening a partial last block at a new generation), flushes and reopened
//! segments visible to readers, stale replicas, truncate and concat.

use std::time::{Duration, Instant};

use granary_client::protocol::*;
use granary_client::{BlockId, DatanodeId, ErrorKind, Generation, RequestId};
use tempfile::TempDir;

use super::writers::*;
use super::{dn, p, register, Running, BS};

/// A closed one-block file of `length` bytes on every registered node's pipeline.
async fn put(nn: &super::Namesystem, path: &str, length: u64) -> (BlockId, Vec<DatanodeId>) {
    let file = open(nn, path, "putter").await.unwrap();
    let allocated = add(nn, path, file, "putter", None).await.unwrap();
    let nodes = ids(&allocated.pipeline);
    for node in &nodes {
        report(nn, node, allocated.block, 1, length);
    }
    let block = block_at(allocated.block, 1, length);
    complete(nn, path, file, "putter", vec![block])
        .await
        .unwrap();
    (allocated.block, nodes)
}

#[tokio::test]
async fn an_append_reopens_a_partial_last_block_and_flushes_and_segments_become_visible() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    let nn = &running.nn;
    register(nn, "dn-a", 1);
    register(nn, "dn-b", 2);
    let (block, nodes) = put(nn, "/f", 100).await;

    let appended = append(nn, "/f", "appender").await.unwrap();
    assert_eq!(appended.length, 100);
    let last = appended
        .last_block
        .clone()
        .expect("the last block has room");
    assert_eq!(
        (last.block, last.generation, last.length),
        (block, Generation(2), 100)
    );
    assert_eq!(ids(&last.pipeline).len(), 2, "the live nodes holding it");
    let status = nn.stat(&p("/f")).unwrap();
    assert_eq!(
        (status.length, status.lease_holder),
        (100, Some(holder("appender")))
    );
    assert_eq!(
        nn.locate(&p("/f"), None).unwrap().blocks[0].generation,
        Generation(1)
    );

    for node in &nodes {
        report(nn, node, block, 2, 150);
    }
    let flush = FlushRequest {
        path: p("/f"),
        file: appended.file,
        block: block_at(block, 2, 150),
        holder: holder("appender"),
        request_id: RequestId::new(),
    };
    nn.flush_block(flush).await.unwrap();
    assert_eq!(nn.stat(&p("/f")).unwrap().length, 150, "a flush is visible");
    let located = nn.locate(&p("/f"), None).unwrap();
    assert_eq!(
        (located.blocks[0].generation, located.blocks[0].length),
        (Generation(2), 150)
    );

    let reopen = ReopenBlockRequest {
        path: p("/f"),
        file: appended.file,
        block,
        excluded: vec![dn("dn-b")],
        holder: holder("appender"),
        request_id: RequestId::new(),
    };
    let segment = nn.reopen_block(reopen, None).await.unwrap();
    assert_eq!((segment.generation, segment.length), (Generation(3), 150));
    assert_eq!(
        ids(&segment.pipeline),
        vec![dn("dn-a")],
        "minus the excluded"
    );
    report(nn, &dn("dn-a"), block, 3, 180);
    let closed = complete(
        nn,
        "/f",
        appended.file,
        "appender",
        vec![block_at(block, 3, 180)],
    )
    .await
    .unwrap();
    assert_eq!((closed.length, closed.lease_holder), (180, None));
    let located = nn.locate(&p("/f"), None).unwrap();
    assert_eq!(located.blocks[0].generation, Generation(3));
    assert_eq!(
        ids(&located.blocks[0].locations),
        vec![dn("dn-a")],
        "dn-b is stale"
    );
    let deletes: Vec<_> = commands(nn, &dn("dn-b"));
    assert!(
        deletes.contains(&DatanodeCommand::Delete {
            blocks: vec![block]
        }),
        "{deletes:?}"
    );

    report(nn, &dn("dn-b"), block, 2, 150);
    assert_eq!(
        nn.locate(&p("/f"), None).unwrap().blocks[0].locations.len(),
        1
    );
    let full = BlockReportRequest {
        id: dn("dn-b"),
        replicas: vec![ReplicaReport {
            block,
            generation: Generation(1),
            length: 100,
            sha256: None,
        }],
    };
    let answer = super::block_report(nn, full).unwrap();
    assert_eq!(
        answer.commands,
        vec![DatanodeCommand::Delete {
            blocks: vec![block]
        }]
    );
    assert_eq!(
        nn.locate(&p("/f"), None).unwrap().blocks[0].locations.len(),
        1,
        "never located"
    );
    running.close().await;
}

#[tokio::test]
async fn bad_appends_change_nothing() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    let nn = &running.nn;
    register(nn, "dn-a", 1);
    put(nn, "/d/f", 100).await;
    assert_eq!(
        append(nn, "/d", "x").await.unwrap_err().kind,
        ErrorKind::IsADirectory
    );
    assert_eq!(
        append(nn, "/d/nope", "x").await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    nn.expire_datanodes(Instant::now() + Duration::from_secs(60));
    let refused = append(nn, "/d/f", "x").await.unwrap_err();
    assert_eq!(refused.kind, ErrorKind::NoDatanodes, "{refused}");
    assert!(refused.message.contains("min_replication"), "{refused}");
    assert_eq!(
        nn.stat(&p("/d/f")).unwrap().lease_holder,
        None,
        "nothing changed"
    );

    register(nn, "dn-a", 1);
    super::block_report(
        nn,
        BlockReportRequest {
            id: dn("dn-a"),
            replicas: vec![],
        },
    )
    .unwrap();
    let first = append(nn, "/d/f", "one").await.unwrap_err();
    assert_eq!(
        first.kind,
        ErrorKind::NoDatanodes,
        "the replica is gone: {first}"
    );
    running.close().await;
}

#[tokio::test]
async fn truncate_drops_whole_blocks_at_a_boundary_and_cuts_inside_one() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    let nn = &running.nn;
    register(nn, "dn-a", 1);
    let file = open(nn, "/two", "putter").await.unwrap();
    let first = add(nn, "/two", file, "putter", None).await.unwrap();
    report(nn, &dn("dn-a"), first.block, 1, BS);
    let full = block_at(first.block, 1, BS);
    let second = add(nn, "/two", file, "putter", Some(full.clone()))
        .await
        .unwrap();
    report(nn, &dn("dn-a"), second.block, 1, 100);
    let blocks = vec![full, block_at(second.block, 1, 100)];
    complete(nn, "/two", file, "putter", blocks).await.unwrap();
    let truncate = |path: &str, length| TruncateRequest {
        path: p(path),
        length,
        holder: holder("cutter"),
        request_id: RequestId::new(),
    };

    let longer = nn.truncate(truncate("/two", BS + 101)).await.unwrap_err();
    assert_eq!(longer.kind, ErrorKind::InvalidArgument);
    assert!(
        longer.message.contains(&(BS + 101).to_string())
            && longer.message.contains(&(BS + 100).to_string()),
        "{longer}"
    );
    assert_eq!(
        nn.stat(&p("/two")).unwrap().length,
        BS + 100,
        "nothing changed"
    );
    let same = nn.truncate(truncate("/two", BS + 100)).await.unwrap();
    assert!(same.closed);
    assert_eq!(same.status.length, BS + 100);

    let boundary = nn.truncate(truncate("/two", BS)).await.unwrap();
    assert!(boundary.closed);
    assert_eq!(
        (boundary.status.length, boundary.status.lease_holder),
        (BS, None)
    );
    assert_eq!(nn.locate(&p("/two"), None).unwrap().blocks.len(), 1);
    assert!(
        nn.lock().blocks.get(second.block).is_none(),
        "the dropped block left the map"
    );

    let inside = nn.truncate(truncate("/two", 10)).await.unwrap();
    assert!(!inside.closed);
    assert_eq!(
        (inside.status.length, inside.status.lease_holder),
        (10, Some(holder("cutter")))
    );
    assert!(
        nn.locate(&p("/two"), None).unwrap().blocks.is_empty(),
        "a block being cut is not read"
    );
    let (primary, block, generation, length, _) = recover_command(nn, &[dn("dn-a")]);
    assert_eq!(
        (block, generation, length),
        (first.block, Generation(2), Some(10))
    );
    let busy = append(nn, "/two", "other").await.unwrap_err();
    assert_eq!(busy.kind, ErrorKind::RecoveryInProgress);
    commit_sync(
        nn,
        &primary,
        block,
        generation,
        Some((10, vec![dn("dn-a")])),
    )
    .await
    .unwrap();
    let status = nn.stat(&p("/two")).unwrap();
    assert_eq!((status.length, status.lease_holder), (10, None));
    let located = nn.locate(&p("/two"), None).unwrap();
    assert_eq!(
        (located.blocks[0].length, located.blocks[0].generation),
        (10, Generation(2))
    );
    running.close().await;
}

#[tokio::test]
async fn concat_moves_blocks_into_the_target_and_refuses_bad_sources() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    let nn = &running.nn;
    register(nn, "dn-a", 1);
    let (t, _) = put(nn, "/d/t", 100).await;
    let (s1, _) = put(nn, "/d/s1", 30).await;
    let (s2, _) = put(nn, "/d/s2", 20).await;
    put(nn, "/e/other", 5).await;
    open(nn, "/d/open", "writer").await.unwrap();
    let concat = |target: &str, sources: &[&str]| ConcatRequest {
        target: p(target),
        sources: sources.iter().map(|s| p(s)).collect(),
        request_id: RequestId::new(),
    };
    let refusals = [
        (concat("/d/t", &["/e/other"]), ErrorKind::InvalidArgument),
        (concat("/d/t", &["/d/t"]), ErrorKind::InvalidArgument),
        (
            concat("/d/t", &["/d/s1", "/d/s1"]),
            ErrorKind::InvalidArgument,
        ),
        (concat("/d/t", &["/d/open"]), ErrorKind::UnderConstruction),
        (concat("/d/open", &["/d/s1"]), ErrorKind::UnderConstruction),
        (concat("/d/t", &["/d/nope"]), ErrorKind::NotFound),
        (concat("/d/t", &[]), ErrorKind::InvalidArgument),
    ];
    for (req, kind) in refusals {
        let sources = req.sources.clone();
        assert_eq!(nn.concat(req).await.unwrap_err().kind, kind, "{sources:?}");
    }
    assert_eq!(nn.stat(&p("/d/s1")).unwrap().length, 30, "nothing changed");
    assert_eq!(nn.stat(&p("/d/t")).unwrap().length, 100);

    let status = nn
        .concat(concat("/d/t", &["/d/s1", "/d/s2"]))
        .await
        .unwrap();
    assert_eq!(status.length, 150);
    let located = nn.locate(&p("/d/t"), None).unwrap();
    let order: Vec<_> = located.blocks.iter().map(|b| (b.id, b.offset)).collect();
    assert_eq!(order, vec![(t, 0), (s1, 100), (s2, 130)]);
    assert!(
        located.blocks.iter().all(|b| b.locations.len() == 1),
        "no data moved"
    );
    assert_eq!(nn.stat(&p("/d/s1")).unwrap_err().kind, ErrorKind::NotFound);
    let target = nn.lock().ns.inode_at(&p("/d/t")).unwrap().id;
    assert_eq!(nn.lock().blocks.get(s2).map(|i| i.file), Some(target));

    let appended = append(nn, "/d/t", "appender").await.unwrap();
    assert_eq!(
        appended.last_block.map(|b| b.block),
        Some(s2),
        "short blocks anywhere"
    );
    running.close().await;
}

#[tokio::test]
async fn a_pipeline_node_whose_report_is_late_is_not_deleted_as_stale() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    let nn = &running.nn;
    register(nn, "dn-a", 1);
    register(nn, "dn-b", 2);
    let (block, _) = put(nn, "/f", 100).await;
    let appended = append(nn, "/f", "appender").await.unwrap();
    report(nn, &dn("dn-a"), block, 2, 120);
    let written = vec![block_at(block, 2, 120)];
    complete(nn, "/f", appended.file, "appender", written)
        .await
        .unwrap();
    let located = nn.locate(&p("/f"), None).unwrap();
    assert_eq!(ids(&located.blocks[0].locations), vec![dn("dn-a")]);
    assert!(
        commands(nn, &dn("dn-b")).is_empty(),
        "dn-b was in the pipeline: not deleted"
    );

    report(nn, &dn("dn-b"), block, 2, 120);
    let located = nn.locate(&p("/f"), None).unwrap();
    assert_eq!(
        located.blocks[0].locations.len(),
        2,
        "its late report counts"
    );
    running.close().await;
}
