//! Placement: data-local first, delay scheduling, the reduce phase, assignments' contents.

use granary_client::protocol::{JobPhase, JobState, TaskKind, TaskWork};

use super::*;

#[test]
fn a_slot_takes_a_map_whose_block_it_holds() {
    let mut h = Harness::new(config());
    let job = h.submit("/out", vec![split(0, &["dn-a"]), split(1, &["dn-b"])], 1);
    let answer = h.poll("dn-b", 1, &[], 0.0);
    assert_eq!(answer.launch.len(), 1);
    let TaskWork::Map { split } = &answer.launch[0].work else {
        panic!("not a map: {:?}", answer.launch[0]);
    };
    assert_eq!(split.offset, 100, "dn-b holds split 1");
    assert_eq!(answer.active_jobs, vec![job]);
}

#[test]
fn delay_scheduling_waits_for_locality_then_relaxes_it() {
    let mut h = Harness::new(config());
    let job = h.submit("/out", vec![split(0, &["dn-a"]), split(1, &["dn-a"])], 1);
    // dn-a holds both splits but has no free slot; dn-b shares its rack, dn-c-r2 does not.
    h.poll("dn-a", 0, &[], 0.0);
    assert!(h.poll("dn-b", 1, &[], 0.0).launch.is_empty());
    assert!(h.poll("dn-c-r2", 1, &[], 0.0).launch.is_empty());
    assert!(h.poll("dn-b", 1, &[], 2.9).launch.is_empty());

    h.poll("dn-a", 0, &[], 3.0);
    assert!(
        h.poll("dn-c-r2", 1, &[], 3.0).launch.is_empty(),
        "not yet for another rack"
    );
    let rack_local = h.launch_one("dn-b", 3.0);

    h.poll("dn-a", 0, &[], 6.0);
    let remote = h.launch_one("dn-c-r2", 6.0);
    h.succeed(&job, &rack_local, "dn-b", 7.0);
    h.succeed(&job, &remote, "dn-c-r2", 7.0);
    let counters = h.status(&job, 7.0).counters;
    assert_eq!(counters.data_local_maps, 0);
    assert_eq!(counters.rack_local_maps, 1);
    assert_eq!(counters.remote_maps, 1);
}

#[test]
fn a_data_local_launch_restarts_the_wait() {
    let mut h = Harness::new(config());
    let splits = vec![
        split(0, &["dn-a"]),
        split(1, &["dn-a"]),
        split(2, &["dn-a"]),
    ];
    h.submit("/out", splits, 1);
    h.launch_one("dn-a", 5.0);
    assert!(
        h.poll("dn-b", 1, &[], 5.0).launch.is_empty(),
        "the job just launched locally, so it waits again"
    );
    h.launch_one("dn-b", 8.0);
}

