//! Helpers for the in-process tests: datanodes on 127.0.0.1:0 with their own temporary data
//! directories, and framed bodies.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use granary_client::checksum::CHUNK_SIZE;
use granary_client::framing::{Frame, ReadFrameCodec, WriteFrameCodec};
use granary_client::protocol::{routes, DatanodeInfo, WritePipeline, PIPELINE_HEADER};
use granary_client::{BlockId, DatanodeId, Generation, WireError};
use tokio::task::JoinHandle;
use tokio_util::codec::{Decoder, Encoder};

use crate::config::DatanodeConfig;
use crate::heartbeat::{BadReplicaSignal, ReportQueue};
use crate::state::{AppState, Transfers};
use crate::store::BlockStore;
use crate::Datanode;

/// A URL nothing listens on: the datanode's namenode link fails fast and keeps retrying.
pub const NO_NAMENODE: &str = "http://127.0.0.1:1";

pub struct TestNode {
    _dir: tempfile::TempDir,
    pub info: DatanodeInfo,
    pub store: Arc<BlockStore>,
    task: JoinHandle<Result<(), granary_client::Error>>,
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn test_config(dir: &tempfile::TempDir, namenode: &str) -> DatanodeConfig {
    DatanodeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("data"),
        namenode: namenode.to_string(),
        heartbeat_interval: Duration::from_millis(50),
        ..DatanodeConfig::default()
    }
}

pub async fn start_node() -> TestNode {
    start_node_with(NO_NAMENODE).await
}

pub async fn start_node_with(namenode: &str) -> TestNode {
    start_node_configured(namenode, |_| {}).await
}

/// A node whose test configuration `configure` adjusts first.
pub async fn start_node_configured(
    namenode: &str,
    configure: impl FnOnce(&mut DatanodeConfig),
) -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&dir, namenode);
    configure(&mut config);
    let datanode = Datanode::start(config).await.unwrap();
    let (info, store) = (datanode.info(), datanode.store());
    let task = tokio::spawn(datanode.serve(std::future::pending()));
    TestNode {
        _dir: dir,
        info,
        store,
        task,
    }
}

/// Handler state over a bare store, for driving background work directly, without a server.
/// Incremental reports go nowhere.
pub fn test_state(dir: &tempfile::TempDir) -> Arc<AppState> {
    Arc::new(AppState {
        store: Arc::new(BlockStore::open(dir.path(), None).unwrap()),
        http: client(),
        reports: ReportQueue::new().0,
        transfers: Transfers::new(DatanodeConfig::default().max_transfers),
        bad_replicas: BadReplicaSignal::default(),
        stall_timeout: DatanodeConfig::default().stall_timeout,
        stopping: AtomicBool::new(false),
    })
}

/// Writes a finalized replica straight into a store.
pub fn write_replica(store: &Arc<BlockStore>, block: u64, bytes: &[u8]) {
    let mut writer = store.begin_write(BlockId(block), Generation(1)).unwrap();
    for frame in frames_of(bytes) {
        writer.append(&frame).unwrap();
    }
    store.commit(writer.prepare().unwrap()).unwrap();
}

/// Polls `condition` every 20 ms for up to 10 s.
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting until {what}");
}

pub fn client() -> reqwest::Client {
    crate::downstream::transfer_client().unwrap()
}

/// A node that refuses connections.
pub fn unreachable_node(name: &str) -> DatanodeInfo {
    DatanodeInfo {
        id: DatanodeId(name.to_string()),
        addr: "127.0.0.1:1".parse().unwrap(),
        rack: "/r".into(),
    }
}

/// Deterministic test data of `len` bytes, different per `seed`.
pub fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}

pub fn frames_of(data: &[u8]) -> Vec<Frame> {
    data.chunks(CHUNK_SIZE)
        .map(|chunk| Frame::seal(Bytes::copy_from_slice(chunk)))
        .collect()
}

pub fn encode(frames: Vec<Frame>) -> Bytes {
    let mut wire = BytesMut::new();
    for frame in frames {
        WriteFrameCodec.encode(frame, &mut wire).unwrap();
    }
    wire.freeze()
}

/// The frames of a read response, each verified against its digest.
pub fn decode(body: &[u8]) -> Vec<Frame> {
    let mut buf = BytesMut::from(body);
    let mut frames = Vec::new();
    while let Some(frame) = ReadFrameCodec.decode_eof(&mut buf).unwrap() {
        frame.verify().unwrap();
        frames.push(frame);
    }
    frames
}

