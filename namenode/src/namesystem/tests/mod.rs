//! The namesystem end to end without HTTP: persistence, the retry cache and group commit here,
//! the block bookkeeping in `blocks`.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use granary_client::protocol::*;
use granary_client::{BlockId, DatanodeId, Digest, Error, ErrorKind, FsPath, InodeId, RequestId};
use tempfile::TempDir;
use tokio::task::JoinHandle;

use super::Namesystem;
use crate::config::NamenodeConfig;

const BS: u64 = 1 << 20;

struct Running {
    nn: Arc<Namesystem>,
    flusher: JoinHandle<()>,
}

impl Running {
    /// Start-up safe mode is off unless a test turns it on.
    fn open(dir: &Path) -> Running {
        Running::open_with(dir, |_| {})
    }

    fn open_with(dir: &Path, adjust: impl FnOnce(&mut NamenodeConfig)) -> Running {
        let mut config = NamenodeConfig {
            meta_dir: dir.to_path_buf(),
            default_block_size: BS,
            default_replication: 2,
            dead_after: Duration::from_secs(5),
            safemode_threshold: 0.0,
            complete_report_wait: Duration::from_millis(200),
            ..NamenodeConfig::default()
        };
        adjust(&mut config);
        // sled releases its file lock a moment after the last handle of a closed database
        // is dropped (its IO threads let go last); a new process never sees this.
        let mut attempts = 0;
        let nn = loop {
            match Namesystem::open(config.clone()) {
                Ok(nn) => break nn,
                Err(e) if e.message.contains("lock") && attempts < 100 => {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("{e}"),
            }
        };
        let flusher = tokio::spawn(nn.group_commit().run_flusher());
        Running { nn, flusher }
    }

    /// Stops everything holding the database, so it can be opened again.
    async fn close(self) {
        self.flusher.abort();
        let _ = self.flusher.await;
        self.nn.flush().unwrap();
        assert_eq!(Arc::strong_count(&self.nn), 1);
    }

    /// Like a `kill -9`: no checkpoint, so the next open replays the journal.
    async fn crash(self) {
        self.flusher.abort();
        let _ = self.flusher.await;
        assert_eq!(Arc::strong_count(&self.nn), 1);
    }
}

fn p(path: &str) -> FsPath {
    FsPath::parse(path).unwrap()
}

fn rid(id: &str) -> RequestId {
    RequestId(id.to_string())
}

fn create_req(path: &str, request_id: RequestId) -> CreateRequest {
    CreateRequest {
        permission: None,
        holder: "test-writer".parse().unwrap(),
        path: p(path),
        replication: None,
        block_size: None,
        overwrite: false,
        create_parents: true,
        complete: false,
        request_id,
    }
}

fn dn(id: &str) -> DatanodeId {
    DatanodeId(id.to_string())
}

fn register(nn: &Namesystem, id: &str, last_octet: u8) {
    let datanode = DatanodeInfo {
        id: dn(id),
        addr: ([10, 0, 0, last_octet], 9866).into(),
        rack: DEFAULT_RACK.into(),
    };
    let peer = IpAddr::from([10, 0, 0, last_octet]);
    let storage = StorageReport::default();
    nn.register(RegisterRequest { datanode, storage }, peer)
        .unwrap();
}

/// A heartbeat from the host the datanode registered from.
fn heartbeat(
    nn: &Namesystem,
    req: HeartbeatRequest,
) -> Result<HeartbeatResponse, granary_client::Error> {
    let registered = nn.lock().datanodes.get(&req.id).map(|n| n.info.addr.ip());
    nn.heartbeat(req, registered.unwrap_or(IpAddr::from([10, 0, 0, 1])))
}

/// The host `id` registered from (10.0.0.1 for a node never registered): where its calls
/// come from in these tests.
fn peer_of(nn: &Namesystem, id: &DatanodeId) -> IpAddr {
    let state = nn.lock();
    let node = state.datanodes.get(id);
    node.map_or(IpAddr::from([10, 0, 0, 1]), |n| n.info.addr.ip())
}

fn block_received(nn: &Namesystem, req: BlockReceivedRequest) -> Result<(), Error> {
    let peer = peer_of(nn, &req.id);
    nn.block_received(req, peer)
}

fn block_report(nn: &Namesystem, req: BlockReportRequest) -> Result<BlockReportResponse, Error> {
    let peer = peer_of(nn, &req.id);
    nn.block_report(req, peer)
}

async fn serve_lifeline(
    nn: &Namesystem,
    id: &DatanodeId,
    body: axum::body::Body,
) -> Result<(), Error> {
    nn.lifeline(id, peer_of(nn, id), body).await
}

async fn poll_commands(nn: &Namesystem, id: &DatanodeId) -> Result<HeartbeatResponse, Error> {
    nn.poll_commands(id, peer_of(nn, id)).await
}

async fn put_empty(nn: &Namesystem, path: &str) -> InodeId {
    let file = nn
        .create(create_req(path, RequestId::new()))
        .await
        .unwrap()
        .file;
    let complete = CompleteRequest {
        holder: "test-writer".parse().unwrap(),
        path: p(path),
        file,
        blocks: Vec::new(),
        request_id: RequestId::new(),
    };
    nn.complete(complete).await.unwrap();
    file
}

/// The incremental report of a datanode that finalized a replica written with `WRITTEN`.
fn report_written(nn: &Namesystem, id: &DatanodeId, block: BlockId, length: u64) {
    let report = BlockReceivedRequest {
        id: id.clone(),
        received: vec![ReplicaReport {
            generation: granary_client::Generation(1),
            block,
            length,
            sha256: Some(Digest::of(WRITTEN)),
        }],
        deleted: Vec::new(),
    };
    block_received(nn, report).unwrap();
}

/// What the tests' one-block files hold, as far as digests go.
const WRITTEN: &[u8] = b"x";

/// Writes a one-block file the way a client does (its pipeline reporting the replica); returns its block and pipeline.
async fn put_one_block(
    nn: &Namesystem,
    path: &str,
    writer: Option<IpAddr>,
) -> (BlockId, Vec<DatanodeId>) {
    let file = nn
        .create(create_req(path, RequestId::new()))
        .await
        .unwrap()
        .file;
    let add = AddBlockRequest {
        previous: None,
        holder: "test-writer".parse().unwrap(),
        path: p(path),
        file,
        excluded: Vec::new(),
        request_id: RequestId::new(),
    };
    let allocated = nn.add_block(add, writer).await.unwrap();
    let holders: Vec<DatanodeId> = allocated.pipeline.iter().map(|d| d.id.clone()).collect();
    for holder in &holders {
        report_written(nn, holder, allocated.block, 100);
    }
    let block = CommittedBlock {
        generation: granary_client::Generation(1),
        id: allocated.block,
        length: 100,
        sha256: Digest::of(WRITTEN),
        persisted_on: holders.clone(),
    };
    let complete = CompleteRequest {
        holder: "test-writer".parse().unwrap(),
        path: p(path),
        file,
        blocks: vec![block],
        request_id: RequestId::new(),
    };
    nn.complete(complete).await.unwrap();
    (allocated.block, holders)
}

#[tokio::test]
async fn namespace_survives_reopen_and_ids_are_not_reused() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    register(&running.nn, "dn-a", 1);
    let first = put_empty(&running.nn, "/a/b/one").await;
    let (block, _) = put_one_block(&running.nn, "/a/two", None).await;
    let mkdir = MkdirRequest {
        permission: None,
        path: p("/c/d"),
        parents: true,
        request_id: RequestId::new(),
    };
    running.nn.mkdir(mkdir).await.unwrap();
    let rename = RenameRequest {
        src: p("/a/b"),
        dst: p("/c/d/b"),
        request_id: RequestId::new(),
    };
    running.nn.rename(rename).await.unwrap();
    let before = running.nn.lock().ns.list(&p("/"), true).unwrap();
    running.close().await;

