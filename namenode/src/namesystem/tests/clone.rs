//! `add_cloned_block`: a copy's blocks made by the datanodes holding the source's.

use std::collections::BTreeSet;

use granary_client::protocol::*;
use granary_client::{BlockId, Digest, ErrorKind, Generation, RequestId};
use tempfile::TempDir;

use super::{create_req, p, put_one_block, register, report_written, rid, Running, WRITTEN};

fn clone_req(
    file: granary_client::InodeId,
    source: BlockId,
    generation: u64,
    id: &str,
) -> AddClonedBlockRequest {
    AddClonedBlockRequest {
        path: p("/copy"),
        file,
        source,
        source_generation: Generation(generation),
        previous: None,
        holder: "test-writer".parse().unwrap(),
        request_id: rid(id),
    }
}

#[tokio::test]
async fn a_cloned_block_is_made_on_the_source_holders_and_completes_as_written() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    let nn = &running.nn;
    for (i, id) in ["dn-a", "dn-b", "dn-c"].iter().enumerate() {
        register(nn, id, i as u8 + 1);
    }
    let (source, holders) = put_one_block(nn, "/src", None).await;
    let file = nn
        .create(create_req("/copy", RequestId::new()))
        .await
        .unwrap()
        .file;
    let cloned = nn
        .add_cloned_block(clone_req(file, source, 1, "clone-1"))
        .await
        .unwrap();
    assert_ne!(cloned.block, source);
    assert_eq!((cloned.length, cloned.sha256), (100, Digest::of(WRITTEN)));
    let named: BTreeSet<_> = cloned.holders.iter().map(|d| d.id.clone()).collect();
    assert_eq!(named, holders.iter().cloned().collect());
    assert_eq!(
        nn.add_cloned_block(clone_req(file, source, 1, "clone-1"))
            .await
            .unwrap(),
        cloned,
        "a retry allocates nothing"
    );

    let complete = CompleteRequest {
        holder: "test-writer".parse().unwrap(),
        path: p("/copy"),
        file,
        blocks: vec![CommittedBlock {
            id: cloned.block,
            generation: cloned.generation,
            length: cloned.length,
            sha256: cloned.sha256,
            persisted_on: holders.clone(),
        }],
        request_id: RequestId::new(),
    };
    for holder in &holders {
        report_written(nn, holder, cloned.block, 100);
    }
    nn.complete(complete).await.unwrap();
    let located = nn.locate(&p("/copy"), None).unwrap();
    assert_eq!(located.status.length, 100);
    assert_eq!(located.blocks.len(), 1);
    assert_eq!(located.blocks[0].id, cloned.block);
    let at: BTreeSet<_> = located.blocks[0]
        .locations
        .iter()
        .map(|d| d.id.clone())
        .collect();
    assert_eq!(at, holders.iter().cloned().collect());
    // The source is untouched.
    assert_eq!(nn.locate(&p("/src"), None).unwrap().blocks[0].id, source);
}

#[tokio::test]
async fn sources_that_cannot_be_cloned_are_refused_and_change_nothing() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    let nn = &running.nn;
    register(nn, "dn-a", 1);
    let (source, _) = put_one_block(nn, "/src", None).await;
    let file = nn
        .create(create_req("/copy", RequestId::new()))
        .await
        .unwrap()
        .file;
    let refused = |kind, err: granary_client::Error| assert_eq!(err.kind, kind, "{err}");
    refused(
        ErrorKind::StaleReplica,
        nn.add_cloned_block(clone_req(file, source, 2, "r1"))
            .await
            .unwrap_err(),
    );
    refused(
        ErrorKind::UnknownBlock,
        nn.add_cloned_block(clone_req(file, BlockId(9999), 1, "r2"))
            .await
            .unwrap_err(),
    );
    // A block still being written (never committed) is no source either.
    let open = nn
        .create(create_req("/open", RequestId::new()))
        .await
        .unwrap()
        .file;
    let writing = nn
        .add_block(
            AddBlockRequest {
                path: p("/open"),
                file: open,
                excluded: Vec::new(),
                previous: None,
                holder: "test-writer".parse().unwrap(),
                request_id: RequestId::new(),
            },
            None,
        )
        .await
        .unwrap();
    report_written(nn, &writing.pipeline[0].id, writing.block, 100);
    refused(
        ErrorKind::UnknownBlock,
        nn.add_cloned_block(clone_req(file, writing.block, 1, "r3"))
            .await
            .unwrap_err(),
    );
    // Only the lease holder adds blocks.
    let mut other = clone_req(file, source, 1, "r4");
    other.holder = "someone-else".parse().unwrap();
    assert!(nn.add_cloned_block(other).await.is_err());
    assert!(nn.locate(&p("/copy"), None).unwrap().blocks.is_empty());
    assert_eq!(nn.stat(&p("/copy")).unwrap().length, 0);
}
