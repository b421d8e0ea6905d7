//! The command executor: the replication cap, duplicate copies, corrupt replicas.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Router;
use futures_util::StreamExt;
use granary_client::protocol::{routes, DatanodeCommand, DatanodeInfo};
use granary_client::server::RouterExt;
use granary_client::{BlockId, DatanodeId};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::heartbeat::CommandExecutor;
use crate::test_support::*;

/// A datanode that takes a block's bytes, then holds its answer until the test releases it
/// (and then refuses the block: only the traffic matters here).
struct HeldTarget {
    info: DatanodeInfo,
    requests: Arc<AtomicUsize>,
    release: Arc<Semaphore>,
}

async fn held_target() -> HeldTarget {
    let requests = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Semaphore::new(0));
    let state = (Arc::clone(&requests), Arc::clone(&release));
    let app = Router::new()
        .endpoint(routes::WriteBlock, hold)
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    HeldTarget {
        info: DatanodeInfo {
            id: DatanodeId("held".into()),
            addr,
            rack: "/r".into(),
        },
        requests,
        release,
    }
}

async fn hold(
    State((requests, release)): State<(Arc<AtomicUsize>, Arc<Semaphore>)>,
    body: Body,
) -> StatusCode {
    requests.fetch_add(1, Ordering::SeqCst);
    let mut body = body.into_data_stream();
    while let Some(Ok(_)) = body.next().await {}
    if let Ok(permit) = release.acquire().await {
        permit.forget();
    }
    StatusCode::SERVICE_UNAVAILABLE
}

fn replicate(block: u64, target: &DatanodeInfo) -> DatanodeCommand {
    DatanodeCommand::Replicate {
        block: BlockId(block),
        targets: vec![target.clone()],
    }
}

#[tokio::test]
async fn replications_beyond_the_cap_wait_and_duplicates_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let state = test_state(&dir);
    for block in [1, 2] {
        write_replica(&state.store, block, &data(200_000, block as u8));
    }
    let target = held_target().await;
    let shutdown = CancellationToken::new();
    let executor = Arc::new(CommandExecutor::new(state, 1, shutdown.clone()));
    let stats = executor.stats();

    executor.run(vec![replicate(1, &target.info), replicate(2, &target.info)]);
    executor.run(vec![replicate(1, &target.info)]);
    wait_until("one copy running, one queued", || {
        target.requests.load(Ordering::SeqCst) == 1
            && stats.running.load(Ordering::SeqCst) == 1
            && stats.queued.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(stats.duplicates.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(target.requests.load(Ordering::SeqCst), 1, "cap exceeded");

    target.release.add_permits(10);
    wait_until("both copies done", || {
        stats.failed.load(Ordering::SeqCst) + stats.succeeded.load(Ordering::SeqCst) == 2
    })
    .await;
    assert_eq!(target.requests.load(Ordering::SeqCst), 2);
    assert_eq!(stats.peak_running.load(Ordering::SeqCst), 1);
    assert_eq!(stats.running.load(Ordering::SeqCst), 0);
    assert_eq!(stats.queued.load(Ordering::SeqCst), 0);

    // Done copies are no longer in flight: the same command runs again.
    executor.run(vec![replicate(1, &target.info)]);
    wait_until("the copy ran again", || {
        target.requests.load(Ordering::SeqCst) == 3
    })
    .await;
    shutdown.cancel();
}

#[tokio::test]
async fn a_replica_marked_corrupt_is_never_sent() {
    let dir = tempfile::tempdir().unwrap();
    let state = test_state(&dir);
    write_replica(&state.store, 3, &data(1000, 3));
    assert!(state.mark_corrupt(BlockId(3), "test"));
    let target = held_target().await;
    target.release.add_permits(10);
    let executor = Arc::new(CommandExecutor::new(state, 2, CancellationToken::new()));
    executor.run(vec![replicate(3, &target.info)]);
    let stats = executor.stats();
    wait_until("the copy failed", || {
        stats.failed.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(target.requests.load(Ordering::SeqCst), 0);
}