    let running = Running::open(dir.path());
    assert_eq!(running.nn.lock().ns.list(&p("/"), true).unwrap(), before);
    assert_eq!(
        running.nn.stat(&p("/c/d/b/one")).unwrap().kind,
        FileKind::File
    );
    let located = running.nn.locate(&p("/a/two"), None).unwrap();
    assert_eq!(located.blocks[0].id, block);
    assert!(
        located.blocks[0].locations.is_empty(),
        "replica locations are soft state"
    );
    register(&running.nn, "dn-a", 1);
    let (next_block, _) = put_one_block(&running.nn, "/three", None).await;
    assert!(next_block > block);
    assert!(put_empty(&running.nn, "/four").await > first);
    running.close().await;
}

#[tokio::test]
async fn a_repeated_request_is_applied_once_and_answered_alike() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    let nn = &running.nn;
    let first = nn.create(create_req("/f", rid("create-1"))).await.unwrap();
    let again = nn.create(create_req("/f", rid("create-1"))).await.unwrap();
    assert_eq!(first, again);
    let complete = CompleteRequest {
        holder: "test-writer".parse().unwrap(),
        path: p("/f"),
        file: first.file,
        blocks: Vec::new(),
        request_id: rid("done-1"),
    };
    nn.complete(complete.clone()).await.unwrap();

    let delete = DeleteRequest {
        path: p("/f"),
        recursive: false,
        request_id: rid("delete-1"),
    };
    let answer = nn.delete(delete.clone()).await.unwrap();
    assert_eq!(answer.files, 1);
    assert_eq!(nn.delete(delete.clone()).await.unwrap(), answer);
    let other = DeleteRequest {
        request_id: rid("delete-2"),
        ..delete.clone()
    };
    assert_eq!(
        nn.delete(other.clone()).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        nn.delete(other).await.unwrap_err().kind,
        ErrorKind::NotFound
    );

    let reused = MkdirRequest {
        permission: None,
        path: p("/x"),
        parents: false,
        request_id: rid("delete-1"),
    };
    assert_eq!(
        nn.mkdir(reused).await.unwrap_err().kind,
        ErrorKind::InvalidArgument
    );
    running.close().await;

    let running = Running::open(dir.path());
    assert_eq!(
        running.nn.delete(delete).await.unwrap(),
        answer,
        "the cache survives a restart"
    );
    assert_eq!(
        running.nn.complete(complete).await.unwrap().status.path,
        p("/f")
    );
    running.close().await;
}

