use bytes::{BufMut, Bytes, BytesMut};
use granary_client::checksum::{block_digest_of, CHUNK_SIZE};
use granary_client::protocol::WriteBlockAck;
use granary_client::{BlockId, ErrorKind};

use crate::test_support::*;

fn tmp_is_empty(node: &TestNode) -> bool {
    std::fs::read_dir(node.store.data_dir().join("tmp"))
        .unwrap()
        .next()
        .is_none()
}

#[tokio::test]
async fn two_node_pipeline_stores_both_replicas() {
    let (a, b) = (start_node().await, start_node().await);
    let bytes = data(3 * CHUNK_SIZE + 500, 3);
    let response = put(&a.info, 77, &bytes, std::slice::from_ref(&b.info)).await;
    assert_eq!(response.status(), 200);
    let ack: WriteBlockAck = response.json().await.unwrap();
    assert_eq!(ack.block, BlockId(77));
    assert_eq!(ack.length, bytes.len() as u64);
    assert_eq!(ack.sha256, block_digest_of(&bytes));
    assert_eq!(ack.persisted_on, vec![a.info.id.clone(), b.info.id.clone()]);
    for node in [&a, &b] {
        assert_eq!(node.store.length(BlockId(77)), Some(bytes.len() as u64));
        let body = get(&node.info, "/v1/blocks/77")
            .await
            .bytes()
            .await
            .unwrap();
        let read: Vec<u8> = decode(&body).iter().flat_map(|f| f.data.to_vec()).collect();
        assert_eq!(read, bytes);
    }
}

#[tokio::test]
async fn unreachable_downstream_fails_the_pipeline_and_leaves_nothing() {
    let a = start_node().await;
    let ghost = unreachable_node("dn-ghost");
    let response = put(&a.info, 5, &data(2 * CHUNK_SIZE, 1), &[ghost]).await;
    let (status, error) = wire_error(response).await;
    assert_eq!((status, error.kind), (502, ErrorKind::PipelineFailed));
    assert_eq!(error.datanode.unwrap().0, "dn-ghost");
    assert!(!a.store.contains(BlockId(5)));
    assert!(tmp_is_empty(&a));
}

#[tokio::test]
async fn failure_further_down_is_passed_through() {
    let (a, b) = (start_node().await, start_node().await);
    let response = put(
        &a.info,
        6,
        &data(CHUNK_SIZE + 1, 2),
        &[b.info.clone(), unreachable_node("dn-tail")],
    )
    .await;
    let (status, error) = wire_error(response).await;
    assert_eq!((status, error.kind), (502, ErrorKind::PipelineFailed));
    assert_eq!(error.datanode.unwrap().0, "dn-tail");
    assert!(!a.store.contains(BlockId(6)) && !b.store.contains(BlockId(6)));
    assert!(tmp_is_empty(&a) && tmp_is_empty(&b));
}

#[tokio::test]
async fn corrupt_frame_is_rejected_everywhere() {
    let (a, b) = (start_node().await, start_node().await);
    let mut frames = frames_of(&data(3 * CHUNK_SIZE, 5));
    frames[1].data = Bytes::from(vec![0u8; CHUNK_SIZE]);
    let response = put_body(&a.info, 9, encode(frames), std::slice::from_ref(&b.info)).await;
    let (status, error) = wire_error(response).await;
    assert_eq!((status, error.kind), (422, ErrorKind::ChecksumMismatch));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!a.store.contains(BlockId(9)) && !b.store.contains(BlockId(9)));
    assert!(tmp_is_empty(&a) && tmp_is_empty(&b));
}

