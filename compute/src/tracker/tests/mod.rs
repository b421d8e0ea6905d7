//! The whole tracker (shell, state and history writer) over a fake namespace and a history
//! store that can be made to fail: a change is acknowledged only once it is durable.

mod durability;
mod events;
mod fake_namespace;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use granary_client::protocol::{
    AttemptId, Builtin, ExecutorPoll, ExecutorPollResponse, JobId, JobPhase, JobProgram, JobSpec,
    JobState, SubmitJobRequest, TaskCounters, TaskOutcome, TaskReport, TaskWork,
};
use granary_client::{DatanodeId, Error, ErrorKind, FsPath, RequestId};

use super::history::{History, HistoryChange, HistoryStore, JobRecord};
use super::{JobTracker, TrackerConfig};
use fake_namespace::{FakeNamespace, DATANODE, DATANODE_ADDR};

/// Keeps what was written in memory; fails every write while `fail` is set.
struct MemoryHistory {
    written: Arc<Mutex<Vec<HistoryChange>>>,
    fail: Arc<AtomicBool>,
}

impl HistoryStore for MemoryHistory {
    fn write(&mut self, changes: &[HistoryChange]) -> Result<(), Error> {
        if self.fail.load(Ordering::Acquire) {
            return Err(Error::new(ErrorKind::Io, "injected history write failure"));
        }
        granary_client::sync::lock(&self.written, "written").extend_from_slice(changes);
        Ok(())
    }
}

struct Fixture {
    tracker: Arc<JobTracker>,
    ns: Arc<FakeNamespace>,
    written: Arc<Mutex<Vec<HistoryChange>>>,
    fail: Arc<AtomicBool>,
}

impl Fixture {
    /// A tracker over `/in` holding `files` small files (and a hidden one), listed two
    /// entries per page.
    fn new(files: usize) -> Self {
        let ns = Arc::new(FakeNamespace::new(2));
        for i in 0..files {
            ns.put(&format!("/in/f{i}.txt"), format!("w{i} x\n").as_bytes());
        }
        ns.put("/in/_hidden", b"never read\n");
        let written = Arc::new(Mutex::default());
        let fail = Arc::new(AtomicBool::new(false));
        let store = MemoryHistory {
            written: Arc::clone(&written),
            fail: Arc::clone(&fail),
        };
        let history = History::with_store(Box::new(store)).unwrap();
        let config = TrackerConfig {
            locality_wait: Duration::ZERO,
            speculation: false,
            // Only events and requests move things here, never the background pass.
            tick_interval: Duration::from_secs(3600),
            ..TrackerConfig::default()
        };
        let tracker = JobTracker::with_history(
            history,
            Vec::new(),
            Arc::clone(&ns) as _,
            config,
            1_700_000_000_000,
        );
        Fixture {
            tracker,
            ns,
            written,
            fail,
        }
    }

    /// The last record the history wrote for `job`.
    fn last_written(&self, job: &JobId) -> Option<JobRecord> {
        let written = granary_client::sync::lock(&self.written, "written");
        written.iter().rev().find_map(|change| match change {
            HistoryChange::Save(record) if &record.status.id == job => Some((**record).clone()),
            _ => None,
        })
    }

    async fn submit(
        &self,
        output: &str,
        reducers: u32,
    ) -> Result<granary_client::protocol::JobStatus, Error> {
        let spec = JobSpec {
            reducers: Some(reducers),
            ..JobSpec::new(
                vec!["/in".into()],
                FsPath::parse(output).unwrap(),
                JobProgram::Builtin(Builtin::Wordcount),
            )
        };
        let req = SubmitJobRequest {
            spec,
            request_id: RequestId::new(),
        };
        self.tracker.submit(req).await
    }

    async fn poll(&self, slots: u32) -> Result<ExecutorPollResponse, Error> {
        self.poll_as(DATANODE, "127.0.0.1:1", slots).await
    }

