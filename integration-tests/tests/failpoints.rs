//! Crashes at every durable step (ARCHITECTURE.md, "Failpoints"): one daemon is restarted with
//! `FAILPOINTS=<point>=panic`, the test drives the operation that reaches the point until the
//! daemon has crashed, restarts it without the failpoint, and checks that every acknowledged
//! write is there with its exact bytes, the write in flight is wholly there or wholly absent,
//! and the cluster is healthy again. Needs daemons built with the failpoints compiled in
//! (`scripts/test.sh` builds them so).

#[path = "failpoints/check.rs"]
mod check;
#[path = "failpoints/jobs.rs"]
mod jobs;

use std::time::Duration;

use check::{
    data_files_without_sidecar, impatient_client, known_blocks, p, replica_ids, temp_files,
    wait_healthy, Written, HEAL_TIMEOUT,
};
use granary_client::protocol::{FileKind, JobState};
use granary_client::{ErrorKind, Granary, PutOptions};
use granary_integration_tests::{ClusterSpec, Daemon, TestCluster};
use jobs::{
    check_counts, job_cluster, output_parts, run, slow_identity, word_counts, wordcount,
    JOB_TIMEOUT,
};

const START_TIMEOUT: Duration = Duration::from_secs(30);
/// The datanode that crashes in the datanode tests.
const VICTIM: Daemon = Daemon::Datanode(2);

/// A 3-datanode cluster (replication 3, 1 MiB blocks) with two files acknowledged before any
/// failpoint is armed, one of them spanning blocks.
async fn cluster_with_files() -> (TestCluster, Granary, Written) {
    let cluster = TestCluster::start(ClusterSpec::default());
    let fs = impatient_client(&cluster);
    let mut written = Written::default();
    written.put_all(&fs, "/before", 2, 1_500_000).await;
    (cluster, fs, written)
}

