//! Compute on the data: real jobs on a real cluster, checked against references computed here.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use granary_client::protocol::{JobProgram, JobSpec};
use granary_client::{FsPath, Granary, PutOptions};
use granary_integration_tests::datagen::{self, Rng};
use granary_integration_tests::{ClusterSpec, TestCluster};

fn p(s: &str) -> FsPath {
    FsPath::parse(s).unwrap()
}

fn put_opts(replication: Option<u16>) -> PutOptions {
    PutOptions {
        create_parents: true,
        replication,
        ..Default::default()
    }
}

/// `granary job run <args> --json`: the final status; panics unless the job succeeded.
fn run_job(cluster: &TestCluster, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["job", "run"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = cluster.granary(&all).ok();
    let status: serde_json::Value = serde_json::from_str(&out.stdout).expect("job status JSON");
    assert_eq!(status["state"], "succeeded", "{status:#}");
    status
}

/// The part files of a job's output in name order, concatenated; checks the commit markers.
async fn read_output(fs: &Granary, output: &str) -> Vec<u8> {
    let entries = fs.list(&p(output), false).await.unwrap();
    let names: Vec<String> = entries
        .iter()
        .filter_map(|e| e.path.file_name().map(str::to_string))
        .collect();
    assert!(names.contains(&"_SUCCESS".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n == "_temporary"), "{names:?}");
    let mut all = Vec::new();
    for part in fs.part_files(&p(output)).await.unwrap() {
        all.extend(fs.read_to_vec(&part).await.unwrap());
    }
    all
}

/// `key<TAB>count` lines into a map; every key must appear once.
fn counts(output: &[u8]) -> BTreeMap<Vec<u8>, u64> {
    let mut map = BTreeMap::new();
    for line in output.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let tab = line.iter().rposition(|&b| b == b'\t').expect("tab");
        let n: u64 = std::str::from_utf8(&line[tab + 1..])
            .unwrap()
            .parse()
            .unwrap();
        assert!(map.insert(line[..tab].to_vec(), n).is_none(), "key twice");
    }
    map
}