#[test]
fn reduces_start_when_every_map_has_succeeded() {
    let mut h = Harness::new(config());
    let job = h.submit("/out", vec![split(0, &["dn-a"]), split(1, &["dn-b"])], 1);
    let m0 = h.launch_one("dn-a", 0.0);
    let m1 = h.launch_one("dn-b", 0.0);
    h.succeed(&job, &m0, "dn-a", 1.0);
    assert!(
        h.poll("dn-a", 1, &[], 1.0).launch.is_empty(),
        "map 1 still runs"
    );
    assert_eq!(h.status(&job, 1.0).phase, JobPhase::Map);
    h.succeed(&job, &m1, "dn-b", 2.0);
    assert_eq!(h.status(&job, 2.0).phase, JobPhase::Reduce);

    let answer = h.poll("dn-a", 1, &[], 2.0);
    let reduce = &answer.launch[0];
    assert_eq!(reduce.task.kind, TaskKind::Reduce);
    assert_eq!(reduce.reducers, 1);
    assert_eq!(reduce.sort_buffer, 1 << 20);
    assert_eq!(reduce.top, Some(5));
    assert_eq!(reduce.output_replication, Some(2));
    assert_eq!(reduce.output.as_str(), "/out");
    let TaskWork::Reduce { map_outputs } = &reduce.work else {
        panic!("not a reduce");
    };
    assert_eq!(map_outputs.len(), 2);
    assert_eq!(map_outputs[0].attempt, m0);
    assert_eq!(map_outputs[0].datanode, dn("dn-a"));
    assert_eq!(map_outputs[1].attempt, m1);
    assert_eq!(map_outputs[1].addr.port(), 9000 + "dn-b".len() as u16);

    let r0 = reduce.attempt.clone();
    h.succeed(&job, &r0, "dn-a", 4.0);
    let work = h.perform_work(4.0);
    assert_eq!(
        work[0],
        OutputWork::Commit {
            job: job.clone(),
            task: reduce.task,
            attempt: r0.clone(),
            from: FsPath::parse(&format!("/out/_temporary/{r0}/part-r-00000")).unwrap(),
            to: FsPath::parse("/out/part-r-00000").unwrap(),
        }
    );
    assert!(matches!(work[1], OutputWork::Finalize { .. }), "{work:?}");
    let status = h.status(&job, 5.0);
    assert_eq!(status.state, JobState::Succeeded);
    assert_eq!(status.phase, JobPhase::Done);
    assert_eq!((status.maps_done, status.reduces_done), (2, 1));
    assert_eq!(status.counters.tasks.map_input_records, 30);
    assert_eq!(status.counters.data_local_maps, 2);
    assert_eq!(status.counters.map_phase_ms, 2000);
    assert_eq!(status.counters.reduce_phase_ms, 2000);
    assert_eq!(status.finished_ms, Some(1_700_000_000_000 + 4000));
    assert!(h.poll("dn-a", 1, &[], 5.0).active_jobs.is_empty());
}

#[test]
fn map_only_jobs_commit_their_maps() {
    let mut h = Harness::new(config());
    let job = h.submit("/out", vec![split(0, &["dn-a"])], 0);
    let m0 = h.launch_one("dn-a", 0.0);
    h.succeed(&job, &m0, "dn-a", 1.0);
    let work = h.perform_work(1.0);
    let OutputWork::Commit { to, .. } = &work[0] else {
        panic!("{work:?}");
    };
    assert_eq!(to.as_str(), "/out/part-m-00000");
    assert_eq!(h.status(&job, 1.0).state, JobState::Succeeded);
}

#[test]
fn a_job_without_input_finishes_at_once() {
    let mut h = Harness::new(config());
    let job = h.submit("/out", Vec::new(), 0);
    assert_eq!(h.status(&job, 0.0).phase, JobPhase::Commit);
    let work = h.perform_work(0.0);
    assert!(matches!(work.as_slice(), [OutputWork::Finalize { .. }]));
    assert_eq!(h.status(&job, 0.0).state, JobState::Succeeded);
}

#[test]
fn free_slots_count_what_the_executor_runs() {
    let mut h = Harness::new(config());
    let splits = (0..4).map(|i| split(i, &["dn-a"])).collect();
    h.submit("/out", splits, 1);
    let first = h.poll("dn-a", 2, &[], 0.0);
    assert_eq!(first.launch.len(), 2);
    let running: Vec<&AttemptId> = first.launch.iter().map(|a| &a.attempt).collect();
    assert!(h.poll("dn-a", 2, &running, 0.5).launch.is_empty());
    let stranger = AttemptId("attempt_1_0009_m_000000_0".into());
    let answer = h.poll("dn-a", 3, &[running[0], running[1], &stranger], 1.0);
    assert!(
        answer.launch.is_empty(),
        "an unknown attempt takes a slot too"
    );
    assert_eq!(answer.kill, vec![stranger]);
}

#[test]
fn jobs_are_served_in_submission_order() {
    let mut h = Harness::new(config());
    let first = h.submit("/out1", vec![split(0, &["dn-a"])], 1);
    let second = h.submit("/out2", vec![split(0, &["dn-a"])], 1);
    let answer = h.poll("dn-a", 2, &[], 0.0);
    let jobs: Vec<&JobId> = answer.launch.iter().map(|a| &a.job).collect();
    assert_eq!(jobs, [&first, &second]);
    assert_eq!(h.state.list(h.at(0.0)).jobs[0].id, second, "newest first");
}