/// Crashes the namenode at `point` while files are written, restarts it, and checks the files.
async fn namenode_crash(point: &str, extra_env: &[(&str, &str)]) -> (TestCluster, Written) {
    let (cluster, fs, mut written) = cluster_with_files().await;
    let failpoints = format!("{point}=panic");
    let mut env = vec![("FAILPOINTS", failpoints.as_str())];
    env.extend_from_slice(extra_env);
    cluster.restart(Daemon::Namenode, &env);
    cluster.wait_writable(START_TIMEOUT);
    written
        .put_until_crash(
            &cluster,
            &fs,
            (Daemon::Namenode, point),
            "/during",
            40,
            100_000,
        )
        .await;
    cluster.restart(Daemon::Namenode, &[]);
    cluster.wait_writable(START_TIMEOUT);
    written.verify(&fs).await;
    wait_healthy(&cluster);
    (cluster, written)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namenode_crash_before_a_journal_append_loses_nothing_acknowledged() {
    let (cluster, written) = namenode_crash("journal::append", &[]).await;
    // The first change after the restart (the create of the first file) never reached the
    // journal: it is gone, so the same path can be written again.
    written.assert_in_flight(&cluster.client(), false).await;
    let (path, data) = &written.unacked[0];
    let fs = cluster.client();
    let options = PutOptions {
        create_parents: true,
        ..PutOptions::default()
    };
    fs.put_bytes(data, path, &options).await.unwrap();
    assert!(fs.read_to_vec(path).await.unwrap() == *data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namenode_crash_before_the_journal_fdatasync_loses_nothing_acknowledged() {
    // The record was written but not synced: a process crash keeps it in the page cache, so
    // the restart replays the create. The file is open, empty, leased to its writer (with a
    // fresh soft limit after the restart): another writer is refused.
    let (cluster, written) = namenode_crash("journal::fdatasync", &[]).await;
    written.assert_in_flight_open(&cluster.client()).await;
    let (path, data) = &written.unacked[0];
    let options = PutOptions {
        create_parents: true,
        ..PutOptions::default()
    };
    let err = cluster
        .client()
        .put_bytes(data, path, &options)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::LeaseHeld, "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namenode_crash_after_complete_is_durable_keeps_the_whole_file() {
    // The complete was journaled before the crash, so the file is there, whole, although
    // its writer never heard so.
    let (cluster, written) = namenode_crash("complete::before_ack", &[]).await;
    assert!(written.acked.len() == 2, "the first put reached the point");
    written.assert_in_flight(&cluster.client(), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namenode_killed_while_group_commits_sync_loses_nothing_acknowledged() {
    let (cluster, fs, written) = cluster_with_files().await;
    // Every fdatasync takes 200 ms longer, so concurrent mkdirs pile up into each group and
    // the kill lands while a group is being synced.
    cluster.restart(
        Daemon::Namenode,
        &[("FAILPOINTS", "journal::fdatasync=sleep(200)")],
    );
    cluster.wait_writable(START_TIMEOUT);
    let writers: Vec<_> = (0..16)
        .map(|writer| {
            let fs = fs.clone();
            tokio::spawn(async move {
                let (mut acked, mut failed) = (Vec::new(), None);
                for i in 0..1000 {
                    let dir = p(&format!("/groups/w{writer:02}/d{i:04}"));
                    match fs.mkdir(&dir, true).await {
                        Ok(_) => acked.push(dir),
                        Err(_) => {
                            failed = Some(dir);
                            break;
                        }
                    }
                }
                (acked, failed)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster.kill_namenode();
    let mut results = Vec::new();
    for writer in writers {
        let joined = tokio::time::timeout(Duration::from_secs(30), writer).await;
        results.push(joined.expect("writer ends").unwrap());
    }
    cluster.restart(Daemon::Namenode, &[]);
    cluster.wait_writable(START_TIMEOUT);
    let acked: usize = results.iter().map(|(acked, _)| acked.len()).sum();
    assert!(
        acked >= 16,
        "too few mkdirs acknowledged before the kill: {acked}"
    );
    for (acked, failed) in &results {
        for dir in acked {
            assert!(fs.try_stat(dir).await.unwrap().is_some(), "{dir} lost");
        }
        let failed = failed
            .as_ref()
            .expect("the kill failed a mkdir of each writer");
        // Absent, or there whole (a directory, as asked): never anything else.
        if let Some(status) = fs.try_stat(failed).await.unwrap() {
            assert_eq!(status.kind, FileKind::Directory);
        }
    }
    written.verify(&fs).await;
    wait_healthy(&cluster);
}

/// A namenode that checkpoints every 200 ms into 4 KiB journal segments, so every checkpoint
/// step (and the retirement of full segments) is reached within a few writes.
async fn checkpoint_crash(point: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("namenode.toml");
    std::fs::write(
        &config,
        "checkpoint_interval = \"200ms\"\njournal_segment_size = 4096\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let (_cluster, written) = namenode_crash(point, &[("GRANARY_NAMENODE_CONFIG", config)]).await;
    assert!(!written.acked.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namenode_crash_before_a_checkpoint_applies_records_loses_nothing() {
    checkpoint_crash("checkpoint::before_apply").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namenode_crash_before_the_checkpoint_sled_flush_loses_nothing() {
    checkpoint_crash("checkpoint::before_sled_flush").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namenode_crash_before_retiring_journal_segments_loses_nothing() {
    checkpoint_crash("checkpoint::before_retire").await;
}

/// Crashes datanode 2 (in every pipeline: replication 3 on 3 nodes) at `point` while files are
/// written; `after_crash` looks at its data directory before it is restarted. Every put
/// recovers around the dead node, so all are acknowledged; after the restart nothing partial
/// is left on its disk and every block is fully replicated again.
async fn datanode_crash(
    point: &str,
    after_crash: impl FnOnce(&std::path::Path),
) -> (TestCluster, Granary, Written) {
    let (cluster, fs, mut written) = cluster_with_files().await;
    let failpoints = format!("{point}=panic");
    cluster.restart(VICTIM, &[("FAILPOINTS", &failpoints)]);
    written
        .put_until_crash(&cluster, &fs, (VICTIM, point), "/during", 20, 300_000)
        .await;
    assert!(
        written.unacked.is_empty(),
        "a put failed: the pipeline did not recover"
    );
    let data_dir = cluster.datanode(2).data_dir;
    after_crash(&data_dir);
    cluster.restart(VICTIM, &[]);
    written.verify(&fs).await;
    wait_healthy(&cluster);
    assert_eq!(data_files_without_sidecar(&data_dir), Vec::<String>::new());
    assert_eq!(temp_files(&data_dir), 0, "tmp/ is cleared at start-up");
    (cluster, fs, written)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datanode_crash_before_the_replica_fsync_leaves_no_replica() {
    datanode_crash("replica::fsync", |dir| {
        assert!(temp_files(dir) > 0, "the replica was being written in tmp/");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datanode_crash_between_the_replica_renames_leaves_no_replica() {
    datanode_crash("replica::rename", |dir| {
        assert!(
            !data_files_without_sidecar(dir).is_empty(),
            "the data file was renamed, its sidecar not"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datanode_crash_before_the_pipeline_ack_loses_nothing() {
    let (cluster, fs, written) = datanode_crash("pipeline::ack", |_| {}).await;
    // The crash came after a replica was finalized, before its ack: when that was a client's
    // pipeline, the put went on with another block, and the victim's replica of the abandoned
    // one is deleted once it reports it. Nothing the namenode does not know stays.
    let known = known_blocks(&fs, &written).await;
    let data_dir = cluster.datanode(2).data_dir;
    cluster.wait_for("replicas of abandoned blocks deleted", HEAL_TIMEOUT, || {
        replica_ids(&data_dir).is_subset(&known)
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datanode_crash_at_a_map_output_commit_reruns_the_map_and_the_job_succeeds() {
    let (cluster, fs, text) = job_cluster().await;
    cluster.restart(VICTIM, &[("FAILPOINTS", "map::output_commit=panic")]);
    let id = fs.submit_job(slow_identity("/out", 2)).await.unwrap().id;
    cluster.wait_crashed_at(VICTIM, "map::output_commit", JOB_TIMEOUT);
    let status = tokio::time::timeout(
        JOB_TIMEOUT,
        fs.wait_for_job(&id, Duration::from_millis(100), |_| {}),
    )
    .await
    .expect("job ends")
    .unwrap();
    assert_eq!(status.state, JobState::Succeeded, "{status:#?}");
    assert!(status.counters.failed_attempts >= 1, "{status:#?}");
    let parts = output_parts(&fs, "/out", 2).await;
    let mut lines: Vec<&[u8]> = Vec::new();
    for part in &parts {
        let part_lines: Vec<&[u8]> = part
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert!(
            part_lines.windows(2).all(|w| w[0] <= w[1]),
            "a part file is not sorted"
        );
        lines.extend(part_lines);
    }
    let mut expected: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    expected.sort_unstable();
    lines.sort_unstable();
    assert!(
        lines == expected,
        "the output lines are not the input lines"
    );
    cluster.restart(VICTIM, &[]);
    wait_healthy(&cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namenode_crash_between_output_renames_fails_the_job_and_removes_its_output() {
    let (cluster, fs, text) = job_cluster().await;
    let reference = word_counts(&text);
    // The first part file is committed, the crash comes at the second.
    cluster.restart(
        Daemon::Namenode,
        &[("FAILPOINTS", "job::output_rename=1*off->panic")],
    );
    cluster.wait_writable(START_TIMEOUT);
    let id = fs.submit_job(wordcount("/out", 3)).await.unwrap().id;
    cluster.wait_crashed_at(Daemon::Namenode, "job::output_rename", JOB_TIMEOUT);
    cluster.restart(Daemon::Namenode, &[]);
    // Never a complete-looking output: the job is failed, and its partial output goes.
    let status = fs.job_status(&id).await.unwrap();
    assert_eq!(status.state, JobState::Failed, "{status:#?}");
    assert!(fs.try_stat(&p("/out/_SUCCESS")).await.unwrap().is_none());
    cluster.wait_writable(START_TIMEOUT);
    cluster.wait_for("the partial output removed", START_TIMEOUT, || {
        cluster.granary(&["fs", "stat", "/out"]).code != Some(0)
    });
    // Run again, the job succeeds.
    let status = run(&fs, wordcount("/out", 3)).await;
    assert_eq!(status.state, JobState::Succeeded, "{status:#?}");
    check_counts(&fs, "/out", 3, &reference).await;
    wait_healthy(&cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_refuses_to_start_with_malformed_failpoints() {
    let cluster = TestCluster::start(ClusterSpec {
        datanodes: 1,
        replication: 1,
        // The stopped datanode is declared dead soon even if its lifeline missed the stop.
        dead_after: "3s",
        ..ClusterSpec::default()
    });
    cluster.stop(Daemon::Namenode);
    let out = cluster.cluster_cmd_with_env(&["up"], &[("FAILPOINTS", "journal::append=explode")]);
    assert!(!out.success, "started with an unknown action");
    let log = std::fs::read_to_string(cluster.dir.path().join("logs/namenode.log")).unwrap();
    assert!(
        log.contains("failpoint journal::append=explode: unrecognized command"),
        "{log}"
    );
    // Without it, the same namenode starts and serves its namespace.
    cluster.up();
    cluster.wait_writable(START_TIMEOUT);
    cluster.client().mkdir(&p("/ok"), false).await.unwrap();

    // A datanode too: it exits at once, and starts without it.
    let datanode = Daemon::Datanode(0);
    let id = cluster.datanode_id(0);
    cluster.stop(datanode);
    // Until the namenode sees it gone, `up` would take the old registration for the new one.
    cluster.wait_for("datanode 0 dead", START_TIMEOUT, || {
        cluster.datanode_state(&id) == "dead"
    });
    let out = cluster.cluster_cmd_with_env(&["up"], &[("FAILPOINTS", "replica::fsync=explode")]);
    assert!(!out.success, "a datanode started with an unknown action");
    assert!(!cluster.is_running(datanode));
    let log = std::fs::read_to_string(cluster.dir.path().join("logs/datanode-0.log")).unwrap();
    assert!(
        log.contains("failpoint replica::fsync=explode: unrecognized command"),
        "{log}"
    );
    cluster.up();
    let fs = cluster.client();
    let options = PutOptions {
        replication: Some(1),
        ..PutOptions::default()
    };
    fs.put_bytes(b"stored", &p("/ok/f"), &options)
        .await
        .unwrap();
    assert_eq!(fs.read_to_vec(&p("/ok/f")).await.unwrap(), b"stored");
}
