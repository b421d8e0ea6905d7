//! A change is acknowledged only once it is durable: a history write failure fails the
//! operation that made it, and everything after it.

use std::sync::atomic::Ordering;

use granary_client::protocol::{
    Builtin, JobPhase, JobProgram, JobSpec, JobState, SubmitJobRequest,
};
use granary_client::{FsPath, RequestId};

use super::{is_history_failure, Fixture};

#[tokio::test]
async fn a_submission_whose_record_cannot_be_written_answers_an_error() {
    let f = Fixture::new(2);
    f.fail.store(true, Ordering::Release);
    let spec = JobSpec {
        reducers: Some(1),
        ..JobSpec::new(
            vec!["/in".into()],
            FsPath::parse("/out").unwrap(),
            JobProgram::Builtin(Builtin::Wordcount),
        )
    };
    let req = SubmitJobRequest {
        spec,
        request_id: RequestId::new(),
    };
    let err = f.tracker.submit(req.clone()).await.unwrap_err();
    assert!(is_history_failure(&err), "{err:?}");
    // Not durable, so never acknowledged: not to the retry either, nor to an executor.
    f.fail.store(false, Ordering::Release);
    let retried = f.tracker.submit(req).await.unwrap_err();
    assert!(is_history_failure(&retried), "{retried:?}");
    assert!(is_history_failure(&f.poll(4).await.unwrap_err()));
    assert!(granary_client::sync::lock(&f.written, "written").is_empty());
    let other = f.submit("/other", 1).await.unwrap_err();
    assert!(is_history_failure(&other), "{other:?}");
    assert!(
        !f.ns.paths().iter().any(|p| p.starts_with("/other")),
        "a broken history refuses before creating anything"
    );
}

#[tokio::test]
async fn a_report_whose_phase_change_cannot_be_written_answers_an_error() {
    let f = Fixture::new(1);
    let job = f.submit("/out", 1).await.unwrap();
    let maps = f.poll(1).await.unwrap();
    let [map] = &maps.launch[..] else {
        panic!("expected one map: {maps:?}");
    };
    f.fail.store(true, Ordering::Release);
    let err = f.succeed(&job.id, &map.attempt).await.unwrap_err();
    assert!(is_history_failure(&err), "{err:?}");
    assert_eq!(
        f.last_written(&job.id).unwrap().status.phase,
        JobPhase::Map,
        "the reduce phase never reached the disk"
    );
    // The reduce follows from the phase change that failed: no poll hands it out.
    assert!(is_history_failure(&f.poll(1).await.unwrap_err()));
}

#[tokio::test]
async fn a_kill_that_cannot_be_written_answers_an_error_and_deletes_nothing() {
    let f = Fixture::new(1);
    let job = f.submit("/out", 1).await.unwrap();
    f.fail.store(true, Ordering::Release);
    let err = f.tracker.kill(&job.id).await.unwrap_err();
    assert!(is_history_failure(&err), "{err:?}");
    assert_eq!(
        f.last_written(&job.id).unwrap().status.state,
        JobState::Running
    );
    assert!(
        f.ns.paths().contains(&"/out/_temporary".to_string()),
        "the output is deleted only once the kill is durable"
    );
}
