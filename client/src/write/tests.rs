//! The writer's calls to the namenode, against a fake namenode on 127.0.0.1:0 that records
//! them: an empty put is one create, and against a namenode that ignores `complete` it still
//! ends complete, or deleted.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};

use crate::protocol::routes::{self, Endpoint};
use crate::protocol::*;
use crate::WireError;
use crate::{ClientConfig, ErrorKind, FsPath, Granary, InodeId, PutOptions};

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
    /// Each call's route and whether a create asked for `complete`.
    calls: Mutex<Vec<(&'static str, bool)>>,
}

type Fake = State<Arc<FakeNamenode>>;

const CREATE: &str = routes::Create::PATH;
const COMPLETE: &str = routes::Complete::PATH;
const DELETE: &str = routes::Delete::PATH;

fn status(path: FsPath) -> FileStatus {
    FileStatus {
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

/// Puts no bytes at `/empty` through a fake namenode of `version`; returns the outcome and
/// the calls it saw.
async fn put_empty_against(version: Version) -> (crate::Result<()>, Vec<(&'static str, bool)>) {
    let fake = Arc::new(FakeNamenode {
        version,
        calls: Mutex::new(Vec::new()),
    });
    let app = Router::new()
        .route(CREATE, post(create))
        .route(COMPLETE, post(complete))
        .route(DELETE, post(delete))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
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
