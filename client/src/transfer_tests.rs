//! Transfers against a peer that accepts connections (the kernel does, into the backlog) but
//! never reads or answers, as a stopped datanode.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use super::*;
use crate::ids::{DatanodeId, Generation};

fn stopped_peer() -> (TcpListener, DatanodeInfo) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let info = DatanodeInfo {
        id: DatanodeId("dn-stopped".into()),
        addr: listener.local_addr().unwrap(),
        rack: "/r".into(),
    };
    (listener, info)
}

fn http() -> reqwest::Client {
    data_client(&ClientConfig::new("http://127.0.0.1:1")).unwrap()
}

#[test]
fn patience_grows_with_the_nodes_behind_so_the_nearest_sender_gives_up_first() {
    let stall = Duration::from_secs(2);
    assert_eq!(
        pipeline_patience(stall, 0),
        (stall, stall * ACK_WAIT_FACTOR)
    );
    let (frames_1, ack_1) = pipeline_patience(stall, 1);
    let (frames_2, ack_2) = pipeline_patience(stall, 2);
    assert!(stall < frames_1 && frames_1 < frames_2);
    assert!(stall * ACK_WAIT_FACTOR < ack_1 && ack_1 < ack_2);
    assert_eq!(frames_2 - frames_1, stall / 2);
}

#[tokio::test]
async fn a_read_from_a_peer_that_never_answers_fails_within_the_stall_timeout() {
    let (_listener, peer) = stopped_peer();
    let started = Instant::now();
    let opened = read_block(
        &http(),
        &peer,
        BlockId(1),
        Generation(1),
        0,
        10,
        Duration::from_millis(300),
    )
    .await;
    let error = opened.err().expect("a read of a stopped peer fails");
    assert_eq!(error.kind, ErrorKind::Unavailable);
    assert!(
        error.message.contains("no answer within"),
        "{}",
        error.message
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_write_to_a_peer_that_takes_nothing_fails_naming_it() {
    let (_listener, peer) = stopped_peer();
    let started = Instant::now();
    let (tx, ack) = write_block(
        &http(),
        std::slice::from_ref(&peer),
        BlockId(1),
        BlockSegment {
            generation: Generation(1),
            append_from: None,
        },
        Duration::from_millis(200),
    )
    .unwrap();
    // Feeds frames until the request gives up (the channel closes) or 64 MiB are queued.
    let feeder = tokio::spawn(async move {
        let frame = Frame::seal(Bytes::from(vec![7u8; crate::checksum::CHUNK_SIZE]));
        for _ in 0..1024 {
            if tx.send(Ok(frame.write_header())).await.is_err()
                || tx.send(Ok(frame.data.clone())).await.is_err()
            {
                return;
            }
        }
    });
    let error = tokio::time::timeout(Duration::from_secs(30), ack)
        .await
        .expect("the write gives up on its own")
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::PipelineFailed);
    assert_eq!(error.datanode, Some(peer.id.clone()));
    assert!(started.elapsed() < Duration::from_secs(30));
    // The connection is stuck writing to the peer; the writer stops feeding it (see
    // `write::produce_frames`).
    feeder.abort();
}
