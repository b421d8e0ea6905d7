//! Lost executors, speculation, and what the state makes of the history it starts from.

use granary_client::protocol::{JobPhase, JobState, TaskKind};

use super::*;
use crate::tracker::history::{mark_interrupted, HistoryChange, JobRecord};

#[test]
fn a_lost_executor_reruns_its_attempts_and_the_map_outputs_still_needed() {
    let mut h = Harness::new(config());
    let splits = vec![
        split(0, &["dn-a"]),
        split(1, &["dn-a"]),
        split(2, &["dn-b"]),
    ];
    let job = h.submit("/out", splits, 1);
    let m0 = h.launch_one("dn-a", 0.0);
    let m2 = h.launch_one("dn-b", 0.0);
    h.succeed(&job, &m0, "dn-a", 1.0);
    h.succeed(&job, &m2, "dn-b", 1.0);
    let m1 = h.launch_one("dn-a", 1.0);
    h.poll("dn-a", 1, &[&m1], 2.0);
    // dn-b keeps polling; dn-a falls silent.
    h.poll("dn-b", 0, &[], 12.0);
    h.state.tick(h.at(11.5));
    assert_eq!(h.state.live_executors(h.at(11.5)), 2, "not yet");
    h.state.tick(h.at(12.0));
    assert_eq!(h.state.live_executors(h.at(12.0)), 1);
    let status = h.status(&job, 12.0);
    assert_eq!(status.maps_done, 1, "map 0's output was on dn-a");
    assert_eq!(status.counters.failed_attempts, 1);
    let idx = h.state.job_index(&job).unwrap();
    assert_eq!(
        h.state.jobs[idx].maps[1].failures, 0,
        "a lost node is not the task's fault"
    );

    let answer = h.poll("dn-b", 2, &[], 12.0);
    let mut rerun: Vec<u32> = answer.launch.iter().map(|a| a.task.index).collect();
    rerun.sort_unstable();
    assert_eq!(rerun, [0, 1]);
    assert!(answer.launch.iter().all(|a| a.task.kind == TaskKind::Map));
    // The lost node comes back: what it still runs is killed.
    assert_eq!(h.poll("dn-a", 1, &[&m1], 13.0).kill, vec![m1]);
}

#[test]
fn a_datanode_declared_dead_loses_its_executor_at_once() {
    let mut h = Harness::new(config());
    let job = h.submit("/out", vec![split(0, &["dn-a"]), split(1, &["dn-a"])], 1);
    let m0 = h.launch_one("dn-a", 0.0);
    h.succeed(&job, &m0, "dn-a", 1.0);
    let m1 = h.launch_one("dn-a", 1.0);
    h.poll("dn-b", 0, &[], 1.0);
    // Long before executor_dead_after: the namenode says dn-a's datanode died.
    h.state.executor_died(&DatanodeId("dn-a".into()), h.at(1.5));
    assert_eq!(h.state.live_executors(h.at(1.5)), 1);
    let status = h.status(&job, 1.5);
    assert_eq!(status.maps_done, 0, "map 0's output died with dn-a");
    assert_eq!(
        status.counters.failed_attempts, 1,
        "map 1's running attempt"
    );
    let answer = h.poll("dn-b", 2, &[], 1.5);
    let mut rerun: Vec<u32> = answer.launch.iter().map(|a| a.task.index).collect();
    rerun.sort_unstable();
    assert_eq!(rerun, [0, 1]);
    // A second notice of the same death changes nothing.
    h.state.executor_died(&DatanodeId("dn-a".into()), h.at(1.6));
    assert_eq!(h.status(&job, 1.6).counters.failed_attempts, 1);
    drop(m1);
}

#[test]
fn finished_reduces_keep_their_map_outputs_unneeded() {
    let mut h = Harness::new(config());
    let job = h.submit("/out", vec![split(0, &["dn-a"])], 1);
    let m0 = h.launch_one("dn-a", 0.0);
    h.succeed(&job, &m0, "dn-a", 1.0);
    let r0 = h.launch_one("dn-b", 1.0);
    h.succeed(&job, &r0, "dn-b", 2.0);
    let commit = h.state.take_output_work(None, h.at(2.0));
    h.state.output_work_finished(&commit[0], Ok(()), h.at(2.0));
    assert_eq!(h.status(&job, 2.0).phase, JobPhase::Commit);
    h.poll("dn-b", 1, &[], 11.5);
    h.state.tick(h.at(11.5));
    assert_eq!(h.status(&job, 11.5).phase, JobPhase::Commit);
}

