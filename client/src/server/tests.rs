//! A round trip through a tiny router registered with `typed`, called by `NamenodeClient`:
//! bodies, queries and path parameters decode, answers come back typed, and every failure is
//! the JSON error a client reads.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::Router;

use super::{method_not_allowed, not_found, ApiResult, Params, Req, Resp, RouterExt};
use crate::namenode::NamenodeClient;
use crate::protocol::routes::{self, Endpoint};
use crate::protocol::*;
use crate::{ClientConfig, Error, ErrorKind, FsPath, RequestId};

/// What the handlers saw.
#[derive(Default)]
struct Seen {
    mkdirs: Mutex<Vec<MkdirRequest>>,
}

type Fake = State<Arc<Seen>>;

fn status(path: FsPath) -> FileStatus {
    FileStatus {
        lease_holder: None,
        attrs: Default::default(),
        path,
        kind: FileKind::Directory,
        length: 0,
        replication: 0,
        block_size: 0,
        modified_ms: 9,
    }
}

async fn mkdir(State(seen): Fake, Req(req): Req<routes::Mkdir>) -> Resp<routes::Mkdir> {
    let answer = status(req.path.clone());
    seen.mkdirs.lock().unwrap().push(req);
    Resp(answer)
}

async fn list(Req(query): Req<routes::List>) -> ApiResult<Resp<routes::List>> {
    if query.path.to_string() == "/missing" {
        return Err(Error::not_found("no such path: /missing").into());
    }
    // Echoes the query: one entry per `limit`, the cursor handed back.
    let entries = vec![status(query.path); query.limit.unwrap_or(1)];
    Ok(Resp(ListResponse {
        entries,
        next_start_after: query.start_after,
    }))
}

async fn kill(Params(id): Params<routes::KillJob>) -> ApiResult<Resp<routes::KillJob>> {
    Err(Error::not_found(format!("no such job: {id}")).into())
}

async fn report(Req(_): Req<routes::ReportTask>) -> Resp<routes::ReportTask> {
    Resp(Ack {})
}

async fn serve() -> (String, Arc<Seen>, tokio::task::JoinHandle<()>) {
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .typed(routes::Mkdir, mkdir)
        .typed(routes::List, list)
        .typed(routes::KillJob, kill)
        .typed_limited(routes::ReportTask, report, 64)
        .with_state(Arc::clone(&seen))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, seen, server)
}

fn path(p: &str) -> FsPath {
    FsPath::parse(p).unwrap()
}

#[tokio::test]
async fn typed_routes_round_trip_requests_answers_and_errors() {
    let (url, seen, server) = serve().await;
    let nn = NamenodeClient::new(&ClientConfig::new(url.clone())).unwrap();

    let req = MkdirRequest {
        permission: None,
        path: path("/a/b"),
        parents: true,
        request_id: RequestId::new(),
    };
    assert_eq!(nn.mkdir(&req).await.unwrap(), status(path("/a/b")));
    let recorded = seen.mkdirs.lock().unwrap().clone();
    assert_eq!(recorded.len(), 1);
    assert_eq!((&recorded[0].path, recorded[0].parents), (&req.path, true));
    assert_eq!(recorded[0].request_id, req.request_id);

    let listed = nn.list(&path("/d"), Some("b"), Some(2)).await.unwrap();
    assert_eq!(listed.entries.len(), 2, "the query's `limit` arrived");
    assert_eq!(
        listed.next_start_after.as_deref(),
        Some("b"),
        "and its cursor"
    );
    let first = nn.list(&path("/d"), None, None).await.unwrap();
    assert_eq!((first.entries.len(), first.next_start_after), (1, None));
    let err = nn.list(&path("/missing"), None, None).await.unwrap_err();
    assert_eq!(
        (err.kind, err.message.as_str()),
        (ErrorKind::NotFound, "no such path: /missing")
    );

    let err = nn.kill_job(&JobId("job_1_0007".into())).await.unwrap_err();
    assert_eq!(
        (err.kind, err.message.as_str()),
        (ErrorKind::NotFound, "no such job: job_1_0007")
    );
    let err = nn.kill_job(&JobId("job-x".into())).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidArgument, "{err}");

    let http = reqwest::Client::new();
    let wire = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        (
            status,
            response.json::<crate::WireError>().await.unwrap().kind,
        )
    };
    let bad_path = http
        .post(format!("{url}{}", routes::Mkdir::PATH))
        .json(&serde_json::json!({"path": "relative", "parents": false, "request_id": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wire(bad_path).await, (400, ErrorKind::InvalidPath));
    let bad_query = http
        .get(format!("{url}{}?path=/d&limit=maybe", routes::List::PATH))
        .send()
        .await
        .unwrap();
    assert_eq!(wire(bad_query).await, (400, ErrorKind::InvalidArgument));
    let removed_key = http
        .get(format!(
            "{url}{}?path=/d&recursive=true",
            routes::List::PATH
        ))
        .send()
        .await
        .unwrap();
    let status = removed_key.status().as_u16();
    let error = removed_key.json::<crate::WireError>().await.unwrap();
    assert_eq!((status, error.kind), (400, ErrorKind::InvalidArgument));
    assert!(error.message.contains("recursive"), "{}", error.message);
    let wrong_method = http
        .get(format!("{url}{}", routes::Mkdir::PATH))
        .send()
        .await
        .unwrap();
    assert_eq!(wire(wrong_method).await, (405, ErrorKind::InvalidArgument));

    let report = TaskReport {
        datanode: crate::DatanodeId("dn-1".into()),
        job: JobId("job_1_0007".into()),
        attempt: AttemptId("attempt_1_0007_m_000000_0".into()),
        outcome: TaskOutcome::Failed {
            error: "x".repeat(100),
        },
    };
    let err = nn.executor_report(&report).await.unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::InvalidArgument,
        "past the route's body limit: {err}"
    );
    server.abort();
}
