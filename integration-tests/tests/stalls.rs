//! Datanodes that cannot keep up or stop answering: a busy datanode (at its `max_transfers`)
//! is tried elsewhere or again after a back-off, and a SIGSTOPped one (whose connections stay
//! open, so nothing else would end the wait) costs a reader, a writer or a remote map one
//! stall timeout, long before the namenode would declare it dead.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use granary_client::protocol::routes;
use granary_client::{FsPath, PutOptions, WireError};
use granary_integration_tests::datagen;
use granary_integration_tests::{sha256_hex, test_bytes, ClusterSpec, TestCluster};
use tokio::sync::mpsc;

const MIB: usize = 1 << 20;

fn p(s: &str) -> FsPath {
    FsPath::parse(s).unwrap()
}

fn datanode_ip(cluster: &TestCluster, index: u32) -> IpAddr {
    let addr = cluster.datanode(index).address.expect("datanode address");
    addr.parse::<SocketAddr>().unwrap().ip()
}

/// The stall timeout of [`stall_spec`]'s cluster and clients.
const STALL: Duration = Duration::from_secs(1);
/// Longest a CLI command may run while a datanode is stopped before the test fails.
const CLI_DEADLINE: Duration = Duration::from_secs(90);

/// Stalls are caught within a second; the namenode would take a minute to declare a node dead,
/// so nothing in these tests can be rescued by it.
fn stall_spec() -> ClusterSpec {
    ClusterSpec {
        dead_after: "60s",
        stall_timeout: Some("1s"),
        ..ClusterSpec::default()
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A block write to one datanode held open without sending anything: it holds one of the
/// node's transfer slots until dropped.
struct HeldTransfer {
    body: Option<mpsc::Sender<Result<Vec<u8>, std::io::Error>>>,
    request: tokio::task::JoinHandle<()>,
}

impl HeldTransfer {
    fn start(addr: &str, block: u64) -> Self {
        let (tx, mut rx) = mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
        let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
        let request =
            routes::request::<routes::WriteBlock>(&http(), addr, &granary_client::BlockId(block));
        let request = tokio::spawn(async move {
            let _ = request.body(reqwest::Body::wrap_stream(body)).send().await;
        });
        HeldTransfer {
            body: Some(tx),
            request,
        }
    }

    /// Ends the body (a truncated block, which the datanode discards) and waits for the answer.
    async fn release(mut self) {
        self.body.take();
        let request = std::mem::replace(&mut self.request, tokio::spawn(async {}));
        tokio::time::timeout(Duration::from_secs(20), request)
            .await
            .expect("the held write is answered once released")
            .unwrap();
    }
}

impl Drop for HeldTransfer {
    fn drop(&mut self) {
        self.request.abort();
    }
}

/// The status, `Retry-After` and error body of a block read on `addr`.
async fn probe_read(addr: &str, block: u64) -> (u16, Option<String>, Option<WireError>) {
    let response =
        routes::request::<routes::ReadBlock>(&http(), addr, &granary_client::BlockId(block))
            .send()
            .await
            .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response.bytes().await.unwrap();
    (status, retry_after, serde_json::from_slice(&body).ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_datanodes_are_read_elsewhere_or_again_after_a_back_off() {
    let cluster = TestCluster::start(ClusterSpec {
        env: vec![("GRANARY_MAX_TRANSFERS", "1")],
        // The held writes send nothing; they must outlive the test's steps.
        stall_timeout: Some("30s"),
        ..ClusterSpec::default()
    });
    let fs = cluster.client();
    let data = test_bytes(3 * MIB + 11, 21);
    fs.put_bytes(&data, &p("/f"), &PutOptions::default())
        .await
        .unwrap();
    let block = fs.locate(&p("/f")).await.unwrap().blocks[0].id.0;
    let addrs: Vec<String> = (0..3)
        .map(|i| cluster.datanode(i).address.expect("address"))
        .collect();

    // Every datanode's only transfer slot taken: reads are refused busy, with Retry-After.
    let mut held: Vec<Option<HeldTransfer>> = Vec::new();
    for (i, addr) in addrs.iter().enumerate() {
        let block_id = 1_000_000 + i as u64;
        let mut hold = HeldTransfer::start(addr, block_id);
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut busy = false;
        for _ in 0..200 {
            assert!(Instant::now() < deadline, "{addr} never became busy");
            tokio::time::sleep(Duration::from_millis(100)).await;
            // A probe may have had the slot when the held write came: then it was refused.
            if hold.request.is_finished() {
                hold = HeldTransfer::start(addr, block_id);
                continue;
            }
            let (status, retry_after, error) = probe_read(addr, block).await;
            if status == 503 {
                assert_eq!(error.map(|e| e.kind.as_str()), Some("busy"));
                assert!(retry_after.is_some(), "a busy answer says when to retry");
                busy = true;
                break;
            }
            assert_eq!(status, 200, "{addr}");
        }
        assert!(busy, "{addr} never became busy");
        held.push(Some(hold));
    }

    // With every replica busy the read backs off and tries again; a slot freed a second later
    // lets it finish.
    let reader = cluster.client();
    let read = tokio::spawn(async move { reader.read_to_vec(&p("/f")).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !read.is_finished(),
        "a read finished with every replica busy"
    );
    held[1].take().unwrap().release().await;
    let got = tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the read finishes once a replica is free")
        .unwrap()
        .unwrap();
    assert_eq!(sha256_hex(&got), sha256_hex(&data));

    // Two of three datanodes still busy: a put goes around them, and reads it back.
    let more = test_bytes(2 * MIB + 5, 22);
    let summary = fs
        .put_bytes(&more, &p("/g"), &PutOptions::default())
        .await
        .unwrap();
    assert!(summary.min_replicas >= 1);
    assert_eq!(fs.read_to_vec(&p("/g")).await.unwrap(), more);
    for transfer in held.into_iter().flatten() {
        transfer.release().await;
    }
    assert_eq!(fs.read_to_vec(&p("/f")).await.unwrap(), data);
}

/// Longest a read of the get test's file may take with one stall timeout in it: a few stall
/// timeouts and the transfer itself, on a loaded machine.
fn failover_bound() -> Duration {
    3 * STALL + Duration::from_secs(4)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_fails_over_from_a_stopped_datanode_within_the_stall_timeout() {
    let cluster = TestCluster::start(stall_spec());
    // 17 blocks: a stall timeout per block would cost far more than the bound below.
    let data = test_bytes(16 * MIB + 3, 23);
    cluster
        .client()
        .put_bytes(&data, &p("/f"), &PutOptions::default())
        .await
        .unwrap();

    // A reader on datanode 0's address is offered its replica first for every block.
    let reader = cluster.client_from(datanode_ip(&cluster, 0));
    let file = reader.open(&p("/f")).await.unwrap();
    let mut stream = file.read_all();
    let mut got = Vec::with_capacity(data.len());
    while got.len() < MIB / 2 {
        got.extend_from_slice(&stream.next().await.expect("more bytes").unwrap());
    }
    let stopped = cluster.stop_datanode(0);
    let started = Instant::now();
    let rest = tokio::time::timeout(Duration::from_secs(40), async {
        while let Some(piece) = stream.next().await {
            got.extend_from_slice(&piece.unwrap());
        }
    })
    .await;
    assert!(rest.is_ok(), "the read hung on the stopped datanode");
    let elapsed = started.elapsed();
    assert_eq!(sha256_hex(&got), sha256_hex(&data));
    // One stall timeout, not one per block: later blocks try the stopped node last.
    assert!(elapsed < failover_bound(), "failover took {elapsed:?}");

    // A new reader on datanode 0's address with the node stopped from the start: offered the
    // stopped replica first, it waits one stall timeout for it, and no more.
    let reader = cluster.client_from(datanode_ip(&cluster, 0));
    let started = Instant::now();
    let got = tokio::time::timeout(Duration::from_secs(40), reader.read_to_vec(&p("/f")))
        .await
        .expect("the read hung on the stopped datanode")
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(sha256_hex(&got), sha256_hex(&data));
    assert!(elapsed >= STALL, "the stopped datanode was not tried first");
    assert!(elapsed < failover_bound(), "failover took {elapsed:?}");

    // `granary fs get` too ends with the node stopped.
    let local = cluster.dir.path().join("f.out");
    cluster
        .granary_within(CLI_DEADLINE, &["fs", "get", "/f", local.to_str().unwrap()])
        .ok();
    assert_eq!(
        sha256_hex(&std::fs::read(&local).unwrap()),
        sha256_hex(&data)
    );
    drop(stopped);
}

/// What writing the put test's 25 MiB three times over may take on a loaded machine, apart
/// from the stall.
const PUT_TRANSFER: Duration = Duration::from_secs(6);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_whose_first_datanode_is_stopped_recovers_without_it() {
    let cluster = TestCluster::start(stall_spec());
    let stopped_id = cluster.datanode_id(0);
    // A writer on datanode 0's address gets it first in every pipeline.
    let writer = cluster.client_from(datanode_ip(&cluster, 0));
    let stopped = cluster.stop_datanode(0);
    // Blocks larger than what the stopped node's socket buffers take in: the writer finds
    // the node stalled while still sending, not only while waiting for its ack. Four of
    // them: the node, excluded at the first, must stay out of the later ones.
    let data = test_bytes(3 * 8 * MIB + MIB + 7, 24);
    let options = PutOptions {
        block_size: Some(8 * MIB as u64),
        ..Default::default()
    };
    let started = Instant::now();
    let put = tokio::time::timeout(
        Duration::from_secs(60),
        writer.put_bytes(&data, &p("/w"), &options),
    )
    .await
    .expect("the put hung on the stopped datanode")
    .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(put.blocks, 4);
    assert_eq!(put.pipeline_recoveries, 1, "{put:?}");
    // One recovery costs about a stall timeout or two; one per block would cost four.
    assert!(
        elapsed < 2 * STALL + PUT_TRANSFER,
        "recovery took {elapsed:?}"
    );
    let located = cluster.client().locate(&p("/w")).await.unwrap();
    for block in &located.blocks {
        assert!(
            block.locations.iter().all(|l| l.id.0 != stopped_id),
            "a block landed on the stopped datanode"
        );
    }
    assert_eq!(cluster.client().read_to_vec(&p("/w")).await.unwrap(), data);
    drop(stopped);
}

/// Lines of the datanodes' logs where a read gave up on datanode `id` for being stalled.
fn stalled_reads_logged(cluster: &TestCluster, id: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(cluster.dir.path().join("logs")) else {
        return 0;
    };
    let needle = format!("datanode {id} (");
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("datanode"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .map(|text| {
            text.lines()
                .filter(|l| l.contains("trying the next replica") && l.contains(&needle))
                .filter(|l| l.contains("no answer within") || l.contains("sent nothing for"))
                .count()
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_maps_fail_over_from_a_stopped_datanode_and_the_output_is_identical() {
    // Every block on datanodes 0 and 1, then two datanodes without any: their maps read
    // remotely.
    let cluster = TestCluster::start(ClusterSpec {
        datanodes: 2,
        replication: 2,
        ..stall_spec()
    });
    let mut text = Vec::new();
    datagen::words(&mut text, 8 << 20, 25).unwrap();
    let options = PutOptions {
        create_parents: true,
        ..Default::default()
    };
    cluster
        .client()
        .put_bytes(&text, &p("/in/words"), &options)
        .await
        .unwrap();
    cluster.cluster_cmd(&["up", "--datanodes", "4"]).ok();
    let fs = cluster.client();
    let deadline = Instant::now() + Duration::from_secs(30);
    while fs.report().await.unwrap().live_datanodes < 4 {
        assert!(
            Instant::now() < deadline,
            "the added datanodes never registered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let job = |output: &str| -> serde_json::Value {
        let out = cluster
            .granary_within(
                CLI_DEADLINE,
                &[
                    "job",
                    "run",
                    "--input",
                    "/in/words",
                    "--output",
                    output,
                    "--builtin",
                    "wordcount",
                    "--reducers",
                    "1",
                    "--replication",
                    "1",
                    "--locality-wait",
                    "0s",
                    "--no-speculation",
                    "--json",
                ],
            )
            .ok();
        let status: serde_json::Value = serde_json::from_str(&out.stdout).expect("job JSON");
        assert_eq!(status["state"], "succeeded", "{status:#}");
        status
    };
    job("/out/reference");
    let reference = fs
        .read_to_vec(&p("/out/reference/part-r-00000"))
        .await
        .unwrap();

    // Datanode 0 stopped: its executor takes no tasks. Datanode 1 runs data-local maps, the
    // two others remote ones, each reading from datanode 0 or 1 (in random order). A few runs
    // make a read that meets datanode 0 first practically certain.
    let stopped_id = cluster.datanode_id(0);
    let stopped = cluster.stop_datanode(0);
    let mut failovers = 0;
    for run in 0..4 {
        let started = Instant::now();
        let output = format!("/out/stopped-{run}");
        let status = job(&output);
        let elapsed = started.elapsed();
        // One rack: a map off its data's datanodes counts as rack-local.
        let counters = &status["counters"];
        let off_node = ["rack_local_maps", "remote_maps"]
            .iter()
            .map(|c| counters[c].as_u64().unwrap_or(0))
            .sum::<u64>();
        assert!(off_node > 0, "{status:#}");
        assert!(
            elapsed < Duration::from_secs(50),
            "the job took {elapsed:?}"
        );
        let got = fs
            .read_to_vec(&p(&format!("{output}/part-r-00000")))
            .await
            .unwrap();
        assert_eq!(sha256_hex(&got), sha256_hex(&reference));
        failovers = stalled_reads_logged(&cluster, &stopped_id);
        if failovers > 0 {
            break;
        }
    }
    assert!(failovers > 0, "no map read met the stopped datanode");
    drop(stopped);
}
