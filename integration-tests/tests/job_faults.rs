//! Jobs that survive faults: attempts that fail, datanodes killed in the map and the reduce
//! phase, a straggler overtaken by its backup. Each faulty run's output is compared with a
//! fault-free run of the same computation on the same cluster, and its output directory must
//! hold exactly what a commit leaves: one part file per task and `_SUCCESS`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use granary_client::protocol::{JobId, JobPhase, JobProgram, JobSpec, JobState, JobStatus};
use granary_client::{FsPath, Granary, PutOptions};
use granary_integration_tests::datagen;
use granary_integration_tests::{ClusterSpec, TestCluster};

/// Input blocks are as small as blocks go, so a dozen maps cost little.
const BLOCK: u64 = 64 << 10;
/// Blocks, and so maps, of the input of the fault runs.
const MAPS: u64 = 12;
/// Longest a job of these tests may take; they take seconds.
const JOB_TIMEOUT: Duration = Duration::from_secs(60);

fn p(s: &str) -> FsPath {
    FsPath::parse(s).unwrap()
}

/// A cluster whose namenode notices a dead datanode (and its executor) within 2 s, with one
/// task slot per datanode, so a job's tasks run in several waves the test can act between.
fn fault_cluster(env: &[(&'static str, &'static str)]) -> TestCluster {
    let mut all = vec![("GRANARY_TASK_SLOTS", "1")];
    all.extend_from_slice(env);
    TestCluster::start(ClusterSpec {
        datanodes: 3,
        replication: 3,
        dead_after: "2s",
        env: all,
        ..ClusterSpec::default()
    })
}

/// Writes `maps` blocks of text lines to `path`.
async fn put_input(fs: &Granary, path: &str, maps: u64) {
    let mut text = Vec::new();
    // Half a block short of `maps` blocks, so the last line cannot spill into one more block.
    datagen::words(&mut text, maps * BLOCK - BLOCK / 2, 21).unwrap();
    let options = PutOptions {
        block_size: Some(BLOCK),
        create_parents: true,
        ..PutOptions::default()
    };
    let summary = fs.put_bytes(&text, &p(path), &options).await.unwrap();
    assert_eq!(summary.blocks as u64, maps);
}

/// A streaming job. The input lines have no tab, so each line is a key with an empty value:
/// whatever the mapper and reducer pass through, the output is the input lines sorted within
/// each reducer's partition, the same bytes whichever attempts ran.
fn streaming(
    input: &str,
    output: &str,
    mapper: &str,
    reducer: Option<&str>,
    reducers: u32,
) -> JobSpec {
    JobSpec {
        reducers: Some(reducers),
        ..JobSpec::new(
            vec![input.into()],
            p(output),
            JobProgram::Streaming {
                mapper: mapper.into(),
                combiner: None,
                reducer: reducer.map(str::to_string),
            },
        )
    }
}

/// Waits (bounded) for the job to end.
async fn finish(fs: &Granary, id: &JobId) -> JobStatus {
    tokio::time::timeout(
        JOB_TIMEOUT,
        fs.wait_for_job(id, Duration::from_millis(100), |_| {}),
    )
    .await
    .unwrap_or_else(|_| panic!("job {id} still running after {JOB_TIMEOUT:?}"))
    .unwrap()
}