pub async fn put_body(
    node: &DatanodeInfo,
    block: u64,
    body: Bytes,
    downstream: &[DatanodeInfo],
) -> reqwest::Response {
    let pipeline = serde_json::to_string(&WritePipeline {
        generation: Default::default(),
        append_from: None,
        downstream: downstream.to_vec(),
    })
    .unwrap();
    routes::request::<routes::WriteBlock>(&client(), node.addr, &BlockId(block))
        .header(PIPELINE_HEADER, pipeline)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Writes `bytes` as a segment from byte `from` of the replica (`None`: a new replica) at
/// `generation`, its frames on the chunk grid.
pub async fn put_segment(
    node: &DatanodeInfo,
    block: u64,
    bytes: &[u8],
    segment: (u64, Option<u64>),
    downstream: &[DatanodeInfo],
) -> reqwest::Response {
    let (generation, append_from) = segment;
    let pipeline = serde_json::to_string(&WritePipeline {
        generation: Generation(generation),
        append_from,
        downstream: downstream.to_vec(),
    })
    .unwrap();
    routes::request::<routes::WriteBlock>(&client(), node.addr, &BlockId(block))
        .header(PIPELINE_HEADER, pipeline)
        .body(encode(segment_frames(bytes, append_from.unwrap_or(0))))
        .send()
        .await
        .unwrap()
}

/// `bytes` framed as a segment starting at byte `from` of a replica: the first frame fills
/// the chunk `from` falls inside, the rest keep to the chunk grid.
pub fn segment_frames(bytes: &[u8], from: u64) -> Vec<Frame> {
    let first = (CHUNK_SIZE - (from % CHUNK_SIZE as u64) as usize).min(bytes.len());
    let (head, rest) = bytes.split_at(first);
    let mut frames = if head.is_empty() {
        Vec::new()
    } else {
        vec![Frame::seal(Bytes::copy_from_slice(head))]
    };
    frames.extend(frames_of(rest));
    frames
}

/// A replica's whole content as a read returns it, every frame verified.
pub async fn read_back(node: &DatanodeInfo, block: u64) -> Vec<u8> {
    let response = get(node, &format!("/v1/blocks/{block}")).await;
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    decode(&body).iter().flat_map(|f| f.data.to_vec()).collect()
}

pub async fn put(
    node: &DatanodeInfo,
    block: u64,
    data: &[u8],
    downstream: &[DatanodeInfo],
) -> reqwest::Response {
    put_body(node, block, encode(frames_of(data)), downstream).await
}

pub async fn get(node: &DatanodeInfo, path_and_query: &str) -> reqwest::Response {
    client()
        .get(format!("http://{}{path_and_query}", node.addr))
        .send()
        .await
        .unwrap()
}

/// The status and the `WireError` body of an error response.
pub async fn wire_error(response: reqwest::Response) -> (u16, WireError) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let error =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not a WireError ({e}): {text:?}"));
    (status, error)
}

/// A block write whose body never comes, holding one of a node's transfer slots.
pub struct HeldWrite {
    body: tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
    request: JoinHandle<reqwest::Result<reqwest::Response>>,
}

impl HeldWrite {
    fn start(node: &DatanodeInfo, block: u64) -> Self {
        let (body, mut rx) = tokio::sync::mpsc::channel(1);
        let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
        let request = routes::request::<routes::WriteBlock>(&client(), node.addr, &BlockId(block))
            .body(reqwest::Body::wrap_stream(stream));
        HeldWrite {
            body,
            request: tokio::spawn(request.send()),
        }
    }

    /// Ends the body (a truncated block, discarded) and waits for the answer.
    pub async fn release(self) {
        drop(self.body);
        let _ = self.request.await;
    }
}

/// Takes the only transfer slot of a node started with `max_transfers = 1` by a write of
/// `block` that never sends its body; returns it with the busy answer to a `GET probe`.
pub async fn hold_only_slot(
    node: &TestNode,
    block: u64,
    probe: &str,
) -> (HeldWrite, reqwest::Response) {
    let mut held = HeldWrite::start(&node.info, block);
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Refused busy itself if it came while a probe had the slot: hold again.
        if held.request.is_finished() {
            held = HeldWrite::start(&node.info, block);
            continue;
        }
        let response = get(&node.info, probe).await;
        if response.status() == 503 {
            return (held, response);
        }
        response.bytes().await.unwrap();
    }
    panic!("the node never answered busy");
}