#[test]
fn succeeded_reduces_awaiting_their_commit_need_no_map_rerun() {
    let mut h = Harness::new(config());
    let job = h.submit("/out", vec![split(0, &["dn-a"])], 1);
    let m0 = h.launch_one("dn-a", 0.0);
    h.succeed(&job, &m0, "dn-a", 1.0);
    let r0 = h.launch_one("dn-b", 1.0);
    h.succeed(&job, &r0, "dn-b", 2.0);
    // dn-a, which served map 0's output, is lost before the reduce's part file is committed.
    h.poll("dn-b", 1, &[], 11.5);
    h.state.tick(h.at(11.5));
    assert_eq!(h.state.live_executors(h.at(11.5)), 1);
    let status = h.status(&job, 11.5);
    assert_eq!((status.phase, status.maps_done), (JobPhase::Reduce, 1));
    assert!(
        h.poll("dn-b", 1, &[], 11.5).launch.is_empty(),
        "no map to re-run"
    );
    let work = h.perform_work(12.0);
    assert!(
        matches!(
            work.as_slice(),
            [OutputWork::Commit { .. }, OutputWork::Finalize { .. }]
        ),
        "{work:?}"
    );
    assert_eq!(h.status(&job, 12.0).state, JobState::Succeeded);
}

#[test]
fn a_straggler_gets_one_backup_and_the_loser_is_killed() {
    let mut h = Harness::new(config());
    let splits = (0..4).map(|i| split(i, &["dn-a", "dn-b"])).collect();
    let job = h.submit("/out", splits, 1);
    let attempts = h.launch_all("dn-a", 4, 0.0);
    for attempt in &attempts[..3] {
        h.succeed(&job, attempt, "dn-a", 1.0);
    }
    let slow = &attempts[3];
    h.poll("dn-b", 0, &[], 1.0);
    h.state.tick(h.at(4.0));
    assert!(
        h.poll("dn-b", 1, &[], 4.0).launch.is_empty(),
        "too young to speculate"
    );
    // Half done after 6 s while the others took 1 s: a straggler.
    h.poll("dn-a", 4, &[slow], 6.0);
    h.state.tick(h.at(6.0));
    assert!(
        h.poll("dn-a", 4, &[slow], 6.0).launch.is_empty(),
        "not beside the original"
    );
    let backup = h.launch_one("dn-b", 6.0);
    assert!(backup.0.ends_with("_m_000003_1"));
    h.state.tick(h.at(7.0));
    assert!(
        h.poll("dn-b", 2, &[&backup], 7.0).launch.is_empty(),
        "only one backup"
    );
    assert_eq!(h.status(&job, 7.0).counters.speculative_attempts, 1);

    h.succeed(&job, &backup, "dn-b", 8.0);
    assert_eq!(h.poll("dn-a", 4, &[slow], 8.0).kill, vec![slow.clone()]);
    let status = h.status(&job, 8.0);
    assert_eq!(status.phase, JobPhase::Reduce);
    assert_eq!(status.maps_done, 4);
}

#[test]
fn a_straggler_gets_one_backup_however_many_slots_are_free() {
    let mut h = Harness::new(config());
    let splits = (0..3)
        .map(|i| split(i, &["dn-a", "dn-b", "dn-c"]))
        .collect();
    let job = h.submit("/out", splits, 1);
    let attempts = h.launch_all("dn-a", 3, 0.0);
    h.succeed(&job, &attempts[0], "dn-a", 1.0);
    h.succeed(&job, &attempts[1], "dn-a", 1.0);
    let slow = &attempts[2];
    h.poll("dn-a", 3, &[slow], 6.0);
    h.poll("dn-c", 0, &[], 6.0);
    h.state.tick(h.at(6.0));
    let backup = h.launch_one("dn-b", 6.0);
    assert!(
        h.poll("dn-c", 1, &[], 6.0).launch.is_empty(),
        "a second backup"
    );
    h.state.tick(h.at(7.0));
    assert!(
        h.poll("dn-c", 1, &[], 7.0).launch.is_empty(),
        "marked again while its backup runs"
    );
    assert_eq!(h.status(&job, 7.0).counters.speculative_attempts, 1);
    h.succeed(&job, &backup, "dn-b", 8.0);
    assert_eq!(h.status(&job, 8.0).phase, JobPhase::Reduce);
}

#[test]
fn backups_are_capped_at_a_tenth_of_the_slots() {
    let mut h = Harness::new(config());
    let splits = (0..10).map(|i| split(i, &["dn-a"])).collect();
    let job = h.submit("/out", splits, 1);
    let attempts = h.launch_all("dn-a", 10, 0.0);
    for attempt in &attempts[..7] {
        h.succeed(&job, attempt, "dn-a", 1.0);
    }
    // Three stragglers, 10 + 4 + 4 = 18 live slots: one backup at a time.
    let stragglers: Vec<&AttemptId> = attempts[7..].iter().collect();
    h.poll("dn-a", 10, &stragglers, 6.0);
    h.poll("dn-b", 0, &[], 6.0);
    h.poll("dn-c", 0, &[], 6.0);
    h.state.tick(h.at(6.0));
    let launched =
        h.poll("dn-b", 4, &[], 6.0).launch.len() + h.poll("dn-c", 4, &[], 6.0).launch.len();
    assert_eq!(launched, 1, "one backup in flight");
    h.state.tick(h.at(7.0));
    assert!(h.poll("dn-c", 4, &[], 7.0).launch.is_empty(), "still one");
    assert_eq!(h.status(&job, 7.0).counters.speculative_attempts, 1);
}