/// Polls the job until `ready` holds; panics if the job ends first or after `timeout`.
async fn wait_until(
    fs: &Granary,
    id: &JobId,
    what: &str,
    timeout: Duration,
    ready: impl Fn(&JobStatus) -> bool,
) -> JobStatus {
    let deadline = Instant::now() + timeout;
    loop {
        let status = fs.job_status(id).await.unwrap();
        if ready(&status) {
            return status;
        }
        assert!(
            !status.state.is_finished(),
            "job ended before {what}: {status:#?}"
        );
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The committed output of a job with `reducers` reducers: exactly `part-r-00000` up to
/// `part-r-<reducers-1>` and `_SUCCESS` (no part twice, no `_temporary`), the parts
/// concatenated in order.
async fn committed_output(fs: &Granary, output: &str, reducers: u32) -> Vec<u8> {
    let names: BTreeSet<String> = fs
        .list(&p(output), false)
        .await
        .unwrap()
        .iter()
        .filter_map(|e| e.path.file_name().map(str::to_string))
        .collect();
    let mut want: BTreeSet<String> = (0..reducers).map(|r| format!("part-r-{r:05}")).collect();
    want.insert("_SUCCESS".into());
    assert_eq!(names, want, "the committed output of {output}");
    let mut all = Vec::new();
    for r in 0..reducers {
        let part = p(&format!("{output}/part-r-{r:05}"));
        all.extend(fs.read_to_vec(&part).await.unwrap());
    }
    all
}

/// Runs the fault-free reference of the tests' jobs over `input` (mapper and reducer pass the
/// lines through) with `reducers` reducers; returns its committed output.
async fn reference_output(fs: &Granary, input: &str, reducers: u32) -> Vec<u8> {
    let output = format!("/reference/{reducers}");
    let spec = streaming(input, &output, "cat", None, reducers);
    let job = fs.submit_job(spec).await.unwrap();
    let status = finish(fs, &job.id).await;
    assert_eq!(status.state, JobState::Succeeded, "{status:#?}");
    assert_eq!(status.counters.failed_attempts, 0, "{status:#?}");
    let out = committed_output(fs, &output, reducers).await;
    assert!(!out.is_empty());
    out
}

/// Waits for the job to end; checks it succeeded and committed the reference's output.
async fn succeeds_like_the_reference(fs: &Granary, id: &JobId, reference: &[u8]) -> JobStatus {
    let status = finish(fs, id).await;
    assert_eq!(status.state, JobState::Succeeded, "{status:#?}");
    let reducers = status.reduces_total;
    let got = committed_output(fs, status.output.as_str(), reducers).await;
    assert!(
        got == reference,
        "the output differs from the fault-free run"
    );
    status
}

/// A mapper that first leaves the marker `<attempt id>.<datanode pid>` in `dir` (the datanode
/// starts the command, so the shell's parent is the datanode process), then runs `rest`.
fn marking_mapper(dir: &Path, rest: &str) -> String {
    format!(
        "touch {}/$mapreduce_task_attempt_id.$PPID; {rest}",
        dir.display()
    )
}

/// A map attempt that started, from its marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct MapAttempt {
    map: u32,
    number: u32,
    datanode_pid: u32,
}

/// The map attempts that started so far, in order.
fn map_attempts(dir: &Path) -> Vec<MapAttempt> {
    let mut attempts: Vec<MapAttempt> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            // attempt_<ms>_<seq>_m_<map>_<number>.<pid>
            let (attempt, pid) = name.rsplit_once('.').expect("marker name");
            let mut parts = attempt.rsplit('_');
            let number = parts.next().unwrap().parse().unwrap();
            let map = parts.next().unwrap().parse().unwrap();
            assert_eq!(parts.next(), Some("m"), "{name}");
            MapAttempt {
                map,
                number,
                datanode_pid: pid.parse().unwrap(),
            }
        })
        .collect();
    attempts.sort();
    attempts
}

/// SIGKILLs the datanode that started the most map attempts so far; returns its pid.
fn kill_busiest_datanode(cluster: &TestCluster, attempts: &[MapAttempt]) -> u32 {
    let mut started: BTreeMap<u32, usize> = BTreeMap::new();
    for attempt in attempts {
        *started.entry(attempt.datanode_pid).or_default() += 1;
    }
    let (pid, _) = started
        .into_iter()
        .max_by_key(|&(pid, n)| (n, pid))
        .expect("some map attempt started");
    let index = cluster
        .status()
        .datanodes
        .iter()
        .find(|d| d.pid == Some(pid))
        .map(|d| d.index)
        .expect("the attempts ran in a datanode of this cluster");
    cluster.kill_datanode(index);
    pid
}

