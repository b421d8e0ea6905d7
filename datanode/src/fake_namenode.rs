//! An in-process namenode for the tests, on 127.0.0.1:0. It records what datanodes send,
//! answers `unknown_datanode` when a test asks it to, holds command polls open until a test
//! queues commands (or for a second), and keeps lifelines open, counting their bytes, until a
//! test kicks them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::StreamExt;
use granary_client::protocol::*;
use granary_client::server::{ApiError, ApiResult, Req, Resp, RouterExt};
use granary_client::{DatanodeId, Error, ErrorKind};
use tokio::sync::{watch, Notify};

/// How long a command poll is held open without commands.
const POLL_HOLD: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct FakeNamenode {
    pub registers: AtomicUsize,
    pub heartbeats: AtomicUsize,
    /// Heartbeats still to answer `unknown_datanode`.
    pub forget_heartbeats: AtomicUsize,
    /// Lifelines still to answer `unknown_datanode` at once.
    pub forget_lifelines: AtomicUsize,
    pub reports: Mutex<Vec<BlockReportRequest>>,
    pub incremental: Mutex<Vec<BlockReceivedRequest>>,
    pub bad_replicas: Mutex<Vec<ReportBadReplicaRequest>>,
    pub commit_syncs: Mutex<Vec<CommitBlockSyncRequest>>,
    /// `commit_block_sync` calls still to answer `unavailable`.
    pub fail_commit_syncs: AtomicUsize,
    /// Commands for the next heartbeat reply.
    pub heartbeat_commands: Mutex<Vec<DatanodeCommand>>,
    poll_commands: Mutex<Vec<DatanodeCommand>>,
    poll_queued: Notify,
    pub polls: AtomicUsize,
    /// Lifelines opened, by datanode id.
    pub lifelines: Mutex<Vec<DatanodeId>>,
    pub lifeline_bytes: AtomicUsize,
    kicks: watch::Sender<u64>,
}

impl FakeNamenode {
    /// Hands commands to the pending (or next) command poll.
    pub fn queue_poll_commands(&self, commands: Vec<DatanodeCommand>) {
        self.poll_commands.lock().unwrap().extend(commands);
        self.poll_queued.notify_waiters();
    }

    /// Ends every open lifeline with a 503, as a namenode going away would.
    pub fn kick_lifelines(&self) {
        self.kicks.send_modify(|k| *k += 1);
    }

    pub fn lifeline_count(&self) -> usize {
        self.lifelines.lock().unwrap().len()
    }
}

pub async fn start_fake_namenode() -> (String, Arc<FakeNamenode>) {
    let nn = Arc::new(FakeNamenode::default());
    let app = Router::new()
        .typed(routes::Register, register)
        .typed(routes::Heartbeat, heartbeat)
        .typed(routes::BlockReport, block_report)
        .typed(routes::BlockReceived, block_received)
        .typed(routes::ReportBadReplica, report_bad_replica)
        .typed(routes::Commands, commands)
        .typed(routes::CommitBlockSync, commit_block_sync)
        .endpoint(routes::Lifeline, lifeline)
        .with_state(Arc::clone(&nn));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, nn)
}

type Nn = State<Arc<FakeNamenode>>;

/// Decrements `counter` if positive; whether it did.
fn take_one(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

fn unknown_datanode() -> ApiError {
    ApiError(Error::new(ErrorKind::UnknownDatanode, "who?"))
}

async fn register(State(nn): Nn, Req(_): Req<routes::Register>) -> Resp<routes::Register> {
    nn.registers.fetch_add(1, Ordering::SeqCst);
    Resp(RegisterResponse {})
}

async fn heartbeat(
    State(nn): Nn,
    Req(_): Req<routes::Heartbeat>,
) -> ApiResult<Resp<routes::Heartbeat>> {
    nn.heartbeats.fetch_add(1, Ordering::SeqCst);
    if take_one(&nn.forget_heartbeats) {
        return Err(unknown_datanode());
    }
    let commands = std::mem::take(&mut *nn.heartbeat_commands.lock().unwrap());
    Ok(Resp(HeartbeatResponse { commands }))
}

async fn block_report(
    State(nn): Nn,
    Req(r): Req<routes::BlockReport>,
) -> Resp<routes::BlockReport> {
    nn.reports.lock().unwrap().push(r);
    Resp(BlockReportResponse::default())
}

async fn block_received(
    State(nn): Nn,
    Req(r): Req<routes::BlockReceived>,
) -> Resp<routes::BlockReceived> {
    nn.incremental.lock().unwrap().push(r);
    Resp(Ack {})
}

async fn report_bad_replica(
    State(nn): Nn,
    Req(r): Req<routes::ReportBadReplica>,
) -> Resp<routes::ReportBadReplica> {
    nn.bad_replicas.lock().unwrap().push(r);
    Resp(Ack {})
}

async fn commit_block_sync(
    State(nn): Nn,
    Req(r): Req<routes::CommitBlockSync>,
) -> ApiResult<Resp<routes::CommitBlockSync>> {
    if take_one(&nn.fail_commit_syncs) {
        return Err(ApiError(Error::new(ErrorKind::Unavailable, "not now")));
    }
    nn.commit_syncs.lock().unwrap().push(r);
    Ok(Resp(Ack {}))
}

async fn commands(State(nn): Nn, Req(_): Req<routes::Commands>) -> Resp<routes::Commands> {
    nn.polls.fetch_add(1, Ordering::SeqCst);
    let deadline = tokio::time::Instant::now() + POLL_HOLD;
    loop {
        let queued = nn.poll_queued.notified();
        tokio::pin!(queued);
        queued.as_mut().enable();
        let commands = std::mem::take(&mut *nn.poll_commands.lock().unwrap());
        if !commands.is_empty() {
            return Resp(HeartbeatResponse { commands });
        }
        tokio::select! {
            () = queued => {}
            () = tokio::time::sleep_until(deadline) => return Resp(HeartbeatResponse::default()),
        }
    }
}

async fn lifeline(State(nn): Nn, Query(q): Query<DatanodeQuery>, body: Body) -> Response {
    nn.lifelines.lock().unwrap().push(q.id);
    if take_one(&nn.forget_lifelines) {
        return unknown_datanode().into_response();
    }
    let mut kicks = nn.kicks.subscribe();
    let mut body = body.into_data_stream();
    loop {
        tokio::select! {
            _ = kicks.changed() => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
            chunk = body.next() => match chunk {
                Some(Ok(bytes)) => {
                    nn.lifeline_bytes.fetch_add(bytes.len(), Ordering::SeqCst);
                }
                _ => return StatusCode::OK.into_response(),
            },
        }
    }
}
