//! A map's output damaged on disk after the map finished: the reducer's fetch notices and
//! reports a checksum mismatch for that map, and the output of the map's next attempt fetches
//! clean. Real executor, real shuffle server, both on 127.0.0.1.

use std::net::SocketAddr;

use super::*;
use crate::shuffle;
use crate::task::MAP_OUTPUT_FILE;

async fn serve_shuffle(work_dir: &Path) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = shuffle::router(work_dir.to_path_buf());
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Attempt `number` of map 3, the map [`reduce_of`] fetches from.
fn map_attempt(number: u32) -> TaskAssignment {
    let split = input_split();
    let mut map = assignment(TaskKind::Map, 3, TaskWork::Map { split });
    map.attempt = map.job.attempt_id(map.task, number);
    map
}

async fn run_map(tracker: &FakeTracker, number: u32) -> AttemptId {
    let map = map_attempt(number);
    let attempt = map.attempt.clone();
    tracker.launch.lock().unwrap().push(map);
    let outcome = reported_outcome(tracker, &attempt).await;
    assert!(
        matches!(outcome, TaskOutcome::Succeeded { .. }),
        "{outcome:?}"
    );
    attempt
}

#[tokio::test]
async fn a_damaged_map_output_fails_the_fetch_as_a_checksum_mismatch() {
    let (url, tracker) = start_tracker().await;
    let work_dir = tempfile::tempdir().unwrap();
    tracker
        .active_jobs
        .lock()
        .unwrap()
        .push(JobId::parse(JOB).unwrap());
    let shuffle_at = serve_shuffle(work_dir.path()).await;
    let executor = TestExecutor::start_with(&url, work_dir.path(), Arc::new(InputBlock)).await;

    let first = run_map(&tracker, 0).await;
    let out = work_dir
        .path()
        .join(JOB)
        .join(&first.0)
        .join(MAP_OUTPUT_FILE);
    let mut bytes = std::fs::read(&out).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&out, bytes).unwrap();

    let reduce = reduce_of(shuffle_at);
    let reducer = reduce.attempt.clone();
    tracker.launch.lock().unwrap().push(reduce);
    match reported_outcome(&tracker, &reducer).await {
        TaskOutcome::FetchFailed {
            map,
            attempt,
            error,
            cause,
        } => {
            assert_eq!(
                (map, &attempt, cause),
                (3, &first, FetchFailureCause::ChecksumMismatch)
            );
            assert!(error.contains("CRC32C"), "{error}");
        }
        other => panic!("{other:?}"),
    }

    // The re-run map's output is whole: the next reducer attempt fetches and reduces it, and
    // gets as far as its upload (which the fake namespace refuses, as for a job that is over).
    let second = run_map(&tracker, 1).await;
    let mut reduce = reduce_of(shuffle_at);
    reduce.attempt = reduce.job.attempt_id(reduce.task, 1);
    let TaskWork::Reduce { map_outputs } = &mut reduce.work else {
        unreachable!("reduce_of is a reduce");
    };
    map_outputs[0].attempt = second;
    let reducer = reduce.attempt.clone();
    tracker.launch.lock().unwrap().push(reduce);
    let killed = TaskOutcome::Failed {
        error: "killed".into(),
    };
    assert_eq!(reported_outcome(&tracker, &reducer).await, killed);
    let mkdirs = tracker.mkdirs.lock().unwrap().clone();
    let uploaded_to = format!("/out/_temporary/{}", reducer.0);
    assert!(
        mkdirs.iter().any(|m| m.path.as_str() == uploaded_to),
        "{mkdirs:?}"
    );
    executor.stop().await;
}
