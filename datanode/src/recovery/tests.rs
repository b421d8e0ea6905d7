//! Recoveries against several in-process datanodes: the routes, and the primary.

use std::sync::Arc;
use std::time::Duration;

use granary_client::checksum::{block_digest_of, CHUNK_SIZE};
use granary_client::protocol::{
    routes, CutReplicaRequest, DatanodeCommand, DatanodeInfo, RecoveredBlock, ReplicaState,
    ReplicaStateQuery, WritePipeline, PIPELINE_HEADER,
};
use granary_client::{BlockId, ErrorKind, Generation};

use super::primary::{recover, Outcome, Recovery};
use crate::fake_namenode::start_fake_namenode;
use crate::heartbeat::NamenodeLink;
use crate::test_support::*;

const C: usize = CHUNK_SIZE;

async fn nodes(n: usize) -> Vec<TestNode> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(start_node().await);
    }
    out
}

fn recovery(
    block: u64,
    generation: u64,
    length: Option<u64>,
    replicas: &[DatanodeInfo],
) -> Recovery {
    Recovery {
        block: BlockId(block),
        generation: Generation(generation),
        length,
        replicas: replicas.to_vec(),
    }
}

fn infos(nodes: &[TestNode]) -> Vec<DatanodeInfo> {
    nodes.iter().map(|n| n.info.clone()).collect()
}

fn assert_cut(node: &TestNode, block: u64, generation: u64, bytes: &[u8]) {
    let report = node.store.replica(BlockId(block)).unwrap();
    assert_eq!(
        (report.generation, report.length, report.sha256),
        (
            Generation(generation),
            bytes.len() as u64,
            Some(block_digest_of(bytes))
        )
    );
}

#[tokio::test]
async fn the_primary_cuts_every_replica_to_the_common_prefix_and_commits_it() {
    let (url, nn) = start_fake_namenode().await;
    let primary = start_node_with(&url).await;
    let others = nodes(2).await;
    let bytes = data(3 * C + 100, 1);
    let lengths = [3 * C + 100, 2 * C + 500, 3 * C];
    write_replica(&primary.store, 40, &bytes[..lengths[0]]);
    for (node, &len) in others.iter().zip(&lengths[1..]) {
        write_replica(&node.store, 40, &bytes[..len]);
    }
    let mut replicas = vec![primary.info.clone()];
    replicas.extend(infos(&others));
    nn.queue_poll_commands(vec![DatanodeCommand::Recover {
        block: BlockId(40),
        generation: Generation(7),
        length: None,
        replicas: replicas.clone(),
    }]);
    wait_until("the recovery committed", || {
        !nn.commit_syncs.lock().unwrap().is_empty()
    })
    .await;
    let commit = nn.commit_syncs.lock().unwrap()[0].clone();
    let prefix = &bytes[..2 * C + 500];
    assert_eq!(
        (commit.id, commit.block, commit.generation),
        (primary.info.id.clone(), BlockId(40), Generation(7))
    );
    assert_eq!(
        commit.recovered,
        Some(RecoveredBlock {
            length: prefix.len() as u64,
            sha256: block_digest_of(prefix),
            holders: replicas.iter().map(|r| r.id.clone()).collect(),
        })
    );
    for node in [&primary].into_iter().chain(&others) {
        assert_cut(node, 40, 7, prefix);
    }
    // Each cut is reported at the new generation.
    wait_until("the primary's cut reported", || {
        nn.incremental.lock().unwrap().iter().any(|r| {
            r.received
                .iter()
                .any(|x| x.block == BlockId(40) && x.generation == Generation(7))
        })
    })
    .await;
}