#[tokio::test]
async fn malformed_frames_and_headers_are_json_400s() {
    let a = start_node().await;
    let mut oversized = BytesMut::new();
    oversized.put_u32(CHUNK_SIZE as u32 + 1);
    oversized.put_slice(&[0u8; 32]);
    let short_then_more = encode([frames_of(b"short"), frames_of(b"more")].concat());
    let mut truncated = encode(frames_of(&data(100, 0))).to_vec();
    truncated.truncate(90);
    for body in [oversized.freeze(), short_then_more, Bytes::from(truncated)] {
        let response = put_body(&a.info, 3, body, &[]).await;
        let (status, error) = wire_error(response).await;
        assert_eq!(
            (status, error.kind),
            (400, ErrorKind::InvalidArgument),
            "{}",
            error.message
        );
    }
    let response = client()
        .put(format!("http://{}/v1/blocks/3", a.info.addr))
        .header(granary_client::protocol::PIPELINE_HEADER, "{not json")
        .body(encode(frames_of(b"x")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        wire_error(response).await.1.kind,
        ErrorKind::InvalidArgument
    );
    assert!(!a.store.contains(BlockId(3)));
    assert!(tmp_is_empty(&a));
}

#[tokio::test]
async fn empty_blocks_concurrent_writes_and_duplicates() {
    let a = start_node().await;
    let response = put(&a.info, 1, &[], &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<WriteBlockAck>().await.unwrap().length, 0);

    let writes = (10..16u64).map(|block| {
        let info = a.info.clone();
        tokio::spawn(async move {
            put(
                &info,
                block,
                &data(2 * CHUNK_SIZE + block as usize, block as u8),
                &[],
            )
            .await
        })
    });
    for write in writes.collect::<Vec<_>>() {
        assert_eq!(write.await.unwrap().status(), 200);
    }
    assert_eq!(a.store.replicas().len(), 7);

    let (status, error) = wire_error(put(&a.info, 10, b"again", &[]).await).await;
    assert_eq!((status, error.kind), (409, ErrorKind::AlreadyExists));
}

#[tokio::test]
async fn a_client_dying_mid_block_leaves_nothing_anywhere() {
    let (a, b) = (start_node().await, start_node().await);
    let frames = frames_of(&data(4 * CHUNK_SIZE, 8));
    let mut items: Vec<Result<Bytes, std::io::Error>> = Vec::new();
    for frame in frames.into_iter().take(2) {
        items.push(Ok(frame.write_header()));
        items.push(Ok(frame.data));
    }
    items.push(Err(std::io::Error::other("client died")));
    let pipeline = serde_json::to_string(&granary_client::protocol::WritePipeline {
        generation: Default::default(),
        append_from: None,
        downstream: vec![b.info.clone()],
    })
    .unwrap();
    let result = client()
        .put(format!("http://{}/v1/blocks/31", a.info.addr))
        .header(granary_client::protocol::PIPELINE_HEADER, pipeline)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            items,
        )))
        .send()
        .await;
    assert!(result.is_err() || !result.unwrap().status().is_success());
    for _ in 0..100 {
        if tmp_is_empty(&a) && tmp_is_empty(&b) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(tmp_is_empty(&a) && tmp_is_empty(&b));
    assert!(!a.store.contains(BlockId(31)) && !b.store.contains(BlockId(31)));
    // The id is free again: a retry of the same block succeeds on both.
    let response = put(
        &a.info,
        31,
        &data(CHUNK_SIZE, 8),
        std::slice::from_ref(&b.info),
    )
    .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_stalled_downstream_fails_the_pipeline_naming_it() {
    let a = start_node_configured(NO_NAMENODE, |config| {
        config.stall_timeout = std::time::Duration::from_millis(300);
    })
    .await;
    // A peer that accepts connections (the kernel does, into the backlog) and never reads or
    // answers: a stopped process.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stalled = granary_client::protocol::DatanodeInfo {
        id: granary_client::DatanodeId("dn-stalled".into()),
        addr: listener.local_addr().unwrap(),
        rack: "/r".into(),
    };
    let started = std::time::Instant::now();
    let response = put(&a.info, 8, &data(4 * CHUNK_SIZE, 4), &[stalled]).await;
    let (status, error) = wire_error(response).await;
    assert_eq!((status, error.kind), (502, ErrorKind::PipelineFailed));
    assert_eq!(error.datanode.unwrap().0, "dn-stalled");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(!a.store.contains(BlockId(8)));
    wait_until("the partial replica is gone", || tmp_is_empty(&a)).await;
    drop(listener);
}

#[tokio::test]
async fn a_busy_downstream_makes_the_pipeline_busy_naming_it() {
    let a = start_node().await;
    let b = start_node_configured(NO_NAMENODE, |config| config.max_transfers = 1).await;
    assert_eq!(put(&b.info, 30, &data(100, 1), &[]).await.status(), 200);
    let (held, _) = hold_only_slot(&b, 31, "/v1/blocks/30").await;
    let response = put(
        &a.info,
        32,
        &data(CHUNK_SIZE + 3, 5),
        std::slice::from_ref(&b.info),
    )
    .await;
    let (status, error) = wire_error(response).await;
    assert_eq!((status, error.kind), (503, ErrorKind::Busy));
    assert_eq!(error.datanode, Some(b.info.id.clone()));
    assert!(!a.store.contains(BlockId(32)));
    held.release().await;
}

