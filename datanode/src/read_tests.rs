use granary_client::checksum::CHUNK_SIZE;
use granary_client::{BlockId, ErrorKind};

use crate::test_support::*;

/// Writes a block of 3.5 chunks to a fresh node.
async fn node_with_block(block: u64) -> (TestNode, Vec<u8>) {
    let node = start_node().await;
    let bytes = data(3 * CHUNK_SIZE + CHUNK_SIZE / 2, 7);
    assert_eq!(put(&node.info, block, &bytes, &[]).await.status(), 200);
    (node, bytes)
}

#[tokio::test]
async fn ranged_reads_return_the_covering_chunks() {
    let (node, bytes) = node_with_block(12).await;
    let len = bytes.len();
    let chunk = |i: usize| &bytes[i * CHUNK_SIZE..((i + 1) * CHUNK_SIZE).min(len)];
    let cases: [(&str, Vec<usize>); 7] = [
        ("", vec![0, 1, 2, 3]),
        ("?offset=100&length=10", vec![0]),
        ("?offset=65530&length=10", vec![0, 1]),
        (&format!("?offset={}", 2 * CHUNK_SIZE + 7), vec![2, 3]),
        ("?offset=131072&length=65536", vec![2]),
        (&format!("?offset={len}"), vec![]),
        ("?offset=5&length=0", vec![]),
    ];
    for (query, expected) in cases {
        let response = get(&node.info, &format!("/v1/blocks/12{query}")).await;
        assert_eq!(response.status(), 200, "{query}");
        let frames = decode(&response.bytes().await.unwrap());
        let got: Vec<&[u8]> = frames.iter().map(|f| &f.data[..]).collect();
        let want: Vec<&[u8]> = expected.iter().map(|&i| chunk(i)).collect();
        assert_eq!(got, want, "{query}");
    }
}

#[tokio::test]
async fn bad_reads_are_json_errors() {
    let (node, bytes) = node_with_block(13).await;
    let (status, error) = wire_error(get(&node.info, "/v1/blocks/14").await).await;
    assert_eq!((status, error.kind), (404, ErrorKind::UnknownBlock));
    let past_end = format!("/v1/blocks/13?offset={}", bytes.len() + 1);
    let (status, error) = wire_error(get(&node.info, &past_end).await).await;
    assert_eq!((status, error.kind), (400, ErrorKind::InvalidArgument));
    let (status, _) = wire_error(get(&node.info, "/v1/blocks/13?offset=-1").await).await;
    assert_eq!(status, 400);
}

fn corrupt(node: &TestNode, block: u64, at: usize) {
    let path = node
        .store
        .data_dir()
        .join(format!("current/{:02x}/blk_{block}", block % 256));
    let mut on_disk = std::fs::read(&path).unwrap();
    on_disk[at] ^= 0x55;
    std::fs::write(&path, on_disk).unwrap();
}

#[tokio::test]
async fn corrupt_first_chunk_is_a_422() {
    let (node, _) = node_with_block(20).await;
    corrupt(&node, 20, CHUNK_SIZE + 3);
    let (status, error) = wire_error(get(&node.info, "/v1/blocks/20?offset=65537").await).await;
    assert_eq!((status, error.kind), (422, ErrorKind::ChecksumMismatch));
    assert_eq!(error.datanode.as_ref(), Some(node.store.id()));
    // The read marked the whole replica corrupt: not even its intact chunks are served now,
    // and the namenode is told so it can replace the replica.
    assert!(node.store.is_corrupt(BlockId(20)));
    assert_eq!(
        get(&node.info, "/v1/blocks/20?length=65536").await.status(),
        422
    );
}

#[tokio::test]
async fn corrupt_later_chunk_breaks_the_stream() {
    let (node, bytes) = node_with_block(21).await;
    corrupt(&node, 21, 2 * CHUNK_SIZE + 9);
    // The error may cut the response before its headers were flushed, or during the body.
    let Ok(response) = client()
        .get(format!("http://{}/v1/blocks/21", node.info.addr))
        .send()
        .await
    else {
        return;
    };
    assert_eq!(response.status(), 200);
    match response.bytes().await {
        Err(_) => {}
        Ok(body) => {
            // Whatever arrived is a prefix of good frames, never the corrupt chunk.
            let mut buf = bytes::BytesMut::from(&body[..]);
            let mut good = 0;
            while let Ok(Some(frame)) = tokio_util::codec::Decoder::decode(
                &mut granary_client::framing::ReadFrameCodec,
                &mut buf,
            ) {
                frame.verify().unwrap();
                assert_eq!(
                    &frame.data[..],
                    &bytes[good * CHUNK_SIZE..(good + 1) * CHUNK_SIZE]
                );
                good += 1;
            }
            assert!(good < 4, "the corrupt chunk was served");
            panic!("a body with a corrupt chunk ended cleanly after {good} frames");
        }
    }
    assert!(node.store.contains(BlockId(21)));
}

#[tokio::test]
async fn a_node_at_its_transfer_limit_answers_busy_until_a_transfer_ends() {
    let node = start_node_configured(NO_NAMENODE, |config| config.max_transfers = 1).await;
    let bytes = data(CHUNK_SIZE + 10, 9);
    assert_eq!(put(&node.info, 21, &bytes, &[]).await.status(), 200);
    let (held, busy) = hold_only_slot(&node, 22, "/v1/blocks/21").await;
    assert_eq!(
        busy.headers().get("retry-after").unwrap(),
        granary_client::server::BUSY_RETRY_AFTER_SECS
    );
    assert_eq!(wire_error(busy).await.1.kind, ErrorKind::Busy);
    // Ending the held write (truncated: discarded) frees the slot.
    held.release().await;
    let response = get(&node.info, "/v1/blocks/21").await;
    assert_eq!(response.status(), 200);
    let read: Vec<u8> = decode(&response.bytes().await.unwrap())
        .iter()
        .flat_map(|f| f.data.to_vec())
        .collect();
    assert_eq!(read, bytes);
}

#[tokio::test]
async fn a_reader_given_up_on_gets_an_error_after_the_frames_read_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let state = test_state(&dir);
    let bytes = data(8 * CHUNK_SIZE, 3);
    write_replica(&state.store, 31, &bytes);
    let reader = state.store.open_chunks(BlockId(31), 0, u64::MAX).unwrap();
    let transfer = state.transfers.admit("reading 31").unwrap();
    let idle = std::time::Duration::from_millis(50);
    let mut frames = crate::read::read_ahead(reader, idle, transfer);
    // Take nothing for many idle periods, then drain.
    tokio::time::sleep(idle * 10).await;
    let mut good = 0;
    let ended_with = loop {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), frames.recv());
        match next.await.expect("the channel neither ended nor sent") {
            Some(Ok(frame)) => {
                assert_eq!(
                    &frame.data[..],
                    &bytes[good * CHUNK_SIZE..(good + 1) * CHUNK_SIZE]
                );
                good += 1;
            }
            other => break other,
        }
    };
    assert!(good < 8, "the whole block was read ahead");
    assert_eq!(
        ended_with.unwrap().unwrap_err().kind,
        ErrorKind::Unavailable
    );
    assert!(frames.recv().await.is_none());
}
