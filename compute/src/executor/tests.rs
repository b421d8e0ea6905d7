//! The executor against the fake job tracker: failures are reported, kills stop attempts,
//! finished jobs lose their local output, and a late attempt never writes into their output.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use granary_client::protocol::*;
use granary_client::{BlockId, DatanodeId, FsPath};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::fake_tracker::{start_tracker, FakeTracker, INPUT, INPUT_BYTES};
use super::{spawn, ExecutorConfig, LocalBlocks};
use crate::task::InputReader;

mod checksum;
mod pool;

const JOB: &str = "job_1700000000000_0001";

struct NoBlocks;

impl LocalBlocks for NoBlocks {
    fn open(&self, _: BlockId, _: u64, _: u64) -> Option<io::Result<InputReader>> {
        None
    }
}

/// Holds the input file's one block.
struct InputBlock;

impl LocalBlocks for InputBlock {
    fn open(&self, block: BlockId, offset: u64, len: u64) -> Option<io::Result<InputReader>> {
        let (start, end) = (offset as usize, (offset + len) as usize);
        (block == BlockId(7)).then(|| {
            let bytes = INPUT_BYTES[start..end].to_vec();
            Ok(Box::new(io::Cursor::new(bytes)) as InputReader)
        })
    }
}

struct TestExecutor {
    task: JoinHandle<()>,
    shutdown: CancellationToken,
}

impl TestExecutor {
    async fn start(namenode: &str, work_dir: &Path) -> Self {
        Self::start_with(namenode, work_dir, Arc::new(NoBlocks)).await
    }

    async fn start_with(namenode: &str, work_dir: &Path, blocks: Arc<dyn LocalBlocks>) -> Self {
        let config = ExecutorConfig {
            namenode: namenode.to_string(),
            datanode: DatanodeId("dn-test".into()),
            addr: "127.0.0.1:9".parse().unwrap(),
            rack: DEFAULT_RACK.into(),
            slots: 2,
            poll_interval: Duration::from_millis(20),
            work_dir: work_dir.to_path_buf(),
            task_slowdown: 1.0,
            stall_timeout: Duration::from_secs(5),
        };
        let shutdown = CancellationToken::new();
        let task = spawn(config, blocks, shutdown.clone()).unwrap();
        TestExecutor { task, shutdown }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the executor stops at shutdown")
            .unwrap();
    }
}

/// Polls `condition` every 20 ms for up to 10 s.
async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting until {what}");
}

fn assignment(kind: TaskKind, index: u32, work: TaskWork) -> TaskAssignment {
    let job = JobId::parse(JOB).unwrap();
    let task = TaskId { kind, index };
    TaskAssignment {
        submitter: None,
        attempt: job.attempt_id(task, 0),
        job,
        task,
        program: JobProgram::Builtin(Builtin::Wordcount),
        reducers: 1,
        partitioner: Partitioner::Hash,
        sort_buffer: 1 << 20,
        top: None,
        output: FsPath::parse("/out").unwrap(),
        output_replication: None,
        work,
    }
}

fn reduce_of(map_at: std::net::SocketAddr) -> TaskAssignment {
    let job = JobId::parse(JOB).unwrap();
    let map = TaskId {
        kind: TaskKind::Map,
        index: 3,
    };
    let source = MapOutputLocation {
        map: 3,
        attempt: job.attempt_id(map, 0),
        datanode: DatanodeId("dn-other".into()),
        addr: map_at,
    };
    assignment(
        TaskKind::Reduce,
        0,
        TaskWork::Reduce {
            map_outputs: vec![source],
        },
    )
}

fn reports_of(tracker: &FakeTracker) -> HashMap<AttemptId, TaskOutcome> {
    let reports = tracker.reports.lock().unwrap();
    reports
        .iter()
        .map(|r| (r.attempt.clone(), r.outcome.clone()))
        .collect()
}

/// Waits until `attempt` is reported; its outcome.
async fn reported_outcome(tracker: &FakeTracker, attempt: &AttemptId) -> TaskOutcome {
    wait_until("the attempt is reported", || {
        tracker
            .reports
            .lock()
            .unwrap()
            .iter()
            .any(|r| &r.attempt == attempt)
    })
    .await;
    reports_of(tracker).remove(attempt).unwrap()
}

fn input_split() -> InputSplit {
    let length = INPUT_BYTES.len() as u64;
    InputSplit {
        file: FsPath::parse(INPUT).unwrap(),
        file_length: length,
        offset: 0,
        length,
        block: BlockId(7),
        locations: Vec::new(),
    }
}

#[tokio::test]
async fn a_failing_map_attempt_is_reported_and_cleaned_up() {
    let (url, tracker) = start_tracker().await;
    let work_dir = tempfile::tempdir().unwrap();
    let split = input_split();
    let map = assignment(TaskKind::Map, 0, TaskWork::Map { split });
    let attempt = map.attempt.clone();
    tracker.active_jobs.lock().unwrap().push(map.job.clone());
    tracker.launch.lock().unwrap().push(map);
    let executor = TestExecutor::start(&url, work_dir.path()).await;
    wait_until("the attempt is reported", || {
        !tracker.reports.lock().unwrap().is_empty()
    })
    .await;
    let reports = tracker.reports.lock().unwrap().clone();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].datanode, DatanodeId("dn-test".into()));
    assert!(
        matches!(&reports[0].outcome, TaskOutcome::Failed { error } if !error.contains('\n')),
        "{:?}",
        reports[0].outcome
    );
    assert!(!work_dir.path().join(JOB).join(&attempt.0).exists());
    // Once reported, the attempt leaves the running set.
    wait_until("a poll lists nothing running", || {
        tracker
            .last_poll
            .lock()
            .unwrap()
            .as_ref()
            .is_some_and(Vec::is_empty)
    })
    .await;
    executor.stop().await;
}

