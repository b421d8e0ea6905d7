//! The lifeline and the command long-poll.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::Bytes;
use granary_client::protocol::*;
use granary_client::{BlockId, ErrorKind};
use tempfile::TempDir;
use tokio::sync::mpsc;

use super::{dn, heartbeat, p, put_one_block, register, Running};
use super::{poll_commands, serve_lifeline};
use crate::Namesystem;

pub(super) fn register_at(nn: &Namesystem, id: &str, addr: SocketAddr) {
    let datanode = DatanodeInfo {
        id: dn(id),
        addr,
        rack: DEFAULT_RACK.into(),
    };
    let storage = StorageReport::default();
    nn.register(RegisterRequest { datanode, storage }, addr.ip())
        .unwrap();
}

/// An address where nothing listens: connecting is refused at once.
pub(super) fn closed_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

pub(super) fn state_of(nn: &Namesystem, id: &str) -> DatanodeState {
    let report = nn.cluster_report();
    let node = report.datanodes.iter().find(|d| d.info.id == dn(id));
    node.unwrap().state
}

/// A lifeline body that lasts until the sender is dropped.
fn held_body() -> (mpsc::Sender<Bytes>, Body) {
    let (tx, rx) = mpsc::channel::<Bytes>(1);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((Ok::<_, std::io::Error>(chunk), rx))
    });
    (tx, Body::from_stream(stream))
}

#[tokio::test]
async fn a_lifeline_ending_with_a_failed_probe_kills_the_node_at_once() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    let nn = &running.nn;
    register_at(nn, "dn-a", closed_addr());
    register(nn, "dn-b", 2);
    let (_, holders) = put_one_block(nn, "/f", None).await;
    assert!(holders.contains(&dn("dn-a")));

    let started = Instant::now();
    serve_lifeline(nn, &dn("dn-a"), Body::empty())
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(state_of(nn, "dn-a"), DatanodeState::Dead);
    let located = nn.locate(&p("/f"), None).unwrap();
    let offered: Vec<_> = located.blocks[0]
        .locations
        .iter()
        .map(|l| l.id.clone())
        .collect();
    assert_eq!(offered, vec![dn("dn-b")]);
    assert_eq!(nn.cluster_report().under_replicated_blocks, 1);
    let beat = HeartbeatRequest {
        id: dn("dn-a"),
        storage: StorageReport::default(),
        active_transfers: 0,
    };
    assert_eq!(
        heartbeat(nn, beat).unwrap_err().kind,
        ErrorKind::UnknownDatanode
    );
    let err = serve_lifeline(nn, &dn("dn-a"), Body::empty())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::UnknownDatanode, "dead: register first");
    let err = serve_lifeline(nn, &dn("dn-zz"), Body::empty())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::UnknownDatanode);
    running.close().await;
}

#[tokio::test]
async fn an_old_lifeline_or_a_reachable_node_changes_nothing() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    let nn = running.nn.clone();
    let addr = closed_addr();
    register_at(&nn, "dn-a", addr);
    let (tx, body) = held_body();
    let lifeline = tokio::spawn({
        let nn = nn.clone();
        async move { serve_lifeline(&nn, &dn("dn-a"), body).await }
    });
    // The second send returns once the first was read: the lifeline is being served.
    tx.send(Bytes::from_static(b"\n")).await.unwrap();
    tx.send(Bytes::from_static(b"\n")).await.unwrap();
    // The datanode restarted and registered again before its old lifeline ended.
    register_at(&nn, "dn-a", addr);
    drop(tx);
    lifeline.await.unwrap().unwrap();
    assert_eq!(state_of(&nn, "dn-a"), DatanodeState::Live);

    // A lifeline that ends while the node still answers its health check: heartbeats decide.
    let healthy = healthy_listener().await;
    register_at(&nn, "dn-b", healthy);
    serve_lifeline(&nn, &dn("dn-b"), Body::empty())
        .await
        .unwrap();
    assert_eq!(state_of(&nn, "dn-b"), DatanodeState::Live);
    drop(nn);
    running.close().await;
}

