//! The shuffle under faults, with real processes: a map output damaged on its datanode's disk,
//! and a datanode that stops answering (SIGSTOP) while reducers fetch from it. Each job's
//! output must equal a fault-free run's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use granary_client::protocol::{JobId, JobPhase, JobProgram, JobSpec, JobState, JobStatus};
use granary_client::{FsPath, Granary, PutOptions};
use granary_integration_tests::datagen;
use granary_integration_tests::{ClusterSpec, TestCluster};

/// Input blocks are as small as blocks go, so the maps cost little.
const BLOCK: u64 = 64 << 10;
const MAPS: u64 = 6;
const REDUCERS: u32 = 2;
/// How long map 0's first attempt sleeps, holding the map phase open while the test acts.
const STRAGGLER_SECS: u32 = 8;
/// Longest a job of these tests may take; they take seconds.
const JOB_TIMEOUT: Duration = Duration::from_secs(90);

fn p(s: &str) -> FsPath {
    FsPath::parse(s).unwrap()
}

/// Three datanodes with one task slot each, and every block on every datanode.
fn cluster(dead_after: &'static str, stall_timeout: Option<&'static str>) -> TestCluster {
    TestCluster::start(ClusterSpec {
        datanodes: 3,
        replication: 3,
        dead_after,
        env: vec![("GRANARY_TASK_SLOTS", "1")],
        stall_timeout,
        ..ClusterSpec::default()
    })
}

async fn put_input(fs: &Granary, path: &str) {
    let mut text = Vec::new();
    // Half a block short, so the last line cannot spill into one more block.
    datagen::words(&mut text, MAPS * BLOCK - BLOCK / 2, 33).unwrap();
    let options = PutOptions {
        block_size: Some(BLOCK),
        create_parents: true,
        ..PutOptions::default()
    };
    let summary = fs.put_bytes(&text, &p(path), &options).await.unwrap();
    assert_eq!(summary.blocks as u64, MAPS);
}

/// A streaming job passing the lines through; its output is the input lines sorted within each
/// reducer's partition, the same bytes whichever attempts ran. No speculation, so the
/// straggler is not overtaken, and one replica of each part, on the reducer's own datanode.
fn streaming(input: &str, output: &str, mapper: &str) -> JobSpec {
    JobSpec {
        reducers: Some(REDUCERS),
        speculation: Some(false),
        output_replication: Some(1),
        ..JobSpec::new(
            vec![input.into()],
            p(output),
            JobProgram::Streaming {
                mapper: mapper.into(),
                combiner: None,
                reducer: None,
            },
        )
    }
}

/// A mapper that leaves the marker `<attempt id>.<datanode pid>` in `markers` (the datanode
/// starts the command, so the shell's parent is the datanode), and whose map 0 first attempt
/// sleeps [`STRAGGLER_SECS`].
fn straggling_mapper(markers: &Path) -> String {
    format!(
        "touch {}/$mapreduce_task_attempt_id.$PPID; \
         case $mapreduce_task_attempt_id in *_m_000000_0) sleep {STRAGGLER_SECS};; esac; cat",
        markers.display()
    )
}

/// Map attempts started so far: attempt id → the pid of the datanode that ran it.
fn map_attempts(markers: &Path) -> BTreeMap<String, u32> {
    std::fs::read_dir(markers)
        .unwrap()
        .map(|entry| {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            let (attempt, pid) = name.rsplit_once('.').expect("marker name");
            (attempt.to_string(), pid.parse().unwrap())
        })
        .collect()
}

async fn finish(fs: &Granary, id: &JobId) -> JobStatus {
    tokio::time::timeout(
        JOB_TIMEOUT,
        fs.wait_for_job(id, Duration::from_millis(100), |_| {}),
    )
    .await
    .unwrap_or_else(|_| panic!("job {id} still running after {JOB_TIMEOUT:?}"))
    .unwrap()
}