#[tokio::test]
async fn an_unreachable_map_output_is_a_fetch_failure() {
    let (url, tracker) = start_tracker().await;
    let work_dir = tempfile::tempdir().unwrap();
    let reduce = reduce_of("127.0.0.1:1".parse().unwrap());
    let attempt = reduce.attempt.clone();
    tracker.launch.lock().unwrap().push(reduce);
    let executor = TestExecutor::start(&url, work_dir.path()).await;
    let outcome = reported_outcome(&tracker, &attempt).await;
    let map_attempt = JobId::parse(JOB).unwrap().attempt_id(
        TaskId {
            kind: TaskKind::Map,
            index: 3,
        },
        0,
    );
    match outcome {
        TaskOutcome::FetchFailed {
            map,
            attempt,
            error,
            cause,
        } => {
            assert_eq!((map, attempt), (3, map_attempt));
            assert_eq!(cause, FetchFailureCause::Unavailable);
            assert!(error.contains("127.0.0.1:1"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    executor.stop().await;
}

#[tokio::test]
async fn a_kill_stops_a_running_attempt() {
    // A shuffle server that accepts connections and never answers: the fetch hangs.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        for _ in 0..10 {
            if let Ok((socket, _)) = silent.accept().await {
                held.push(socket);
            }
        }
    });
    let (url, tracker) = start_tracker().await;
    let work_dir = tempfile::tempdir().unwrap();
    let reduce = reduce_of(silent_addr);
    let attempt = reduce.attempt.clone();
    tracker.launch.lock().unwrap().push(reduce);
    let executor = TestExecutor::start(&url, work_dir.path()).await;
    wait_until("a poll lists the attempt as running", || {
        tracker
            .last_poll
            .lock()
            .unwrap()
            .as_ref()
            .is_some_and(|r| r.contains(&attempt))
    })
    .await;
    assert!(tracker.reports.lock().unwrap().is_empty());
    tracker.kill.lock().unwrap().push(attempt.clone());
    let killed = TaskOutcome::Failed {
        error: "killed".into(),
    };
    assert_eq!(reported_outcome(&tracker, &attempt).await, killed);
    assert!(!work_dir.path().join(JOB).join(&attempt.0).exists());
    executor.stop().await;
}

#[tokio::test]
async fn only_active_jobs_keep_their_local_output() {
    let (url, tracker) = start_tracker().await;
    let work_dir = tempfile::tempdir().unwrap();
    let (finished, active) = ("job_1700000000000_0001", "job_1700000000000_0002");
    for dir in [finished, active, "not-a-job"] {
        let attempt_dir = work_dir.path().join(dir).join("attempt_x");
        std::fs::create_dir_all(&attempt_dir).unwrap();
        std::fs::write(attempt_dir.join("map.out"), b"x").unwrap();
    }
    tracker
        .active_jobs
        .lock()
        .unwrap()
        .push(JobId::parse(active).unwrap());
    let executor = TestExecutor::start(&url, work_dir.path()).await;
    wait_until("the finished job's output is removed", || {
        !work_dir.path().join(finished).exists()
    })
    .await;
    assert!(work_dir.path().join(active).join("attempt_x").exists());
    assert!(work_dir.path().join("not-a-job").exists());
    executor.stop().await;
}

#[tokio::test]
async fn an_attempt_whose_job_is_over_writes_nothing_and_ends_as_killed() {
    let (url, tracker) = start_tracker().await;
    let work_dir = tempfile::tempdir().unwrap();
    let mut map = assignment(
        TaskKind::Map,
        0,
        TaskWork::Map {
            split: input_split(),
        },
    );
    map.reducers = 0;
    let attempt = map.attempt.clone();
    tracker.launch.lock().unwrap().push(map);
    let executor = TestExecutor::start_with(&url, work_dir.path(), Arc::new(InputBlock)).await;
    let killed = TaskOutcome::Failed {
        error: "killed".into(),
    };
    assert_eq!(reported_outcome(&tracker, &attempt).await, killed);
    // Only the attempt's own directory was asked for, without its missing parents, and no
    // file was created once that failed.
    let mkdirs = tracker.mkdirs.lock().unwrap().clone();
    assert_eq!(mkdirs.len(), 1);
    let expected = format!("/out/_temporary/{}", attempt.0);
    assert_eq!(
        (mkdirs[0].path.as_str(), mkdirs[0].parents),
        (expected.as_str(), false)
    );
    assert!(tracker.creates.lock().unwrap().is_empty());
    assert!(!work_dir.path().join(JOB).join(&attempt.0).exists());
    executor.stop().await;
}
