//! The writer's calls to the namenode, against a fake namenode on 127.0.0.1:0 that records
//! them: an empty put is one create, and against a namenode that ignores `complete` it still
//! ends complete, or deleted. A put against fake datanodes that are all busy for a while
//! waits for them.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{post, put};
use axum::{Json, Router};

use crate::protocol::routes::{self, Endpoint};
use crate::protocol::*;
use crate::WireError;
use crate::{BlockId, ClientConfig, DatanodeId, ErrorKind, FsPath, Granary, InodeId, PutOptions};

/// How the fake answers `create` with `complete`.
#[derive(Clone, Copy, PartialEq)]
enum Version {
    /// Creates the file complete and answers with its status.
    Current,
    /// Ignores `complete`, as a namenode older than it does.
    Old,
    /// Like `Old`, and its `complete` fails.
    OldFailingComplete,
}

struct FakeNamenode {
    version: Version,
    /// What `add_block` chooses from, less the excluded.
    datanodes: Vec<DatanodeInfo>,
    /// Each call's route and whether a create asked for `complete`.
    calls: Mutex<Vec<(&'static str, bool)>>,
}

type Fake = State<Arc<FakeNamenode>>;

const CREATE: &str = routes::Create::PATH;
const COMPLETE: &str = routes::Complete::PATH;
const DELETE: &str = routes::Delete::PATH;
const ADD_BLOCK: &str = routes::AddBlock::PATH;
const ABANDON_BLOCK: &str = routes::AbandonBlock::PATH;

fn status(path: FsPath) -> FileStatus {
    FileStatus {
        lease_holder: None,
        attrs: Default::default(),
        path,
        kind: FileKind::File,
        length: 0,
        replication: 3,
        block_size: 1 << 20,
        modified_ms: 1,
    }
}

async fn create(State(fake): Fake, Json(req): Json<CreateRequest>) -> Json<CreateResponse> {
    fake.calls.lock().unwrap().push((CREATE, req.complete));
    let complete = req.complete && fake.version == Version::Current;
    Json(CreateResponse {
        lease_soft_limit_ms: 60_000,
        file: InodeId(7),
        replication: 3,
        block_size: 1 << 20,
        status: complete.then(|| status(req.path)),
    })
}

async fn complete(
    State(fake): Fake,
    Json(req): Json<CompleteRequest>,
) -> Result<Json<CompleteResponse>, (axum::http::StatusCode, Json<WireError>)> {
    fake.calls.lock().unwrap().push((COMPLETE, false));
    if fake.version == Version::OldFailingComplete {
        let error = WireError {
            kind: ErrorKind::Io,
            message: "disk full".into(),
            datanode: None,
        };
        return Err((axum::http::StatusCode::INTERNAL_SERVER_ERROR, Json(error)));
    }
    Ok(Json(CompleteResponse {
        status: status(req.path),
    }))
}

async fn delete(State(fake): Fake, Json(_): Json<DeleteRequest>) -> Json<DeleteResponse> {
    fake.calls.lock().unwrap().push((DELETE, false));
    Json(DeleteResponse {
        files: 1,
        blocks: 0,
    })
}

type ApiResult<T> = Result<Json<T>, (StatusCode, Json<WireError>)>;

fn refusal(kind: ErrorKind, message: &str) -> (StatusCode, Json<WireError>) {
    let error = WireError {
        kind,
        message: message.into(),
        datanode: None,
    };
    (
        StatusCode::from_u16(kind.http_status()).unwrap(),
        Json(error),
    )
}

async fn add_block(
    State(fake): Fake,
    Json(req): Json<AddBlockRequest>,
) -> ApiResult<AddBlockResponse> {
    fake.calls.lock().unwrap().push((ADD_BLOCK, false));
    let pipeline: Vec<DatanodeInfo> = fake
        .datanodes
        .iter()
        .filter(|node| !req.excluded.contains(&node.id))
        .cloned()
        .collect();
    if pipeline.is_empty() {
        return Err(refusal(
            ErrorKind::NoDatanodes,
            "every datanode is excluded",
        ));
    }
    Ok(Json(AddBlockResponse {
        generation: Default::default(),
        block: BlockId(1),
        pipeline,
    }))
}

async fn abandon_block(State(fake): Fake, Json(_): Json<AbandonBlockRequest>) -> Json<Ack> {
    fake.calls.lock().unwrap().push((ABANDON_BLOCK, false));
    Json(Ack {})
}

fn namenode_app(fake: &Arc<FakeNamenode>) -> Router {
    Router::new()
        .route(CREATE, post(create))
        .route(COMPLETE, post(complete))
        .route(DELETE, post(delete))
        .route(ADD_BLOCK, post(add_block))
        .route(ABANDON_BLOCK, post(abandon_block))
        .with_state(fake.clone())
}

async fn serve(app: Router) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, server)
}

