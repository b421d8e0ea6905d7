//! The lifeline: against the fake namenode, and against a bare socket that hangs up.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use granary_client::DatanodeId;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::fake_namenode::start_fake_namenode;
use crate::heartbeat::{lifeline, NamenodeLink, Registration};
use crate::test_support::*;

#[tokio::test]
async fn the_lifeline_beats_and_is_reopened_after_it_ends() {
    let (url, nn) = start_fake_namenode().await;
    let node = start_node_configured(&url, |c| {
        c.lifeline_interval = Duration::from_millis(20);
    })
    .await;
    wait_until("a lifeline carries bytes", || {
        nn.lifeline_count() >= 1 && nn.lifeline_bytes.load(Ordering::SeqCst) >= 3
    })
    .await;
    assert_eq!(&nn.lifelines.lock().unwrap()[0], node.store.id());

    nn.kick_lifelines();
    let bytes = nn.lifeline_bytes.load(Ordering::SeqCst);
    wait_until("a second lifeline carries bytes", || {
        nn.lifeline_count() >= 2 && nn.lifeline_bytes.load(Ordering::SeqCst) >= bytes + 3
    })
    .await;

    // A namenode that no longer knows us: register again, then reopen.
    let registers = nn.registers.load(Ordering::SeqCst);
    nn.forget_lifelines.store(1, Ordering::SeqCst);
    nn.kick_lifelines();
    wait_until("registered again and the lifeline reopened", || {
        nn.registers.load(Ordering::SeqCst) > registers
            && nn.lifeline_count() >= 4
            && nn.forget_lifelines.load(Ordering::SeqCst) == 0
    })
    .await;
    let bytes = nn.lifeline_bytes.load(Ordering::SeqCst);
    wait_until("the new lifeline carries bytes", || {
        nn.lifeline_bytes.load(Ordering::SeqCst) >= bytes + 3
    })
    .await;
}

/// Reads from a lifeline connection until its request line and `beats` newline chunks have
/// arrived.
async fn read_beats(socket: &mut TcpStream, beats: usize) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    for _ in 0..200 {
        let text = String::from_utf8_lossy(&seen).to_string();
        if text.matches("1\r\n\n\r\n").count() >= beats {
            return text;
        }
        let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf))
            .await
            .expect("lifeline bytes in time")
            .unwrap();
        assert!(n > 0, "the datanode closed the lifeline: {text:?}");
        seen.extend_from_slice(&buf[..n]);
    }
    panic!("too few beats: {:?}", String::from_utf8_lossy(&seen));
}

async fn accept(listener: &TcpListener) -> TcpStream {
    let accepted = tokio::time::timeout(Duration::from_secs(5), listener.accept()).await;
    accepted.expect("a lifeline connection in time").unwrap().0
}

#[tokio::test]
async fn a_hung_up_lifeline_is_reopened_with_backoff_and_stops_on_shutdown() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let link = NamenodeLink::new(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let registration = Arc::new(Registration::default());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(lifeline::run(
        Arc::new(link),
        DatanodeId("dn-test".into()),
        Duration::from_millis(10),
        Arc::clone(&registration),
        shutdown.clone(),
    ));
    // Nothing is sent before the datanode is registered.
    let early = tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
    assert!(early.is_err(), "lifeline opened before registration");
    registration.registered();

    let mut first = accept(&listener).await;
    let text = read_beats(&mut first, 3).await;
    assert!(
        text.starts_with("POST /v1/datanode/lifeline?id=dn-test HTTP/1.1"),
        "{text:?}"
    );
    drop(first);

    let mut second = accept(&listener).await;
    read_beats(&mut second, 2).await;
    drop(second);

    // Hanging up at once, again and again, is met with backoff, not a busy loop.
    let mut reconnects = 0;
    let window = tokio::time::Instant::now() + Duration::from_secs(1);
    while let Ok(Ok((socket, _))) = tokio::time::timeout_at(window, listener.accept()).await {
        drop(socket);
        reconnects += 1;
    }
    assert!(reconnects <= 8, "{reconnects} reconnects in a second");

    shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(5), task).await;
    assert!(stopped.is_ok(), "the lifeline kept running after shutdown");
}
