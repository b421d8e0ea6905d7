//! An in-process job tracker for the executor's tests, on 127.0.0.1:0: it hands out queued
//! assignments and kills, answers `locate` with a file whose one block has no replica, and
//! records polls and reports.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use granary_client::protocol::*;
use granary_client::{BlockId, Digest, FsPath};

pub const INPUT: &str = "/in/data.txt";

#[derive(Default)]
pub struct FakeTracker {
    pub launch: Mutex<Vec<TaskAssignment>>,
    pub kill: Mutex<Vec<AttemptId>>,
    pub active_jobs: Mutex<Vec<JobId>>,
    /// The running attempts the latest poll listed.
    pub last_poll: Mutex<Option<Vec<AttemptId>>>,
    pub reports: Mutex<Vec<TaskReport>>,
}

type Tracker = State<Arc<FakeTracker>>;

async fn poll(
    State(tracker): Tracker,
    Json(poll): Json<ExecutorPoll>,
) -> Json<ExecutorPollResponse> {
    let running = poll.running.into_iter().map(|p| p.attempt).collect();
    *tracker.last_poll.lock().unwrap() = Some(running);
    Json(ExecutorPollResponse {
        launch: std::mem::take(&mut *tracker.launch.lock().unwrap()),
        kill: std::mem::take(&mut *tracker.kill.lock().unwrap()),
        active_jobs: tracker.active_jobs.lock().unwrap().clone(),
    })
}

async fn report(
    State(tracker): Tracker,
    Json(report): Json<TaskReport>,
) -> Json<serde_json::Value> {
    tracker.reports.lock().unwrap().push(report);
    Json(serde_json::json!({}))
}

/// One 10-byte block with no live replica anywhere.
async fn locate() -> Json<LocatedFile> {
    Json(LocatedFile {
        status: FileStatus {
            path: FsPath::parse(INPUT).unwrap(),
            kind: FileKind::File,
            length: 10,
            replication: 1,
            block_size: 10,
            modified_ms: 0,
        },
        blocks: vec![LocatedBlock {
            id: BlockId(7),
            offset: 0,
            length: 10,
            sha256: Digest::of(b""),
            locations: Vec::new(),
        }],
    })
}

pub async fn start_tracker() -> (String, Arc<FakeTracker>) {
    let tracker = Arc::new(FakeTracker::default());
    let app = Router::new()
        .route(routes::EXECUTOR_POLL, post(poll))
        .route(routes::EXECUTOR_REPORT, post(report))
        .route(routes::LOCATE, get(locate))
        .with_state(Arc::clone(&tracker));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, tracker)
}
