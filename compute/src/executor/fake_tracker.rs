//! An in-process job tracker for the executor's tests, on 127.0.0.1:0: it hands out queued
//! assignments and kills, answers `locate` with a file whose one block has no replica, and
//! records polls and reports. Its namespace holds no job output: `mkdir` and `create` record
//! the request and answer `not_found`, as for a job that is over.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::Router;
use granary_client::protocol::*;
use granary_client::server::{ApiResult, Req, Resp, RouterExt};
use granary_client::{BlockId, Digest, Error, FsPath};

pub const INPUT: &str = "/in/data.txt";
/// The input file's bytes, for tests that serve its block locally.
pub const INPUT_BYTES: &[u8] = b"a b\nc d e\n";

#[derive(Default)]
pub struct FakeTracker {
    pub launch: Mutex<Vec<TaskAssignment>>,
    pub kill: Mutex<Vec<AttemptId>>,
    pub active_jobs: Mutex<Vec<JobId>>,
    /// The running attempts the latest poll listed.
    pub last_poll: Mutex<Option<Vec<AttemptId>>>,
    pub reports: Mutex<Vec<TaskReport>>,
    pub mkdirs: Mutex<Vec<MkdirRequest>>,
    /// Paths files were created at.
    pub creates: Mutex<Vec<FsPath>>,
}

type Tracker = State<Arc<FakeTracker>>;

async fn poll(
    State(tracker): Tracker,
    Req(poll): Req<routes::PollTasks>,
) -> Resp<routes::PollTasks> {
    let running = poll.running.into_iter().map(|p| p.attempt).collect();
    *tracker.last_poll.lock().unwrap() = Some(running);
    Resp(ExecutorPollResponse {
        launch: std::mem::take(&mut *tracker.launch.lock().unwrap()),
        kill: std::mem::take(&mut *tracker.kill.lock().unwrap()),
        active_jobs: tracker.active_jobs.lock().unwrap().clone(),
    })
}

async fn report(
    State(tracker): Tracker,
    Req(report): Req<routes::ReportTask>,
) -> Resp<routes::ReportTask> {
    tracker.reports.lock().unwrap().push(report);
    Resp(Ack {})
}

async fn mkdir(
    State(tracker): Tracker,
    Req(req): Req<routes::Mkdir>,
) -> ApiResult<Resp<routes::Mkdir>> {
    let missing = Error::not_found(format!("parent directory of {} does not exist", req.path));
    tracker.mkdirs.lock().unwrap().push(req);
    Err(missing.into())
}

async fn create(
    State(tracker): Tracker,
    Req(req): Req<routes::Create>,
) -> ApiResult<Resp<routes::Create>> {
    let missing = Error::not_found(format!("parent directory of {} does not exist", req.path));
    tracker.creates.lock().unwrap().push(req.path);
    Err(missing.into())
}

/// [`INPUT_BYTES`] in one block with no live replica anywhere.
async fn locate() -> Resp<routes::Locate> {
    Resp(LocatedFile {
        status: FileStatus {
            lease_holder: None,
            attrs: Default::default(),
            path: FsPath::parse(INPUT).unwrap(),
            kind: FileKind::File,
            length: INPUT_BYTES.len() as u64,
            replication: 1,
            block_size: INPUT_BYTES.len() as u64,
            modified_ms: 0,
        },
        blocks: vec![LocatedBlock {
            generation: Default::default(),
            id: BlockId(7),
            offset: 0,
            length: INPUT_BYTES.len() as u64,
            sha256: Digest::of(b""),
            locations: Vec::new(),
        }],
    })
}

pub async fn start_tracker() -> (String, Arc<FakeTracker>) {
    let tracker = Arc::new(FakeTracker::default());
    let app = Router::new()
        .typed(routes::PollTasks, poll)
        .typed(routes::ReportTask, report)
        .typed(routes::Locate, locate)
        .typed(routes::Mkdir, mkdir)
        .typed(routes::Create, create)
        .with_state(Arc::clone(&tracker));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, tracker)
}