#[tokio::test]
async fn a_port_that_accepts_but_never_answers_is_a_dying_node() {
    // A kill -9ed process closes its sockets one by one: its listening socket may still
    // complete a handshake after the lifeline dropped, but nothing answers on it.
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    let nn = running.nn.clone();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    register_at(&nn, "dn-c", silent.local_addr().unwrap());
    serve_lifeline(&nn, &dn("dn-c"), Body::empty())
        .await
        .unwrap();
    assert_eq!(state_of(&nn, "dn-c"), DatanodeState::Dead);
    drop(nn);
    running.close().await;
}

/// An address that answers `GET /v1/health` with 200, like a running datanode.
pub(super) async fn healthy_listener() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for _ in 0..8 {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut request = [0u8; 256];
            let _ = stream.read(&mut request).await;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    addr
}

#[tokio::test]
async fn a_node_in_maintenance_whose_lifeline_ends_is_away_not_dead() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    let nn = &running.nn;
    register_at(nn, "dn-a", closed_addr());
    register(nn, "dn-b", 2);
    put_one_block(nn, "/f", None).await;
    let request = MaintenanceRequest {
        datanode: dn("dn-a"),
        duration_ms: Some(60_000),
    };
    nn.maintenance(&request).await.unwrap();
    serve_lifeline(nn, &dn("dn-a"), Body::empty())
        .await
        .unwrap();
    assert_eq!(state_of(nn, "dn-a"), DatanodeState::Maintenance);
    let report = nn.cluster_report();
    assert_eq!(
        (report.under_replicated_blocks, report.dead_datanodes),
        (0, 0)
    );
    let located = nn.locate(&p("/f"), None).unwrap();
    assert_eq!(
        located.blocks[0].locations.len(),
        1,
        "not offered while away"
    );
    nn.expire_datanodes(Instant::now() + Duration::from_secs(60));
    assert_eq!(state_of(nn, "dn-a"), DatanodeState::Maintenance);
    running.close().await;
}

