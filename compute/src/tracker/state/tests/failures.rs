//! Failed, lost and fetch-failed attempts; retries, avoided nodes, failed jobs, kills.

use granary_client::protocol::{FetchFailureCause, JobPhase, JobState, TaskKind, TaskWork};
use granary_client::{Error, ErrorKind};

use super::*;

#[test]
fn a_task_is_retried_up_to_max_attempts_then_the_job_fails() {
    let mut h = Harness::new(config());
    let job = h.submit("/out", vec![split(0, &["dn-a"])], 1);
    for n in 0..4 {
        let attempt = h.launch_one("dn-a", n as f64);
        assert!(attempt.0.ends_with(&format!("_m_000000_{n}")), "{attempt}");
        h.fail(&job, &attempt, "dn-a", n as f64 + 0.5);
    }
    let status = h.status(&job, 5.0);
    assert_eq!(status.state, JobState::Failed);
    assert_eq!(
        status.error.as_deref(),
        Some(
            "task m_000000 (/in/a.log bytes 0+100) failed 4 attempts; \
             last error: command `false` exited with status 1"
        )
    );
    assert_eq!(status.counters.failed_attempts, 4);
    let work = h.perform_work(5.0);
    assert_eq!(
        work,
        vec![OutputWork::RemoveOutput {
            job: job.clone(),
            output: FsPath::parse("/out").unwrap(),
        }]
    );
    assert!(h.perform_work(6.0).is_empty(), "the cleanup is done once");
}

#[test]
fn a_failed_task_avoids_the_executor_it_failed_on() {
    let mut h = Harness::new(config());
    let job = h.submit("/out", vec![split(0, &["dn-a", "dn-b"])], 1);
    h.poll("dn-b", 0, &[], 0.0);
    let first = h.launch_one("dn-a", 0.0);
    h.fail(&job, &first, "dn-a", 1.0);
    assert!(h.poll("dn-a", 1, &[], 1.0).launch.is_empty());
    let retry = h.launch_one("dn-b", 1.0);
    assert!(retry.0.ends_with("_m_000000_1"));
}

#[test]
fn the_only_executor_still_gets_the_retry() {
    let mut h = Harness::new(config());
    let job = h.submit("/out", vec![split(0, &["dn-a"])], 1);
    let first = h.launch_one("dn-a", 0.0);
    h.fail(&job, &first, "dn-a", 1.0);
    h.launch_one("dn-a", 1.0);
}

#[test]
fn an_executor_failing_a_job_repeatedly_gets_none_of_its_tasks() {
    let mut h = Harness::new(config());
    let splits = (0..4).map(|i| split(i, &["dn-a", "dn-b"])).collect();
    let job = h.submit("/out", splits, 1);
    h.poll("dn-b", 0, &[], 0.0);
    for _ in 0..3 {
        let attempt = h.launch_one("dn-a", 0.0);
        h.fail(&job, &attempt, "dn-a", 0.0);
    }
    assert!(
        h.poll("dn-a", 1, &[], 0.0).launch.is_empty(),
        "barred from the job"
    );
    h.launch_one("dn-b", 0.0);
}

#[test]
fn an_attempt_the_executor_never_ran_is_lost_and_rerun() {
    let mut h = Harness::new(config());
    let job = h.submit("/out", vec![split(0, &["dn-a"])], 1);
    let sent = h.launch_one("dn-a", 0.0);
    // The next poll neither lists the attempt nor follows a report of it.
    let answer = h.poll("dn-a", 1, &[], 1.0);
    assert_eq!(answer.launch.len(), 1);
    assert_eq!(
        answer.launch[0].attempt,
        job.attempt_id(answer.launch[0].task, 1)
    );
    let status = h.status(&job, 1.0);
    assert_eq!(status.counters.failed_attempts, 1);
    // A late report of the lost attempt changes nothing.
    h.succeed(&job, &sent, "dn-a", 2.0);
    assert_eq!(h.status(&job, 2.0).maps_done, 0);
}

#[test]
fn a_fetch_failure_reruns_the_map_without_counting_against_the_reducer() {
    let mut h = Harness::new(config());
    let job = h.submit("/out", vec![split(0, &["dn-a"]), split(1, &["dn-b"])], 1);
    let m0 = h.launch_one("dn-a", 0.0);
    let m1 = h.launch_one("dn-b", 0.0);
    h.succeed(&job, &m0, "dn-a", 1.0);
    h.succeed(&job, &m1, "dn-b", 1.0);
    let r0 = h.launch_one("dn-b", 2.0);
    let outcome = TaskOutcome::FetchFailed {
        map: 0,
        attempt: m0.clone(),
        error: "connection refused".into(),
        cause: FetchFailureCause::Unavailable,
    };
    h.report(&job, &r0, "dn-b", outcome, 3.0);
    let status = h.status(&job, 3.0);
    assert_eq!(status.phase, JobPhase::Map);
    assert_eq!(status.maps_done, 1);

    assert!(
        h.poll("dn-a", 1, &[], 3.0).launch.is_empty(),
        "the map avoids the node its output was lost on"
    );
    let rerun = h.poll("dn-b", 1, &[], 3.0).launch.remove(0);
    assert_eq!(rerun.task.kind, TaskKind::Map);
    assert_eq!(rerun.task.index, 0);
    h.succeed(&job, &rerun.attempt, "dn-b", 4.0);
    let reduce = h.poll("dn-a", 1, &[], 4.0).launch.remove(0);
    let TaskWork::Reduce { map_outputs } = &reduce.work else {
        panic!("not a reduce");
    };
    assert_eq!(map_outputs[0].attempt, rerun.attempt);
    let state = &h.state;
    let idx = state.job_index(&job).unwrap();
    assert_eq!(
        state.jobs[idx].reduces[0].failures, 0,
        "not the reducer's fault"
    );
    assert_eq!(state.jobs[idx].maps[0].failures, 1);
}