#[tokio::test]
async fn replicas_that_differ_are_cut_where_they_first_differ() {
    let (url, nn) = start_fake_namenode().await;
    let link = NamenodeLink::new(&url).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let primary = test_state(&dir);
    let nodes = nodes(3).await;
    let bytes = data(3 * C, 2);
    let mut other = bytes.clone();
    other[C + 5] ^= 1;
    write_replica(&nodes[0].store, 41, &bytes);
    write_replica(&nodes[1].store, 41, &bytes[..3 * C - 10]);
    write_replica(&nodes[2].store, 41, &other);
    let outcome = recover(
        &primary,
        Some(&link),
        &recovery(41, 3, None, &infos(&nodes)),
    )
    .await;
    let prefix = &bytes[..C];
    let Outcome::Committed(Some(recovered)) = outcome.unwrap() else {
        panic!("not committed");
    };
    assert_eq!(
        (recovered.length, recovered.sha256),
        (C as u64, block_digest_of(prefix))
    );
    assert_eq!(recovered.holders.len(), 3);
    for node in &nodes {
        assert_cut(node, 41, 3, prefix);
    }
    assert_eq!(nn.commit_syncs.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_unreachable_replica_is_left_out_and_the_others_recover() {
    let (url, nn) = start_fake_namenode().await;
    nn.fail_commit_syncs
        .store(2, std::sync::atomic::Ordering::SeqCst);
    let link = NamenodeLink::new(&url).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let primary = test_state(&dir);
    let nodes = nodes(2).await;
    let bytes = data(C + 9, 3);
    write_replica(&nodes[0].store, 42, &bytes);
    write_replica(&nodes[1].store, 42, &bytes[..C + 1]);
    let mut replicas = infos(&nodes);
    replicas.insert(1, unreachable_node("dn-gone"));
    let outcome = recover(&primary, Some(&link), &recovery(42, 2, None, &replicas))
        .await
        .unwrap();
    let prefix = &bytes[..C + 1];
    assert_eq!(
        outcome,
        Outcome::Committed(Some(RecoveredBlock {
            length: prefix.len() as u64,
            sha256: block_digest_of(prefix),
            holders: nodes.iter().map(|n| n.info.id.clone()).collect(),
        }))
    );
    // Committed after two transient refusals.
    assert_eq!(nn.commit_syncs.lock().unwrap().len(), 1);

    // Nobody answering: nothing committed.
    let ghosts = [unreachable_node("a"), unreachable_node("b")];
    let none = recover(&primary, Some(&link), &recovery(42, 9, None, &ghosts)).await;
    assert_eq!(none.unwrap(), Outcome::NoReplica);
    assert_eq!(nn.commit_syncs.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_truncate_cuts_to_its_length_and_skips_shorter_and_newer_replicas() {
    let (url, nn) = start_fake_namenode().await;
    let link = NamenodeLink::new(&url).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let primary = test_state(&dir);
    let nodes = nodes(3).await;
    let bytes = data(2 * C, 4);
    write_replica(&nodes[0].store, 43, &bytes);
    write_replica(&nodes[1].store, 43, &bytes[..C]);
    write_replica(&nodes[2].store, 43, &bytes);
    // Already recovered at the command's generation: left alone.
    let mark = nodes[2]
        .store
        .take_mark(BlockId(43), Duration::from_secs(1))
        .await
        .unwrap();
    nodes[2]
        .store
        .cut_replica(&mark, Generation(4), C as u64 + 1)
        .unwrap();
    drop(mark);
    let outcome = recover(
        &primary,
        Some(&link),
        &recovery(43, 4, Some(C as u64 + 7), &infos(&nodes)),
    )
    .await
    .unwrap();
    let prefix = &bytes[..C + 7];
    let Outcome::Committed(Some(recovered)) = outcome else {
        panic!("not committed");
    };
    assert_eq!(recovered.holders, vec![nodes[0].info.id.clone()]);
    assert_eq!(recovered.sha256, block_digest_of(prefix));
    assert_cut(&nodes[0], 43, 4, prefix);
    assert_cut(&nodes[1], 43, 1, &bytes[..C]);
    assert_cut(&nodes[2], 43, 4, &bytes[..C + 1]);
    assert_eq!(nn.commit_syncs.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn no_byte_anywhere_commits_an_empty_recovery() {
    let (url, nn) = start_fake_namenode().await;
    let link = NamenodeLink::new(&url).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let primary = test_state(&dir);
    let nodes = nodes(2).await;
    write_replica(&nodes[0].store, 44, &data(C, 5));
    write_replica(&nodes[1].store, 44, &[]);
    let outcome = recover(
        &primary,
        Some(&link),
        &recovery(44, 2, None, &infos(&nodes)),
    )
    .await;
    assert_eq!(outcome.unwrap(), Outcome::Committed(None));
    let commits = nn.commit_syncs.lock().unwrap();
    assert_eq!(commits.len(), 1);
    assert_eq!(commits[0].recovered, None);
}

type BodySender = tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>;
type PendingPut = tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>;

/// A segment whose body never comes: a writer that lost its lease mid-block.
fn held_append(
    node: &DatanodeInfo,
    block: u64,
    generation: u64,
    from: u64,
) -> (BodySender, PendingPut) {
    let (body, mut rx) = tokio::sync::mpsc::channel(1);
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let pipeline = WritePipeline {
        downstream: Vec::new(),
        generation: Generation(generation),
        append_from: Some(from),
    };
    let request = routes::request::<routes::WriteBlock>(&client(), node.addr, &BlockId(block))
        .header(PIPELINE_HEADER, serde_json::to_string(&pipeline).unwrap())
        .body(reqwest::Body::wrap_stream(stream));
    (body, tokio::spawn(request.send()))
}

#[tokio::test]
async fn state_and_cut_requests_stop_a_write_in_progress_first() {
    let node = start_node().await;
    let bytes = data(C + 3, 6);
    write_replica(&node.store, 45, &bytes);
    let (_body, write) = held_append(&node.info, 45, 2, bytes.len() as u64);
    wait_until("the segment started", || {
        node.store.is_being_written(BlockId(45))
    })
    .await;
    let http = client();
    let query = ReplicaStateQuery {
        at: Some(C as u64 + 1),
    };
    let builder = routes::request::<routes::ReplicaStateOf>(&http, node.info.addr, &BlockId(45));
    let response = routes::with_request::<routes::ReplicaStateOf>(builder, &query)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let state: ReplicaState = response.json().await.unwrap();
    assert_eq!(
        (state.generation, state.length),
        (Generation(1), C as u64 + 1)
    );
    assert_eq!(state.sha256, block_digest_of(&bytes[..C + 1]));
    let (status, error) = wire_error(write.await.unwrap().unwrap()).await;
    assert_eq!((status, error.kind), (503, ErrorKind::RecoveryInProgress));

    let (_body, write) = held_append(&node.info, 45, 2, bytes.len() as u64);
    wait_until("the segment started", || {
        node.store.is_being_written(BlockId(45))
    })
    .await;
    let cut = CutReplicaRequest {
        generation: Generation(3),
        length: 10,
    };
    let builder = routes::request::<routes::CutReplica>(&http, node.info.addr, &BlockId(45));
    let response = routes::with_request::<routes::CutReplica>(builder, &cut)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<ReplicaState>().await.unwrap().length, 10);
    assert!(!write.await.unwrap().unwrap().status().is_success());
    assert_cut(&node, 45, 3, &bytes[..10]);
    // A read at the new generation is served; one asking for a later one is refused.
    assert_eq!(
        get(&node.info, "/v1/blocks/45?generation=3").await.status(),
        200
    );
    let (status, error) = wire_error(get(&node.info, "/v1/blocks/45?generation=4").await).await;
    assert_eq!((status, error.kind), (409, ErrorKind::StaleReplica));
}

#[tokio::test]
async fn a_newer_recovery_supersedes_and_an_older_one_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let node = test_state(&dir);
    let recoveries = Arc::new(super::Recoveries::new(node, None, Default::default()));
    // A replica that never answers keeps each recovery running for its call bound.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stalled = DatanodeInfo {
        id: granary_client::DatanodeId("dn-stalled".into()),
        addr: listener.local_addr().unwrap(),
        rack: "/r".into(),
    };
    recoveries.start(recovery(46, 2, None, std::slice::from_ref(&stalled)));
    recoveries.start(recovery(46, 1, None, std::slice::from_ref(&stalled)));
    recoveries.start(recovery(46, 3, None, std::slice::from_ref(&stalled)));
    recoveries.start(recovery(47, 1, None, std::slice::from_ref(&stalled)));
    assert_eq!(recoveries.running_count(), 2);
    let running = recoveries.running();
    assert_eq!(
        running.get(&BlockId(46)).map(|(g, _)| *g),
        Some(Generation(3))
    );
    drop(running);
    drop(listener);
}

#[tokio::test]
async fn a_state_request_frees_the_slot_of_the_write_it_stops() {
    let node = start_node_configured(NO_NAMENODE, |config| config.max_transfers = 1).await;
    write_replica(&node.store, 48, &data(100, 8));
    let (_body, write) = held_append(&node.info, 48, 2, 100);
    wait_until("the segment holds the only slot", || {
        node.store.is_being_written(BlockId(48))
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let primary = test_state(&dir);
    let state = super::calls::state(&primary, &node.info, BlockId(48), None)
        .await
        .unwrap();
    assert_eq!((state.generation, state.length), (Generation(1), 100));
    assert!(!write.await.unwrap().unwrap().status().is_success());
}