#[test]
fn a_job_submitted_with_no_speculation_gets_no_backup() {
    for (speculation, backups) in [(None, 1), (Some(false), 0)] {
        let mut h = Harness::new(config());
        let spec = JobSpec {
            speculation,
            ..wordcount("/out", 1)
        };
        let splits = (0..2).map(|i| split(i, &["dn-a", "dn-b"])).collect();
        let job = h.submit_spec(spec, splits);
        let launched = h.poll("dn-a", 2, &[], 0.0).launch;
        let (fast, slow) = (&launched[0].attempt, &launched[1].attempt);
        h.succeed(&job, fast, "dn-a", 1.0);
        h.poll("dn-a", 2, &[slow], 30.0);
        h.state.tick(h.at(30.0));
        let launched = h.poll("dn-b", 1, &[], 30.0).launch;
        assert_eq!(launched.len(), backups, "speculation {speculation:?}");
        let status = h.status(&job, 30.0);
        assert_eq!(status.counters.speculative_attempts, backups as u64);
    }
}

#[test]
fn speculation_waits_until_no_task_of_the_kind_is_pending() {
    let mut h = Harness::new(config());
    let splits = (0..3).map(|i| split(i, &["dn-a"])).collect();
    let job = h.submit("/out", splits, 1);
    let launched = h.poll("dn-a", 2, &[], 0.0).launch;
    let (fast, slow) = (&launched[0].attempt, &launched[1].attempt);
    h.succeed(&job, fast, "dn-a", 0.5);
    h.poll("dn-a", 2, &[slow], 9.0);
    h.state.tick(h.at(9.0));
    let idx = h.state.job_index(&job).unwrap();
    assert!(h.state.jobs[idx].maps.iter().all(|t| !t.wants_backup));
}

fn record(id: &str, state: JobState, submitted_ms: u64) -> JobRecord {
    let mut h = Harness::new(config());
    let job = h.submit("/old", vec![split(0, &["dn-a"])], 1);
    let mut status = h.status(&job, 0.0);
    status.id = JobId(id.into());
    status.state = state;
    status.submitted_ms = submitted_ms;
    JobRecord {
        status,
        request_id: RequestId(format!("req-{id}")),
        cleanup_pending: false,
    }
}

#[test]
fn a_job_running_before_a_restart_is_failed_and_its_output_removed() {
    let mut interrupted = record("job_1_0001", JobState::Running, 1);
    assert!(mark_interrupted(&mut interrupted, 50));
    let mut state = TrackerState::new(config(), 2, vec![interrupted]);
    let now = Instant::now();
    let status = state.status(&JobId("job_1_0001".into()), now).unwrap();
    assert_eq!(status.state, JobState::Failed);
    assert_eq!(status.error.as_deref(), Some(crate::tracker::INTERRUPTED));
    let work = state.take_output_work(None, now);
    assert_eq!(
        work,
        vec![OutputWork::RemoveOutput {
            job: JobId("job_1_0001".into()),
            output: FsPath::parse("/old").unwrap(),
        }]
    );
    let safe_mode = granary_client::Error::new(granary_client::ErrorKind::SafeMode, "safe mode");
    state.output_work_finished(&work[0], Err(safe_mode), now);
    assert_eq!(
        state.take_output_work(None, now),
        work,
        "retried until it succeeds"
    );
    state.output_work_finished(&work[0], Ok(()), now);
    let saved = state.take_history_changes();
    assert!(matches!(&saved[..], [HistoryChange::Save(r)] if !r.cleanup_pending));
    // A retried submission of that job gets it back.
    let by_request = state.by_request(&RequestId("req-job_1_0001".into()), now);
    assert_eq!(by_request.map(|s| s.state), Some(JobState::Failed));
}

#[test]
fn the_history_keeps_the_newest_finished_jobs() {
    let records = (1..=5)
        .map(|i| record(&format!("job_1_000{i}"), JobState::Succeeded, i))
        .collect();
    let config = TrackerConfig {
        max_history: 3,
        ..config()
    };
    let mut state = TrackerState::new(config, 2, records);
    let now = Instant::now();
    let kept: Vec<String> = state.list(now).jobs.into_iter().map(|s| s.id.0).collect();
    assert_eq!(kept, ["job_1_0005", "job_1_0004", "job_1_0003"]);
    let removed = state.take_history_changes();
    assert_eq!(removed.len(), 2);
    assert!(state.status(&JobId("job_1_0001".into()), now).is_err());
}

#[test]
fn a_retried_submission_gets_the_same_job() {
    let mut h = Harness::new(config());
    let job = h.submit("/out", vec![split(0, &["dn-a"])], 1);
    let idx = h.state.job_index(&job).unwrap();
    let request_id = h.state.jobs[idx].request_id.clone();
    let again = h.state.by_request(&request_id, h.at(1.0)).unwrap();
    assert_eq!(again.id, job);
    let err = h
        .state
        .status(&JobId("job_9_0009".into()), h.at(1.0))
        .unwrap_err();
    assert_eq!(err.message, "no such job: job_9_0009");
}