/// Checks that every map that had run on the killed datanode ran again elsewhere: reducers
/// still needed its output.
fn assert_rerun_elsewhere(attempts: &[MapAttempt], killed_pid: u32) {
    let on_killed: BTreeSet<u32> = attempts
        .iter()
        .filter(|a| a.datanode_pid == killed_pid)
        .map(|a| a.map)
        .collect();
    assert!(!on_killed.is_empty(), "the killed datanode ran no map");
    for map in on_killed {
        assert!(
            attempts
                .iter()
                .any(|a| a.map == map && a.number > 0 && a.datanode_pid != killed_pid),
            "map {map} was not re-run: {attempts:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapper_failing_its_first_attempt_is_retried_and_the_job_succeeds() {
    let cluster = fault_cluster(&[]);
    let fs = cluster.client();
    put_input(&fs, "/in/words", 4).await;
    let reference = reference_output(&fs, "/in/words", 2).await;

    // A marker per task: its first attempt leaves one and fails, the next one finds it.
    let markers = tempfile::tempdir().unwrap();
    let mapper = format!(
        "m={}/$mapreduce_task_id; if [ -e $m ]; then cat; else touch $m; exit 3; fi",
        markers.path().display()
    );
    let spec = streaming("/in/words", "/out/retried", &mapper, None, 2);
    let job = fs.submit_job(spec).await.unwrap();
    let status = succeeds_like_the_reference(&fs, &job.id, &reference).await;
    assert!(status.counters.failed_attempts >= 4, "{status:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapper_that_always_fails_fails_the_job_with_one_line_and_no_output() {
    let cluster = fault_cluster(&[]);
    let fs = cluster.client();
    fs.put_bytes(
        b"one line\n",
        &p("/fail/in.txt"),
        &PutOptions {
            create_parents: true,
            ..PutOptions::default()
        },
    )
    .await
    .unwrap();

    // Two lines on stderr: the job's error must still be one line.
    let err = cluster
        .granary(&[
            "job",
            "run",
            "--input",
            "/fail/in.txt",
            "--output",
            "/fail/out",
            "--mapper",
            "echo 'cannot parse' >&2; echo 'giving up' >&2; exit 7",
            "--max-attempts",
            "2",
        ])
        .stderr;
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("granary: job job_"), "{err}");
    for part in [
        "failed",
        "m_000000",
        "/fail/in.txt bytes 0+9",
        "exited with status 7",
    ] {
        assert!(last.contains(part), "{part:?} missing from {last:?}");
    }

    let list = cluster.json(&["job", "list"]);
    let id = list["jobs"][0]["id"].as_str().unwrap().to_string();
    let status = cluster.json(&["job", "status", &id]);
    assert_eq!(status["state"], "failed");
    let error = status["error"].as_str().unwrap();
    assert!(!error.contains('\n'), "{error:?}");
    assert!(
        error.starts_with("task m_000000 (/fail/in.txt bytes 0+9) failed 2 attempts; last error:"),
        "{error}"
    );
    assert!(error.contains("exited with status 7"), "{error}");
    assert!(error.contains("giving up"), "the command's stderr: {error}");
    assert_eq!(status["counters"]["failed_attempts"], 2);
    // The output is removed right after the job is marked failed.
    cluster.wait_for("the output removed", Duration::from_secs(10), || {
        !cluster.granary(&["fs", "stat", "/fail/out"]).success
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_datanode_killed_in_the_map_phase_changes_nothing_in_the_output() {
    let cluster = fault_cluster(&[]);
    let fs = cluster.client();
    put_input(&fs, "/in/words", MAPS).await;
    let reference = reference_output(&fs, "/in/words", 3).await;

    // Four waves of maps on three slots, half a second each.
    let markers = tempfile::tempdir().unwrap();
    let mapper = marking_mapper(markers.path(), "sleep 0.5; cat");
    let job = fs
        .submit_job(streaming("/in/words", "/out/map-kill", &mapper, None, 3))
        .await
        .unwrap();
    let total = MAPS as u32;
    let at_kill = wait_until(&fs, &job.id, "maps to be half done", JOB_TIMEOUT, |s| {
        (3..total - 3).contains(&s.maps_done)
    })
    .await;
    let killed = kill_busiest_datanode(&cluster, &map_attempts(markers.path()));
    assert_eq!(at_kill.phase, JobPhase::Map);

    let status = succeeds_like_the_reference(&fs, &job.id, &reference).await;
    assert_eq!(status.maps_done, total);
    assert!(status.counters.failed_attempts >= 1, "{status:#?}");
    assert_rerun_elsewhere(&map_attempts(markers.path()), killed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_datanode_killed_in_the_reduce_phase_has_its_map_outputs_rerun() {
    let cluster = fault_cluster(&[]);
    let fs = cluster.client();
    put_input(&fs, "/in/words", MAPS).await;
    let reference = reference_output(&fs, "/in/words", 6).await;

    // Two waves of reducers on three slots: the second needs every map's output, including
    // those the killed datanode served.
    let markers = tempfile::tempdir().unwrap();
    let mapper = marking_mapper(markers.path(), "cat");
    let spec = streaming(
        "/in/words",
        "/out/reduce-kill",
        &mapper,
        Some("sleep 2; cat"),
        6,
    );
    let job = fs.submit_job(spec).await.unwrap();
    let at_kill = wait_until(&fs, &job.id, "the reduce phase", JOB_TIMEOUT, |s| {
        s.phase == JobPhase::Reduce
    })
    .await;
    let killed = kill_busiest_datanode(&cluster, &map_attempts(markers.path()));
    assert_eq!(at_kill.reduces_done, 0);

    let status = succeeds_like_the_reference(&fs, &job.id, &reference).await;
    assert_eq!(status.reduces_done, 6);
    // Whether a reducer attempt failed depends on whether the killed node was running one;
    // what must hold is that the maps whose output died with it ran again elsewhere.
    assert_rerun_elsewhere(&map_attempts(markers.path()), killed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_straggler_map_is_overtaken_by_one_speculative_attempt() {
    let cluster = fault_cluster(&[("GRANARY_JOB_SPECULATION_MIN_RUNTIME", "1s")]);
    let fs = cluster.client();
    put_input(&fs, "/in/words", 6).await;
    let reference = reference_output(&fs, "/in/words", 2).await;

    // The first attempt of map 1 sleeps for a minute; its backup does not.
    let markers = tempfile::tempdir().unwrap();
    let mapper = marking_mapper(
        markers.path(),
        "case $mapreduce_task_attempt_id in *_m_000001_0) sleep 60;; esac; cat",
    );
    let started = Instant::now();
    let job = fs
        .submit_job(streaming("/in/words", "/out/speculated", &mapper, None, 2))
        .await
        .unwrap();
    let status = succeeds_like_the_reference(&fs, &job.id, &reference).await;
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "the job waited for its straggler: {:?}",
        started.elapsed()
    );
    assert!(status.counters.speculative_attempts >= 1, "{status:#?}");
    let map_1: Vec<(u32, u32)> = map_attempts(markers.path())
        .iter()
        .filter(|a| a.map == 1)
        .map(|a| (a.number, a.datanode_pid))
        .collect();
    assert_eq!(map_1.len(), 2, "the straggler and one backup: {map_1:?}");
    assert_eq!((map_1[0].0, map_1[1].0), (0, 1));
    assert_ne!(map_1[0].1, map_1[1].1, "the backup ran on another datanode");
}