#[tokio::test]
async fn a_create_asked_complete_makes_an_empty_visible_file_in_one_call() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    let nn = &running.nn;
    let touch = |path: &str, id: &str| CreateRequest {
        permission: None,
        complete: true,
        ..create_req(path, rid(id))
    };
    let created = nn.create(touch("/d/empty", "touch-1")).await.unwrap();
    let status = created
        .status
        .clone()
        .expect("the status of a complete file");
    assert_eq!((status.path.as_str(), status.length), ("/d/empty", 0));
    assert_eq!(nn.stat(&p("/d/empty")).unwrap(), status, "visible at once");
    assert_eq!(
        nn.lock().ns.list(&p("/d"), false).unwrap(),
        vec![status.clone()]
    );
    let retried = nn.create(touch("/d/empty", "touch-1")).await.unwrap();
    assert_eq!(retried, created, "a retry");

    let add = AddBlockRequest {
        previous: None,
        holder: "test-writer".parse().unwrap(),
        path: p("/d/empty"),
        file: created.file,
        excluded: Vec::new(),
        request_id: RequestId::new(),
    };
    assert_eq!(
        nn.add_block(add, None).await.unwrap_err().kind,
        ErrorKind::LeaseExpired,
        "a complete file takes no blocks"
    );
    let refused = [
        ("/d/empty", false, ErrorKind::AlreadyExists),
        ("/d", true, ErrorKind::IsADirectory),
    ];
    let other_writer = CreateRequest {
        permission: None,
        holder: "other-writer".parse().unwrap(),
        ..create_req("/d/open", RequestId::new())
    };
    nn.create(other_writer).await.unwrap();
    let refused = refused
        .into_iter()
        .chain([("/d/open", true, ErrorKind::LeaseHeld)]);
    for (path, overwrite, kind) in refused {
        let req = CreateRequest {
            permission: None,
            overwrite,
            ..touch(path, &format!("refused-{path}"))
        };
        assert_eq!(nn.create(req).await.unwrap_err().kind, kind, "{path}");
    }
    let replace = CreateRequest {
        permission: None,
        overwrite: true,
        ..touch("/d/empty", "replace-1")
    };
    let replaced = nn.create(replace).await.unwrap();
    assert_ne!(replaced.file, created.file);
    running.crash().await;

    let running = Running::open(dir.path());
    let after = running.nn.stat(&p("/d/empty")).unwrap();
    assert_eq!(after, replaced.status.unwrap(), "replayed from the journal");
    let retried = running.nn.create(touch("/d/empty", "touch-1")).await;
    assert_eq!(retried.unwrap(), created, "the answer survives the crash");
    running.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_mutations_all_become_durable() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    // While the journal is held, the flusher cannot commit: every create is staged before
    // the first commit, which must then take them all at once.
    let held = running.nn.store().hold_journal();
    let (staged_before, flushes_before) = running.nn.group_commit().stats();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..400 {
        let nn = running.nn.clone();
        let req = CreateRequest {
            permission: None,
            complete: true,
            ..create_req(&format!("/load/d{}/f{i}", i % 7), RequestId::new())
        };
        tasks.spawn(async move { nn.create(req).await });
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while running.nn.store().staged_epoch() < staged_before + 400 {
        assert!(std::time::Instant::now() < deadline, "creates not staged");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(held);
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
    }
    let (staged, flushes) = running.nn.group_commit().stats();
    let grouped = (staged - staged_before, flushes - flushes_before);
    assert_eq!(grouped, (400, 1), "one flush for every create");
    running.close().await;

    let running = Running::open(dir.path());
    let files = running.nn.lock().ns.list(&p("/load"), true).unwrap();
    assert_eq!(
        files.iter().filter(|s| s.kind == FileKind::File).count(),
        400
    );
    running.close().await;
}

mod admin;
mod blocks;
mod clone;
mod complete;
mod health;
mod leases;
mod listing;
mod liveness;
mod registration;
mod reshaping;
mod writers;
