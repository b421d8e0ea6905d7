//! The namespace's events move the tracker at once, with no background pass to wait for.

use std::sync::Arc;
use std::time::Duration;

use granary_client::protocol::JobState;
use granary_client::DatanodeId;
use tokio::sync::mpsc;

use super::Fixture;
use crate::tracker::NamespaceEvent;

#[tokio::test]
async fn a_dead_datanode_event_requeues_its_attempts_at_once() {
    let f = Fixture::new(2);
    let (events, rx) = mpsc::unbounded_channel();
    let run = tokio::spawn(Arc::clone(&f.tracker).run(rx));
    let mut running = f.tracker.attempts_running();
    assert!(!*running.borrow_and_update());
    let job = f.submit("/out", 1).await.unwrap();
    assert_eq!(f.poll(2).await.unwrap().launch.len(), 2);
    assert!(*running.borrow_and_update(), "two maps run");
    events
        .send(NamespaceEvent::DatanodeDead(DatanodeId("dn-1".into())))
        .unwrap();
    // The guard `wait_for` returns is dropped at once: holding it would block the tracker.
    let lost = tokio::time::timeout(Duration::from_secs(30), running.wait_for(|r| !*r))
        .await
        .is_ok_and(|waited| waited.is_ok());
    assert!(lost, "the attempts on the dead datanode were not lost");
    let status = f.tracker.status(&job.id).unwrap();
    assert_eq!((status.state, status.maps_done), (JobState::Running, 0));
    run.abort();
}

#[tokio::test]
async fn leaving_safe_mode_retries_the_refused_commit_at_once() {
    let f = Fixture::new(1);
    let (events, rx) = mpsc::unbounded_channel();
    let run = tokio::spawn(Arc::clone(&f.tracker).run(rx));
    let job = f.submit("/out", 0).await.unwrap();
    let maps = f.poll(1).await.unwrap();
    let [map] = &maps.launch[..] else {
        panic!("expected one map: {maps:?}");
    };
    f.ns.put(
        &format!("/out/_temporary/{}/part-m-00000", map.attempt),
        b"w0 x\n",
    );
    f.ns.set_safe_mode(true);
    f.succeed(&job.id, &map.attempt).await.unwrap();
    let waiting = f.tracker.status(&job.id).unwrap();
    assert_eq!((waiting.state, waiting.maps_done), (JobState::Running, 0));

    f.ns.set_safe_mode(false);
    events.send(NamespaceEvent::SafeModeLeft).unwrap();
    let mut state = JobState::Running;
    for _ in 0..300 {
        state = f.tracker.status(&job.id).unwrap().state;
        if state != JobState::Running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        state,
        JobState::Succeeded,
        "committed without waiting for a tick"
    );
    let output: Vec<String> =
        f.ns.paths()
            .into_iter()
            .filter(|p| p.starts_with("/out"))
            .collect();
    assert_eq!(output, ["/out", "/out/_SUCCESS", "/out/part-m-00000"]);
    run.abort();
}