#[tokio::test]
async fn the_command_poll_answers_at_once_or_as_soon_as_a_command_is_queued() {
    let dir = TempDir::new().unwrap();
    let running = Running::open_with(dir.path(), |c| {
        c.command_poll_timeout = Duration::from_millis(300);
    });
    let nn: Arc<Namesystem> = running.nn.clone();
    register(&nn, "dn-a", 1);
    let a = dn("dn-a");
    let delete = |block| DatanodeCommand::Delete {
        blocks: vec![BlockId(block)],
    };

    let started = Instant::now();
    assert!(poll_commands(&nn, &a).await.unwrap().commands.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(250));

    nn.lock().datanodes.queue_delete(&a, BlockId(5));
    let started = Instant::now();
    assert_eq!(
        poll_commands(&nn, &a).await.unwrap().commands,
        vec![delete(5)]
    );
    assert!(started.elapsed() < Duration::from_millis(100));

    let poll = tokio::spawn({
        let nn = nn.clone();
        let a = a.clone();
        async move { (poll_commands(&nn, &a).await, Instant::now()) }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    nn.lock().datanodes.queue_delete(&a, BlockId(6));
    let queued = Instant::now();
    let (answer, answered) = poll.await.unwrap();
    assert_eq!(answer.unwrap().commands, vec![delete(6)]);
    assert!(answered.duration_since(queued) < Duration::from_millis(100));

    // A heartbeat took the command first: the poll does not get it again.
    nn.lock().datanodes.queue_delete(&a, BlockId(7));
    let beat = HeartbeatRequest {
        id: a.clone(),
        storage: StorageReport::default(),
        active_transfers: 0,
    };
    assert_eq!(heartbeat(&nn, beat).unwrap().commands, vec![delete(7)]);
    assert!(poll_commands(&nn, &a).await.unwrap().commands.is_empty());

    // A node declared dead while polling learns it at once.
    let poll = tokio::spawn({
        let nn = nn.clone();
        let a = a.clone();
        async move { poll_commands(&nn, &a).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    nn.expire_datanodes(Instant::now() + Duration::from_secs(60));
    let err = poll.await.unwrap().unwrap_err();
    assert_eq!(err.kind, ErrorKind::UnknownDatanode);
    let unknown = poll_commands(&nn, &dn("dn-zz")).await.unwrap_err();
    assert_eq!(unknown.kind, ErrorKind::UnknownDatanode);
    drop(nn);
    running.close().await;
}

#[tokio::test]
async fn deaths_and_the_end_of_safe_mode_reach_the_tracker_as_events() {
    use granary_compute::tracker::NamespaceEvent;

    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    let nn = &running.nn;
    let mut events = nn.subscribe_tracker_events().unwrap();
    assert!(nn.subscribe_tracker_events().is_err(), "one subscriber");
    register_at(nn, "dn-a", closed_addr());
    register(nn, "dn-b", 2);

    serve_lifeline(nn, &dn("dn-a"), Body::empty())
        .await
        .unwrap();
    assert_eq!(
        events.try_recv().unwrap(),
        NamespaceEvent::DatanodeDead(dn("dn-a"))
    );
    nn.expire_datanodes(Instant::now() + Duration::from_secs(3600));
    assert_eq!(
        events.try_recv().unwrap(),
        NamespaceEvent::DatanodeDead(dn("dn-b"))
    );
    assert!(events.try_recv().is_err(), "each death is told once");

    nn.safe_mode(SafeModeAction::Enter);
    assert!(events.try_recv().is_err());
    nn.safe_mode(SafeModeAction::Leave);
    assert_eq!(events.try_recv().unwrap(), NamespaceEvent::SafeModeLeft);
    nn.safe_mode(SafeModeAction::Leave);
    assert!(events.try_recv().is_err(), "leaving twice is one change");
    running.close().await;
}

#[tokio::test]
async fn a_registration_from_a_new_address_waits_until_the_node_is_declared_dead() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    let nn = &running.nn;
    register(nn, "dn-a", 1);
    let claimed = DatanodeInfo {
        id: dn("dn-a"),
        addr: ([10, 0, 0, 1], 9866).into(),
        rack: DEFAULT_RACK.into(),
    };
    let from_elsewhere = |nn: &Namesystem| {
        let req = RegisterRequest {
            datanode: claimed.clone(),
            storage: StorageReport::default(),
        };
        nn.register(req, [10, 0, 0, 7].into())
    };
    let err = from_elsewhere(nn).unwrap_err();
    assert_eq!(err.kind, ErrorKind::DatanodeConflict, "{err}");
    let report = nn.cluster_report();
    let entry = report.datanodes.iter().find(|d| d.info.id == dn("dn-a"));
    assert_eq!(
        entry.unwrap().info.addr,
        ([10, 0, 0, 1], 9866).into(),
        "the address is where the node registered from, not what a request claims"
    );
    let beat = HeartbeatRequest {
        id: dn("dn-a"),
        storage: StorageReport::default(),
        active_transfers: 0,
    };
    let err = nn.heartbeat(beat, [10, 0, 0, 7].into()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::UnknownDatanode);

    nn.expire_datanodes(Instant::now() + Duration::from_secs(60));
    assert_eq!(state_of(nn, "dn-a"), DatanodeState::Dead);
    from_elsewhere(nn).unwrap();
    let report = nn.cluster_report();
    let entry = report.datanodes.iter().find(|d| d.info.id == dn("dn-a"));
    assert_eq!(entry.unwrap().info.addr, ([10, 0, 0, 7], 9866).into());
    assert_eq!(state_of(nn, "dn-a"), DatanodeState::Live);
    running.close().await;
}