#[test]
fn a_stale_fetch_failure_only_requeues_the_reducer() {
    let mut h = Harness::new(config());
    let job = h.submit("/out", vec![split(0, &["dn-a"])], 1);
    let m0 = h.launch_one("dn-a", 0.0);
    h.succeed(&job, &m0, "dn-a", 1.0);
    let r0 = h.launch_one("dn-a", 1.0);
    let stale = TaskOutcome::FetchFailed {
        map: 0,
        attempt: AttemptId("attempt_1_0001_m_000000_7".into()),
        error: "gone".into(),
        cause: FetchFailureCause::Unavailable,
    };
    h.report(&job, &r0, "dn-a", stale, 2.0);
    assert_eq!(h.status(&job, 2.0).phase, JobPhase::Reduce);
    assert_eq!(
        h.launch_one("dn-a", 2.0).0,
        job.attempt_id(reduce_task(), 1).0
    );
}

fn reduce_task() -> granary_client::protocol::TaskId {
    granary_client::protocol::TaskId {
        kind: TaskKind::Reduce,
        index: 0,
    }
}

#[test]
fn a_commit_that_fails_for_good_fails_the_attempt_and_a_transient_one_is_retried() {
    let mut h = Harness::new(config());
    let job = h.submit("/out", vec![split(0, &["dn-a"])], 0);
    let m0 = h.launch_one("dn-a", 0.0);
    h.succeed(&job, &m0, "dn-a", 1.0);
    let work = h.state.take_output_work(None, h.at(1.0));
    assert_eq!(work.len(), 1);
    assert!(
        h.state.take_output_work(None, h.at(1.0)).is_empty(),
        "in flight"
    );
    let safe_mode = Error::new(ErrorKind::SafeMode, "in safe mode");
    h.state
        .output_work_finished(&work[0], Err(safe_mode), h.at(1.0));
    let again = h.state.take_output_work(None, h.at(2.0));
    assert_eq!(again, work, "retried");
    let missing = Error::not_found("no such file");
    h.state
        .output_work_finished(&again[0], Err(missing), h.at(2.0));
    let status = h.status(&job, 2.0);
    assert_eq!(status.counters.failed_attempts, 1);
    let retry = h.launch_one("dn-a", 2.0);
    assert!(retry.0.ends_with("_m_000000_1"));
}

#[test]
fn killing_a_job_kills_its_attempts_and_removes_its_output() {
    let mut h = Harness::new(config());
    let job = h.submit("/out", vec![split(0, &["dn-a"])], 1);
    let m0 = h.launch_one("dn-a", 0.0);
    let status = h.state.kill(&job, h.at(1.0)).unwrap();
    assert_eq!(status.state, JobState::Killed);
    assert_eq!(status.error.as_deref(), Some("killed by user"));
    let answer = h.poll("dn-a", 1, &[&m0], 1.5);
    assert_eq!(answer.kill, vec![m0]);
    assert!(answer.launch.is_empty());
    assert!(matches!(
        h.perform_work(2.0).as_slice(),
        [OutputWork::RemoveOutput { .. }]
    ));
    let again = h.state.kill(&job, h.at(3.0)).unwrap();
    assert_eq!(again, status, "a finished job is left as it is");
}

#[test]
fn a_checksum_mismatch_reruns_the_map_and_is_counted() {
    let mut h = Harness::new(config());
    let job = h.submit("/out", vec![split(0, &["dn-a"]), split(1, &["dn-b"])], 2);
    let m0 = h.launch_one("dn-a", 0.0);
    let m1 = h.launch_one("dn-b", 0.0);
    h.succeed(&job, &m0, "dn-a", 1.0);
    h.succeed(&job, &m1, "dn-b", 1.0);
    let r0 = h.launch_one("dn-b", 2.0);
    let r1 = h.launch_one("dn-a", 2.0);
    let corrupt = || TaskOutcome::FetchFailed {
        map: 1,
        attempt: m1.clone(),
        error: "the segment's CRC32C is 00000001; the map wrote 00000002".into(),
        cause: FetchFailureCause::ChecksumMismatch,
    };
    h.report(&job, &r0, "dn-b", corrupt(), 3.0);
    let status = h.status(&job, 3.0);
    assert_eq!((status.phase, status.maps_done), (JobPhase::Map, 1));
    assert_eq!(status.counters.shuffle_checksum_failures, 1);
    // The second reducer met the same damage: counted too, though the map already re-runs.
    h.report(&job, &r1, "dn-a", corrupt(), 3.5);
    let status = h.status(&job, 3.5);
    assert_eq!(status.counters.shuffle_checksum_failures, 2);
    assert_eq!(status.maps_done, 1, "map 1 runs again");
}