    /// A poll from `datanode` claiming to serve at `addr`.
    async fn poll_as(
        &self,
        datanode: &str,
        addr: &str,
        slots: u32,
    ) -> Result<ExecutorPollResponse, Error> {
        let poll = ExecutorPoll {
            datanode: DatanodeId(datanode.into()),
            addr: addr.parse().unwrap(),
            rack: "/default-rack".into(),
            slots,
            running: Vec::new(),
        };
        self.tracker.poll(poll).await
    }

    async fn succeed(&self, job: &JobId, attempt: &AttemptId) -> Result<(), Error> {
        let report = TaskReport {
            datanode: DatanodeId(DATANODE.into()),
            job: job.clone(),
            attempt: attempt.clone(),
            outcome: TaskOutcome::Succeeded {
                counters: TaskCounters::default(),
            },
        };
        self.tracker.report(report).await
    }
}

fn is_history_failure(e: &Error) -> bool {
    e.kind == ErrorKind::Io && e.message.contains("injected history write failure")
}

#[tokio::test]
async fn a_job_runs_through_the_namespace_trait_with_paged_listings() {
    let f = Fixture::new(5);
    let job = f.submit("/out", 1).await.unwrap();
    assert_eq!(
        (job.state, job.maps_total),
        (JobState::Running, 5),
        "hidden file skipped"
    );
    assert_eq!(f.last_written(&job.id).unwrap().status.phase, JobPhase::Map);
    assert!(f.ns.paths().contains(&"/out/_temporary".to_string()));

    let maps = f.poll(5).await.unwrap();
    assert_eq!(maps.launch.len(), 5);
    for map in &maps.launch {
        f.succeed(&job.id, &map.attempt).await.unwrap();
    }
    assert_eq!(
        f.last_written(&job.id).unwrap().status.phase,
        JobPhase::Reduce
    );
    let reduce = f.poll(1).await.unwrap();
    let [reduce] = &reduce.launch[..] else {
        panic!("expected the reduce: {reduce:?}");
    };
    f.ns.put(
        &format!("/out/_temporary/{}/part-r-00000", reduce.attempt),
        b"x\t5\n",
    );
    f.succeed(&job.id, &reduce.attempt).await.unwrap();
    let done = f.tracker.status(&job.id).unwrap();
    assert_eq!(done.state, JobState::Succeeded);
    assert_eq!(
        f.last_written(&job.id).unwrap().status.state,
        JobState::Succeeded
    );
    let output: Vec<String> =
        f.ns.paths()
            .into_iter()
            .filter(|p| p.starts_with("/out"))
            .collect();
    assert_eq!(output, ["/out", "/out/_SUCCESS", "/out/part-r-00000"]);
}

#[tokio::test]
async fn shuffle_addresses_come_from_the_registration_not_the_poll() {
    let f = Fixture::new(2);
    let job = f.submit("/out", 1).await.unwrap();
    let stranger = f.poll_as("dn-unknown", "10.9.9.9:5", 5).await.unwrap();
    assert!(
        stranger.launch.is_empty(),
        "an unregistered datanode gets no work"
    );

    let maps = f.poll_as(DATANODE, "10.9.9.9:5", 5).await.unwrap();
    assert_eq!(maps.launch.len(), 2);
    for map in &maps.launch {
        f.succeed(&job.id, &map.attempt).await.unwrap();
    }
    let reduce = f.poll(1).await.unwrap();
    let [reduce] = &reduce.launch[..] else {
        panic!("expected the reduce: {reduce:?}");
    };
    let TaskWork::Reduce { map_outputs } = &reduce.work else {
        panic!("expected reduce work: {reduce:?}");
    };
    let registered: std::net::SocketAddr = DATANODE_ADDR.parse().unwrap();
    assert_eq!(map_outputs.len(), 2);
    assert!(map_outputs.iter().all(|m| m.addr == registered));
}