#[tokio::test]
async fn segments_reopen_every_replica_of_a_pipeline_in_place() {
    let (a, b) = (start_node().await, start_node().await);
    let downstream = std::slice::from_ref(&b.info);
    let mut reference = data(CHUNK_SIZE / 2 + 3, 1);
    let response = put_segment(&a.info, 50, &reference, (1, None), downstream).await;
    assert_eq!(response.status(), 200);
    for (i, size) in [10, CHUNK_SIZE, 2 * CHUNK_SIZE + 1, 0, CHUNK_SIZE - 13]
        .into_iter()
        .enumerate()
    {
        let generation = 2 + i as u64;
        let more = data(size, i as u8 + 2);
        let from = reference.len() as u64;
        let response = put_segment(&a.info, 50, &more, (generation, Some(from)), downstream).await;
        assert_eq!(response.status(), 200, "segment {i}");
        reference.extend_from_slice(&more);
        let ack: WriteBlockAck = response.json().await.unwrap();
        assert_eq!(ack.generation, granary_client::Generation(generation));
        assert_eq!(ack.length, reference.len() as u64);
        assert_eq!(ack.sha256, block_digest_of(&reference));
        assert_eq!(ack.persisted_on, vec![a.info.id.clone(), b.info.id.clone()]);
        for node in [&a, &b] {
            assert_eq!(read_back(&node.info, 50).await, reference);
            let report = node.store.replica(BlockId(50)).unwrap();
            assert_eq!(report.generation, granary_client::Generation(generation));
        }
    }
    assert!(tmp_is_empty(&a) && tmp_is_empty(&b));
}

#[tokio::test]
async fn a_segment_at_a_generation_not_newer_is_refused() {
    let a = start_node().await;
    let bytes = data(100, 3);
    assert_eq!(
        put_segment(&a.info, 51, &bytes, (4, None), &[])
            .await
            .status(),
        200
    );
    for generation in [3, 4] {
        let response = put_segment(&a.info, 51, b"more", (generation, Some(100)), &[]).await;
        let (status, error) = wire_error(response).await;
        assert_eq!((status, error.kind), (409, ErrorKind::StaleReplica));
    }
    let response = put_segment(&a.info, 51, b"more", (5, Some(101)), &[]).await;
    assert_eq!(wire_error(response).await.1.kind, ErrorKind::StaleReplica);
    let response = put_segment(&a.info, 52, b"more", (5, Some(0)), &[]).await;
    assert_eq!(wire_error(response).await.1.kind, ErrorKind::UnknownBlock);
    assert_eq!(read_back(&a.info, 51).await, bytes);
    assert_eq!(
        get(&a.info, "/v1/blocks/51?generation=4").await.status(),
        200
    );
    let (status, error) = wire_error(get(&a.info, "/v1/blocks/51?generation=5").await).await;
    assert_eq!((status, error.kind), (409, ErrorKind::StaleReplica));
}

#[tokio::test]
async fn a_client_dying_mid_segment_leaves_the_old_state_everywhere() {
    let (a, b) = (start_node().await, start_node().await);
    let old = data(CHUNK_SIZE + 7, 4);
    let response = put_segment(&a.info, 53, &old, (1, None), std::slice::from_ref(&b.info)).await;
    assert_eq!(response.status(), 200);
    let mut items: Vec<Result<Bytes, std::io::Error>> = Vec::new();
    for frame in segment_frames(&data(3 * CHUNK_SIZE, 5), old.len() as u64)
        .into_iter()
        .take(2)
    {
        items.push(Ok(frame.write_header()));
        items.push(Ok(frame.data));
    }
    items.push(Err(std::io::Error::other("client died")));
    let pipeline = serde_json::to_string(&granary_client::protocol::WritePipeline {
        generation: granary_client::Generation(2),
        append_from: Some(old.len() as u64),
        downstream: vec![b.info.clone()],
    })
    .unwrap();
    let result = client()
        .put(format!("http://{}/v1/blocks/53", a.info.addr))
        .header(granary_client::protocol::PIPELINE_HEADER, pipeline)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            items,
        )))
        .send()
        .await;
    assert!(result.is_err() || !result.unwrap().status().is_success());
    wait_until("both segments ended", || {
        !a.store.is_being_written(BlockId(53)) && !b.store.is_being_written(BlockId(53))
    })
    .await;
    for node in [&a, &b] {
        assert_eq!(read_back(&node.info, 53).await, old);
        let report = node.store.replica(BlockId(53)).unwrap();
        assert_eq!(report.generation, granary_client::Generation(1));
    }
    // The segment can be sent again.
    let more = data(5, 6);
    let response = put_segment(
        &a.info,
        53,
        &more,
        (2, Some(old.len() as u64)),
        std::slice::from_ref(&b.info),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(read_back(&b.info, 53).await, [old, more].concat());
}