fn word_counts(texts: &[&[u8]]) -> BTreeMap<Vec<u8>, u64> {
    let mut map = BTreeMap::new();
    for text in texts {
        for word in text
            .split(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
            .filter(|w| !w.is_empty())
        {
            *map.entry(word.to_vec()).or_default() += 1;
        }
    }
    map
}

fn generated(
    kind: fn(&mut Vec<u8>, u64, u64) -> std::io::Result<u64>,
    n: u64,
    seed: u64,
) -> Vec<u8> {
    let mut out = Vec::new();
    kind(&mut out, n, seed).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wordcount_over_multi_block_files_matches_a_reference() {
    let cluster = TestCluster::start(ClusterSpec::default());
    let fs = cluster.client();
    // Lines of every length cross the 1 MiB block boundaries at arbitrary points.
    let a = generated(datagen::words, 3 << 20, 1);
    let b = generated(datagen::words, (1 << 20) + 777, 2);
    fs.put_bytes(&a, &p("/in/a.txt"), &put_opts(None))
        .await
        .unwrap();
    fs.put_bytes(&b, &p("/in/sub/b.txt"), &put_opts(None))
        .await
        .unwrap();

    let status = run_job(
        &cluster,
        &[
            "--input",
            "/in",
            "--output",
            "/out/wc",
            "--builtin",
            "wordcount",
            "--reducers",
            "3",
        ],
    );
    assert_eq!(status["maps_total"], 6, "one map per block");
    assert_eq!(status["reduces_total"], 3);
    assert_eq!(
        counts(&read_output(&fs, "/out/wc").await),
        word_counts(&[&a, &b])
    );
    let c = &status["counters"];
    assert_eq!(c["map_input_bytes"], (a.len() + b.len()) as u64);
    assert_eq!(
        c["map_input_records"],
        (a.iter().chain(&b).filter(|&&x| x == b'\n').count()) as u64
    );
    assert!(
        c["combine_output_records"].as_u64().unwrap()
            < c["combine_input_records"].as_u64().unwrap()
    );
    assert!(c["shuffle_bytes"].as_u64().unwrap() > 0);
    assert_eq!(c["failed_attempts"], 0);
    // Replication 3 on 3 datanodes: every block is everywhere, every map reads locally.
    assert_eq!(c["data_local_maps"], 6, "{c:#}");
    // Only a line crossing into the next block may be read from elsewhere, and here even
    // that block is local.
    assert_eq!(c["remote_bytes_read"], 0, "{c:#}");

    // The same job again refuses the existing output and writes nothing.
    let err = cluster
        .granary(&[
            "job",
            "run",
            "--input",
            "/in",
            "--output",
            "/out/wc",
            "--builtin",
            "wordcount",
        ])
        .fails_with_one_line();
    assert!(err.contains("already exists"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_field_top_k_equals_sort_uniq_and_is_data_local_with_replication_1() {
    let cluster = TestCluster::start(ClusterSpec::default());
    let log = generated(datagen::access_log, 10 << 20, 3);
    // Replication 1 on 3 datanodes: each node holds about a third of the blocks.
    cluster
        .client()
        .put_bytes(&log, &p("/logs/access.log"), &put_opts(Some(1)))
        .await
        .unwrap();

    let mut reference: HashMap<&[u8], u64> = HashMap::new();
    for line in log.split(|&b| b == b'\n') {
        if let Some(field) = line
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|f| !f.is_empty())
            .nth(6)
        {
            *reference.entry(field).or_default() += 1;
        }
    }
    let status = run_job(
        &cluster,
        &[
            "--input",
            "/logs/access.log",
            "--output",
            "/out/urls",
            "--builtin",
            "count-field",
            "--field",
            "7",
        ],
    );
    let fs = cluster.client();
    let got = counts(&read_output(&fs, "/out/urls").await);
    let want: BTreeMap<Vec<u8>, u64> = reference.iter().map(|(k, v)| (k.to_vec(), *v)).collect();
    assert_eq!(got, want);
    let c = &status["counters"];
    let maps = status["maps_total"].as_u64().unwrap();
    assert_eq!(
        maps,
        log.len().div_ceil(1 << 20) as u64,
        "one map per block"
    );
    assert!(
        c["data_local_maps"].as_u64().unwrap() * 10 >= maps * 9,
        "fewer than 90% data-local maps: {c:#}"
    );

    // --top 5: exact, merged from each reducer's own top 5.
    let mut top: Vec<(u64, Vec<u8>)> = want.iter().map(|(k, v)| (*v, k.clone())).collect();
    top.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let out = cluster
        .granary(&[
            "job",
            "run",
            "--input",
            "/logs",
            "--output",
            "/out/top",
            "--builtin",
            "count-field",
            "--field",
            "7",
            "--top",
            "5",
            "--reducers",
            "4",
        ])
        .ok();
    for (count, url) in &top[..5] {
        let url = String::from_utf8_lossy(url);
        assert!(
            out.stdout
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>()
                    == [count.to_string().as_str(), &url]),
            "missing {count} {url} in:\n{}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("data_local_maps"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_awk_job_with_combiner_and_user_counters() {
    let cluster = TestCluster::start(ClusterSpec::default());
    let fs = cluster.client();
    let log = generated(datagen::access_log, (2 << 20) + 4321, 5);
    fs.put_bytes(&log, &p("/logs/a.log"), &put_opts(None))
        .await
        .unwrap();

    let sum = r#"awk -F'\t' '{s[$1]+=$2} END {for (k in s) print k "\t" s[k]}'"#;
    let status = run_job(
        &cluster,
        &[
            "--input",
            "/logs/a.log",
            "--output",
            "/out/status",
            "--mapper",
            r#"awk '{print $9 "\t1"} END {print "reporter:counter:demo,lines," NR > "/dev/stderr"}'"#,
            "--combiner",
            sum,
            "--reducer",
            sum,
            "--reducers",
            "2",
        ],
    );
    let mut want: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    let mut lines = 0;
    for line in log.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        lines += 1;
        let status = line
            .split(|&b| b == b' ')
            .filter(|f| !f.is_empty())
            .nth(8)
            .unwrap();
        *want.entry(status.to_vec()).or_default() += 1;
    }
    assert_eq!(counts(&read_output(&fs, "/out/status").await), want);
    assert_eq!(status["counters"]["user"]["demo"]["lines"], lines);
    assert!(
        status["counters"]["combine_input_records"]
            .as_u64()
            .unwrap()
            >= lines
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sort_is_a_globally_ordered_permutation_and_map_only_grep_keeps_input_order() {
    let cluster = TestCluster::start(ClusterSpec::default());
    let fs = cluster.client();
    let records = generated(datagen::records, 3 << 20, 9);
    fs.put_bytes(&records, &p("/sort/in"), &put_opts(None))
        .await
        .unwrap();

    run_job(
        &cluster,
        &[
            "--input",
            "/sort/in",
            "--output",
            "/sort/out",
            "--builtin",
            "sort",
            "--reducers",
            "3",
        ],
    );
    let sorted = read_output(&fs, "/sort/out").await;
    let mut want: Vec<&[u8]> = records
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    want.sort();
    let got: Vec<&[u8]> = sorted
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "sort output is not the sorted input");
    assert_eq!(fs.part_files(&p("/sort/out")).await.unwrap().len(), 3);

    // grep is map-only: part-m files, one per block, in input order.
    let status = run_job(
        &cluster,
        &[
            "--input",
            "/sort/in",
            "--output",
            "/grep/out",
            "--builtin",
            "grep",
            "--pattern",
            "^[A-C]",
        ],
    );
    assert_eq!(status["reduces_total"], 0);
    let parts = fs.part_files(&p("/grep/out")).await.unwrap();
    assert!(
        parts.iter().all(|part| part.as_str().contains("part-m-")),
        "{parts:?}"
    );
    let matching: Vec<u8> = records
        .split_inclusive(|&b| b == b'\n')
        .filter(|l| matches!(l.first(), Some(b'A'..=b'C')))
        .flatten()
        .copied()
        .collect();
    assert_eq!(read_output(&fs, "/grep/out").await, matching);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awkward_files_count_every_word_once() {
    let cluster = TestCluster::start(ClusterSpec {
        block_size: "1M",
        ..ClusterSpec::default()
    });
    let fs = cluster.client();
    let mut rng = Rng::new(11);
    // CRLF line ends, empty lines, non-UTF-8 bytes and no final newline, over several blocks.
    let mut awkward = Vec::new();
    while awkward.len() < (2 << 20) + 999 {
        match rng.below(6) {
            0 => awkward.extend_from_slice(b"\r\n"),
            1 => awkward.extend_from_slice(b"\n\n"),
            2 => awkward.extend_from_slice(&[0xff, 0xfe, b'a', 0x80, b' ']),
            3 => awkward.extend_from_slice(b"caf\xc3\xa9 "),
            _ => awkward.extend_from_slice(format!("w{} ", rng.below(500)).as_bytes()),
        }
    }
    awkward.extend_from_slice(b"last-word-without-newline");
    fs.put_bytes(&awkward, &p("/odd/awkward.txt"), &put_opts(None))
        .await
        .unwrap();
    fs.put_bytes(b"", &p("/odd/empty.txt"), &put_opts(None))
        .await
        .unwrap();

    let status = run_job(
        &cluster,
        &[
            "--input",
            "/odd/*.txt",
            "--output",
            "/odd-out",
            "--builtin",
            "wordcount",
        ],
    );
    assert_eq!(status["maps_total"], 3, "the empty file has no split");
    assert_eq!(
        counts(&read_output(&fs, "/odd-out").await),
        word_counts(&[&awkward])
    );

    // A job over nothing but an empty file still commits an (empty) result.
    run_job(
        &cluster,
        &[
            "--input",
            "/odd/empty.txt",
            "--output",
            "/empty-out",
            "--builtin",
            "wordcount",
            "--reducers",
            "1",
        ],
    );
    assert!(read_output(&fs, "/empty-out").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_jobs_are_refused_before_anything_runs() {
    let cluster = TestCluster::start(ClusterSpec {
        datanodes: 1,
        replication: 1,
        ..ClusterSpec::default()
    });
    let fs = cluster.client();
    fs.put_bytes(b"a b c\n", &p("/in/x"), &put_opts(None))
        .await
        .unwrap();
    fs.mkdir(&p("/exists"), true).await.unwrap();
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "--input",
                "/missing",
                "--output",
                "/o1",
                "--builtin",
                "wordcount",
            ],
            "does not exist",
        ),
        (
            &[
                "--input",
                "/in/*.nothing",
                "--output",
                "/o1",
                "--builtin",
                "wordcount",
            ],
            "does not exist",
        ),
        (
            &[
                "--input",
                "/in",
                "--output",
                "/exists",
                "--builtin",
                "wordcount",
            ],
            "already exists",
        ),
        (
            &["--input", "/in", "--output", "/o1", "--builtin", "wordcunt"],
            "unknown built-in",
        ),
        (
            &[
                "--input",
                "/in",
                "--output",
                "/o1",
                "--mapper",
                "no-such-program-xyz --flag",
            ],
            "not found",
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["job", "run"];
        all.extend_from_slice(args);
        let err = cluster.granary(&all).fails_with_one_line();
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    assert!(
        fs.try_stat(&p("/o1")).await.unwrap().is_none(),
        "nothing written"
    );
    let list = cluster.json(&["job", "list"]);
    assert_eq!(
        list["jobs"].as_array().unwrap().len(),
        0,
        "no job started: {list:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_history_status_and_kill_survive_a_namenode_restart() {
    let cluster = TestCluster::start(ClusterSpec::default());
    let fs = cluster.client();
    fs.put_bytes(b"x y\ny z\n", &p("/in/x"), &put_opts(None))
        .await
        .unwrap();
    let done = run_job(
        &cluster,
        &[
            "--input",
            "/in",
            "--output",
            "/o/1",
            "--builtin",
            "wordcount",
        ],
    );
    let id = done["id"].as_str().unwrap().to_string();

    // Slow streaming jobs, submitted through the library so the test can act while they run.
    let slow = |output: &str| JobSpec {
        reducers: Some(0),
        ..JobSpec::new(
            vec!["/in".into()],
            p(output),
            JobProgram::Streaming {
                mapper: "sleep 30".into(),
                combiner: None,
                reducer: None,
            },
        )
    };
    let killed = fs.submit_job(slow("/o/killed")).await.unwrap();
    let out = cluster.granary(&["job", "kill", &killed.id.0]).ok();
    assert!(out.stdout.contains("killed"), "{}", out.stdout);
    let status = cluster.json(&["job", "status", &killed.id.0]);
    assert_eq!(status["state"], "killed");
    assert!(
        fs.try_stat(&p("/o/killed")).await.unwrap().is_none(),
        "killed job's output removed"
    );

    // A job running when the namenode dies is not lost silently: it is failed with a reason
    // and its partial output removed.
    let orphan = fs.submit_job(slow("/o/orphan")).await.unwrap();
    cluster.kill_namenode();
    cluster.up();
    let status = cluster.json(&["job", "status", &orphan.id.0]);
    assert_eq!(status["state"], "failed");
    assert!(
        status["error"].as_str().unwrap().contains("restarted"),
        "{status:#}"
    );
    cluster.wait_for("orphan output removed", Duration::from_secs(20), || {
        cluster.granary(&["fs", "stat", "/o/orphan"]).code != Some(0)
    });

    // History survived: the finished job is still there with its counters.
    let status = cluster.json(&["job", "status", &id]);
    assert_eq!(status["state"], "succeeded");
    assert_eq!(status["counters"]["reduce_output_records"], 3);
    let list = cluster.json(&["job", "list"]);
    let ids: Vec<&str> = list["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [orphan.id.0.as_str(), killed.id.0.as_str(), id.as_str()],
        "newest first"
    );

    // Unknown and malformed ids get one clear line.
    let err = cluster
        .granary(&["job", "status", "job_1_9999"])
        .fails_with_one_line();
    assert!(err.contains("no such job"), "{err}");
    let err = cluster
        .granary(&["job", "status", "../etc"])
        .fails_with_one_line();
    assert!(err.contains("not a job id"), "{err}");
}
