use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use granary_client::protocol::*;
use granary_client::{BlockId, ErrorKind, WireError};

use crate::test_support::*;

/// A namenode that forgets the datanode at its first heartbeat (as after a restart) and hands
/// out whatever commands a test queues.
#[derive(Default)]
struct FakeNamenode {
    registers: AtomicUsize,
    heartbeats: AtomicUsize,
    reports: Mutex<Vec<BlockReportRequest>>,
    incremental: Mutex<Vec<BlockReceivedRequest>>,
    commands: Mutex<Vec<DatanodeCommand>>,
}

async fn register(
    State(nn): State<Arc<FakeNamenode>>,
    Json(_): Json<RegisterRequest>,
) -> Json<RegisterResponse> {
    nn.registers.fetch_add(1, Ordering::SeqCst);
    Json(RegisterResponse {})
}

async fn heartbeat(
    State(nn): State<Arc<FakeNamenode>>,
    Json(_): Json<HeartbeatRequest>,
) -> Response {
    if nn.heartbeats.fetch_add(1, Ordering::SeqCst) == 0 {
        let error = WireError {
            kind: ErrorKind::UnknownDatanode,
            message: "who?".into(),
            datanode: None,
        };
        return (StatusCode::PRECONDITION_FAILED, Json(error)).into_response();
    }
    let commands = std::mem::take(&mut *nn.commands.lock().unwrap());
    Json(HeartbeatResponse { commands }).into_response()
}

async fn block_report(
    State(nn): State<Arc<FakeNamenode>>,
    Json(r): Json<BlockReportRequest>,
) -> Json<BlockReportResponse> {
    nn.reports.lock().unwrap().push(r);
    Json(BlockReportResponse::default())
}

async fn block_received(
    State(nn): State<Arc<FakeNamenode>>,
    Json(r): Json<BlockReceivedRequest>,
) -> StatusCode {
    nn.incremental.lock().unwrap().push(r);
    StatusCode::OK
}

async fn start_fake_namenode() -> (String, Arc<FakeNamenode>) {
    let nn = Arc::new(FakeNamenode::default());
    let app = Router::new()
        .route(routes::REGISTER, post(register))
        .route(routes::HEARTBEAT, post(heartbeat))
        .route(routes::BLOCK_REPORT, post(block_report))
        .route(routes::BLOCK_RECEIVED, post(block_received))
        .with_state(Arc::clone(&nn));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, nn)
}

async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test]
async fn registers_again_after_unknown_datanode_and_runs_commands() {
    let (url, nn) = start_fake_namenode().await;
    let node = start_node_with(&url).await;
    let target = start_node().await;

    wait_until("registered twice with two full reports", || {
        nn.registers.load(Ordering::SeqCst) >= 2 && nn.reports.lock().unwrap().len() >= 2
    })
    .await;
    assert!(nn
        .reports
        .lock()
        .unwrap()
        .iter()
        .all(|r| &r.id == node.store.id()));

    assert_eq!(
        put(&node.info, 5, &data(100_000, 5), &[]).await.status(),
        200
    );
    let received = |nn: &FakeNamenode, block| {
        nn.incremental
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.received.iter().any(|x| x.block == BlockId(block)))
    };
    wait_until("block 5 reported received", || received(&nn, 5)).await;

    let replicate = DatanodeCommand::Replicate {
        block: BlockId(5),
        targets: vec![target.info.clone()],
    };
    nn.commands.lock().unwrap().push(replicate);
    wait_until("block 5 replicated", || {
        target.store.length(BlockId(5)) == Some(100_000)
    })
    .await;

    nn.commands.lock().unwrap().push(DatanodeCommand::Delete {
        blocks: vec![BlockId(5)],
    });
    wait_until("block 5 deleted and reported", || {
        !node.store.contains(BlockId(5))
            && nn
                .incremental
                .lock()
                .unwrap()
                .iter()
                .any(|r| r.deleted == [BlockId(5)])
    })
    .await;
}