/// A datanode that answers `busy` until `free_at`, then stores nothing but acks the frames
/// it was sent, as a one-node pipeline.
#[derive(Clone)]
struct FakeDatanode {
    id: DatanodeId,
    /// The nodes together answer `busy` to this many writes before they take one.
    busy_writes: u32,
    refusals: Arc<Mutex<u32>>,
}

async fn write_block(State(node): State<FakeDatanode>, body: Body) -> ApiResult<WriteBlockAck> {
    {
        let mut refusals = node.refusals.lock().unwrap();
        if *refusals < node.busy_writes {
            *refusals += 1;
            return Err(refusal(ErrorKind::Busy, "at the transfer limit"));
        }
    }
    let mut frames = crate::framing::WriteFrameStream::new(body.into_data_stream());
    let (mut digester, mut length) = (crate::checksum::BlockDigester::new(), 0u64);
    while let Some(frame) = frames.next().await {
        let frame = frame.map_err(|e| refusal(e.kind, &e.message))?;
        digester.push(&frame.digest, frame.data.len());
        length += frame.data.len() as u64;
    }
    Ok(Json(WriteBlockAck {
        generation: Default::default(),
        block: BlockId(1),
        length,
        sha256: digester.finish(),
        persisted_on: vec![node.id],
    }))
}

#[tokio::test]
async fn a_put_waits_for_datanodes_that_are_all_busy_for_a_while() {
    // Two full rounds of refusals: more than the pipeline's attempts, so a writer that spent
    // an attempt per busy answer would give up; one that backs off gets through.
    let busy_writes = 6;
    let mut datanodes = Vec::new();
    let mut servers = Vec::new();
    let refusals = Arc::new(Mutex::new(0));
    for i in 0..3 {
        let node = FakeDatanode {
            id: DatanodeId(format!("dn{i}")),
            busy_writes,
            refusals: refusals.clone(),
        };
        let app = Router::new()
            .route(routes::WriteBlock::PATH, put(write_block))
            .with_state(node.clone());
        let (addr, server) = serve(app).await;
        servers.push(server);
        datanodes.push(DatanodeInfo {
            id: node.id,
            addr,
            rack: "/r".into(),
        });
    }
    let fake = Arc::new(FakeNamenode {
        version: Version::Current,
        datanodes,
        calls: Mutex::new(Vec::new()),
    });
    let (addr, server) = serve(namenode_app(&fake)).await;
    servers.push(server);
    let fs = Granary::new(ClientConfig::new(format!("http://{addr}"))).unwrap();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let path = FsPath::parse("/busy").unwrap();
    let put = fs.put_bytes(&data, &path, &PutOptions::default()).await;
    for server in servers {
        server.abort();
    }
    let summary = put.unwrap();
    assert_eq!(summary.blocks, 1);
    // Busy refusals are no pipeline failures.
    assert_eq!(summary.pipeline_recoveries, 0);
    // Every refusal was answered by waiting, none by giving up.
    assert_eq!(*refusals.lock().unwrap(), busy_writes);
    let calls = fake.calls.lock().unwrap().clone();
    assert!(!calls.contains(&(DELETE, false)), "{calls:?}");
}

/// Puts no bytes at `/empty` through a fake namenode of `version`; returns the outcome and
/// the calls it saw.
async fn put_empty_against(version: Version) -> (crate::Result<()>, Vec<(&'static str, bool)>) {
    let fake = Arc::new(FakeNamenode {
        version,
        datanodes: Vec::new(),
        calls: Mutex::new(Vec::new()),
    });
    let (addr, server) = serve(namenode_app(&fake)).await;
    let fs = Granary::new(ClientConfig::new(format!("http://{addr}"))).unwrap();
    let path = FsPath::parse("/empty").unwrap();
    let put = fs.put_bytes(b"", &path, &PutOptions::default()).await;
    server.abort();
    let outcome = put.map(|summary| {
        assert_eq!((summary.blocks, summary.status), (0, status(path)));
    });
    let calls = fake.calls.lock().unwrap().clone();
    (outcome, calls)
}

#[tokio::test]
async fn an_empty_put_is_one_create_asked_complete() {
    let (outcome, calls) = put_empty_against(Version::Current).await;
    outcome.unwrap();
    assert_eq!(calls, [(CREATE, true)]);
}

#[tokio::test]
async fn an_empty_put_completes_what_an_old_namenode_left_open() {
    let (outcome, calls) = put_empty_against(Version::Old).await;
    outcome.unwrap();
    assert_eq!(calls, [(CREATE, true), (COMPLETE, false)]);
}

#[tokio::test]
async fn an_empty_put_whose_complete_fails_deletes_the_open_file() {
    let (outcome, calls) = put_empty_against(Version::OldFailingComplete).await;
    assert_eq!(outcome.unwrap_err().kind, ErrorKind::Io);
    let expected = [(CREATE, true), (COMPLETE, false), (DELETE, false)];
    assert_eq!(calls, expected);
}

mod copy;