/// Polls the job until `ready` holds; panics if the job ends first or after [`JOB_TIMEOUT`].
async fn wait_until(fs: &Granary, id: &JobId, what: &str, ready: impl Fn(&JobStatus) -> bool) {
    let deadline = Instant::now() + JOB_TIMEOUT;
    loop {
        let status = fs.job_status(id).await.unwrap();
        if ready(&status) {
            return;
        }
        assert!(
            !status.state.is_finished(),
            "job ended before {what}: {status:#?}"
        );
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The parts of a succeeded job, concatenated in order.
async fn job_output(fs: &Granary, status: &JobStatus) -> Vec<u8> {
    assert_eq!(status.state, JobState::Succeeded, "{status:#?}");
    let mut all = Vec::new();
    for r in 0..status.reduces_total {
        let part = p(&format!("{}/part-r-{r:05}", status.output));
        all.extend(fs.read_to_vec(&part).await.unwrap());
    }
    assert!(fs
        .stat(&p(&format!("{}/_SUCCESS", status.output)))
        .await
        .is_ok());
    all
}

/// The fault-free run of the tests' jobs over `input`.
async fn reference_output(fs: &Granary, input: &str) -> Vec<u8> {
    let job = fs
        .submit_job(streaming(input, "/reference", "cat"))
        .await
        .unwrap();
    let status = finish(fs, &job.id).await;
    assert_eq!(status.counters.failed_attempts, 0, "{status:#?}");
    let out = job_output(fs, &status).await;
    assert!(!out.is_empty());
    out
}

/// The finished map outputs of `job` on the cluster's datanodes (those with an index).
fn finished_map_outputs(cluster: &TestCluster, job: &JobId) -> Vec<PathBuf> {
    let mut outputs = Vec::new();
    for datanode in cluster.status().datanodes {
        let Ok(attempts) = std::fs::read_dir(datanode.data_dir.join("jobs").join(&job.0)) else {
            continue;
        };
        for attempt in attempts {
            let dir = attempt.unwrap().path();
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            if name.contains("_m_") && dir.join("map.index").is_file() {
                outputs.push(dir.join("map.out"));
            }
        }
    }
    outputs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_map_output_damaged_on_disk_reruns_its_map_and_the_output_is_unchanged() {
    let cluster = cluster("30s", None);
    let fs = cluster.client();
    put_input(&fs, "/in/words").await;
    let reference = reference_output(&fs, "/in/words").await;

    let markers = tempfile::tempdir().unwrap();
    let spec = streaming(
        "/in/words",
        "/out/damaged",
        &straggling_mapper(markers.path()),
    );
    let job = fs.submit_job(spec).await.unwrap();
    wait_until(&fs, &job.id, "a finished map", |s| s.maps_done >= 1).await;
    let damaged = finished_map_outputs(&cluster, &job.id)
        .into_iter()
        .find(|out| !out.to_string_lossy().contains("_m_000000_0"))
        .expect("a finished map's output on some datanode");
    let mut bytes = std::fs::read(&damaged).unwrap();
    assert!(!bytes.is_empty(), "{}", damaged.display());
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&damaged, bytes).unwrap();
    // Still in the map phase: no reducer has fetched anything yet, so every reducer that
    // fetches from the damaged output sees the damage.
    let after = fs.job_status(&job.id).await.unwrap();
    assert_eq!(
        after.phase,
        JobPhase::Map,
        "the straggler ended too soon: {after:#?}"
    );

    let status = finish(&fs, &job.id).await;
    assert!(
        job_output(&fs, &status).await == reference,
        "the output differs"
    );
    assert!(
        status.counters.shuffle_checksum_failures >= 1,
        "{status:#?}"
    );
    assert!(status.counters.failed_attempts >= 1, "{status:#?}");
    // The damaged map ran again.
    let attempt = damaged.parent().unwrap().file_name().unwrap();
    let attempt = attempt.to_string_lossy();
    let map = attempt.rsplit_once('_').unwrap().0;
    let attempts = map_attempts(markers.path());
    let runs = attempts
        .keys()
        .filter(|a| a.starts_with(&format!("{map}_")));
    assert!(runs.count() >= 2, "{map} did not run again: {attempts:?}");
}

/// The index of the cluster's datanode whose process is `pid`.
fn datanode_with_pid(cluster: &TestCluster, pid: u32) -> u32 {
    let status = cluster.status();
    status
        .datanodes
        .iter()
        .find(|d| d.pid == Some(pid))
        .map(|d| d.index)
        .unwrap_or_else(|| panic!("pid {pid} is none of the cluster's datanodes: {status:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_datanode_stopped_during_the_shuffle_fails_over_within_the_stall_timeout() {
    // A minute before the namenode or the tracker gives up on a silent datanode, and a 2 s
    // stall timeout: only the reducers' stall detection can finish the job within that minute.
    let cluster = cluster("60s", Some("2s"));
    let fs = cluster.client();
    put_input(&fs, "/in/words").await;
    let reference = reference_output(&fs, "/in/words").await;

    let markers = tempfile::tempdir().unwrap();
    let spec = streaming(
        "/in/words",
        "/out/stopped",
        &straggling_mapper(markers.path()),
    );
    let job = fs.submit_job(spec).await.unwrap();
    let total = MAPS as u32;
    wait_until(&fs, &job.id, "all maps but the straggler", |s| {
        s.maps_done == total - 1
    })
    .await;
    // Stop the datanode, other than the straggler's, that ran the most maps: it runs nothing
    // now, and the reducers, which start when the straggler ends, must fetch from it.
    let attempts = map_attempts(markers.path());
    let straggler = attempts
        .iter()
        .find(|(attempt, _)| attempt.ends_with("_m_000000_0"))
        .map(|(_, &pid)| pid)
        .expect("the straggler started");
    let mut ran: BTreeMap<u32, usize> = BTreeMap::new();
    for &pid in attempts.values().filter(|&&pid| pid != straggler) {
        *ran.entry(pid).or_default() += 1;
    }
    let (victim, _) = ran
        .into_iter()
        .max_by_key(|&(pid, n)| (n, pid))
        .expect("a map ran beside the straggler");
    let stopped = cluster.stop_datanode(datanode_with_pid(&cluster, victim));
    let stopped_at = Instant::now();
    let at_stop = fs.job_status(&job.id).await.unwrap();
    assert_eq!(
        at_stop.phase,
        JobPhase::Map,
        "the straggler ended too soon: {at_stop:#?}"
    );

    let status = finish(&fs, &job.id).await;
    let took = stopped_at.elapsed();
    assert!(
        job_output(&fs, &status).await == reference,
        "the output differs"
    );
    // Before stall detection a fetch waited 60 s per try; the straggler's few seconds, one
    // 2 s stall and the re-run maps take far less.
    assert!(
        took < Duration::from_secs(50),
        "the job took {took:?} after the stop"
    );
    assert!(status.counters.failed_attempts >= 1, "{status:#?}");
    assert_eq!(status.counters.shuffle_checksum_failures, 0, "{status:#?}");
    // Every map the stopped datanode had run ran again on another datanode.
    let attempts = map_attempts(markers.path());
    for (attempt, _) in attempts.iter().filter(|(_, &pid)| pid == victim) {
        let map = attempt.rsplit_once('_').unwrap().0;
        assert!(
            attempts
                .iter()
                .any(|(a, &pid)| a.starts_with(&format!("{map}_"))
                    && a != attempt
                    && pid != victim),
            "{map} was not re-run elsewhere: {attempts:?}"
        );
    }
    drop(stopped);
}
