//! The executor's conversation with the job tracker. Every `poll_interval`, and at once when an
//! attempt ends, it says what it runs and how far along each attempt is; the answer launches
//! attempts, kills some, and names the active jobs, whose local output is the only output kept.
//!
//! A finished attempt is reported before it leaves the running set, so the tracker always sees
//! it in one or the other.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::io;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::FutureExt;
use granary_client::namenode::NamenodeClient;
use granary_client::protocol::{
    AttemptId, AttemptProgress, ExecutorPoll, ExecutorPollResponse, JobId, TaskAssignment,
    TaskOutcome, TaskReport,
};
use granary_client::{ClientConfig, Error, Granary};
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::attempt::{self, AttemptContext, AttemptControl};
use super::{ExecutorConfig, LocalBlocks};

/// A poll the tracker has not answered by then is given up; the next one follows.
const POLL_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Back-off between tries of a report the namenode did not take, doubled up to the maximum.
const REPORT_RETRY_FIRST: Duration = Duration::from_millis(200);
const REPORT_RETRY_MAX: Duration = Duration::from_secs(5);
/// How long attempts killed at shutdown get to report before they are abandoned.
const STOP_GRACE: Duration = Duration::from_secs(2);

pub(crate) struct Executor {
    config: ExecutorConfig,
    /// Polls without retries: a missed poll is simply followed by the next.
    poller: NamenodeClient,
    ctx: AttemptContext,
    running: Mutex<HashMap<AttemptId, Running>>,
    /// Where attempts run: the task pool's runtime.
    tasks: Handle,
    /// Wakes the poll loop when an attempt ends.
    finished: Notify,
    shutdown: CancellationToken,
}

struct Running {
    job: JobId,
    control: Arc<AttemptControl>,
}

impl Executor {
    pub fn new(
        config: ExecutorConfig,
        blocks: Arc<dyn LocalBlocks>,
        tasks: Handle,
        shutdown: CancellationToken,
    ) -> Result<Self, Error> {
        let ip = config.addr.ip();
        let client = ClientConfig {
            local_address: (!ip.is_unspecified()).then_some(ip),
            stall_timeout: config.stall_timeout,
            ..ClientConfig::new(config.namenode.clone())
        };
        let poller = NamenodeClient::new(&ClientConfig {
            namenode_retry_window: Duration::ZERO,
            request_timeout: POLL_TIMEOUT,
            ..client.clone()
        })?;
        let mut shuffle = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true);
        if let Some(ip) = client.local_address {
            shuffle = shuffle.local_address(ip);
        }
        let shuffle = shuffle
            .build()
            .map_err(|e| Error::internal(format!("building the shuffle client: {e}")))?;
        let ctx = AttemptContext {
            granary: Granary::new(client)?,
            shuffle,
            stall_timeout: config.stall_timeout,
            blocks,
            work_dir: config.work_dir.clone(),
            slowdown: config.task_slowdown,
        };
        Ok(Executor {
            config,
            poller,
            ctx,
            running: Mutex::default(),
            tasks,
            finished: Notify::new(),
            shutdown,
        })
    }

    /// Polls until shutdown. Attempts run in `attempts`, so none outlives the loop.
    pub async fn run(self: Arc<Self>) {
        let mut attempts = JoinSet::new();
        let mut reachable = true;
        loop {
            while attempts.try_join_next().is_some() {}
            let poll = self.poll_request();
            let answer = tokio::select! {
                answer = self.poller.executor_poll(&poll) => answer,
                () = self.shutdown.cancelled() => break,
            };
            match answer {
                Ok(answer) => {
                    if !reachable {
                        tracing::info!("the job tracker answers again");
                        reachable = true;
                    }
                    self.apply(answer, &mut attempts).await;
                }
                Err(e) if reachable => {
                    tracing::warn!("polling the job tracker failed: {e}; retrying quietly");
                    reachable = false;
                }
                Err(e) => tracing::debug!("polling the job tracker failed: {e}"),
            }
            tokio::select! {
                () = tokio::time::sleep(self.config.poll_interval) => {}
                () = self.finished.notified() => {}
                () = self.shutdown.cancelled() => break,
            }
        }
        self.stop(attempts).await;
    }

    fn poll_request(&self) -> ExecutorPoll {
        let running = self
            .running()
            .iter()
            .map(|(attempt, running)| AttemptProgress {
                attempt: attempt.clone(),
                progress: running.control.task.progress(),
            })
            .collect();
        ExecutorPoll {
            datanode: self.config.datanode.clone(),
            addr: self.config.addr,
            rack: self.config.rack.clone(),
            slots: self.config.slots,
            running,
        }
    }

    async fn apply(self: &Arc<Self>, answer: ExecutorPollResponse, attempts: &mut JoinSet<()>) {
        for attempt in &answer.kill {
            if let Some(running) = self.running().get(attempt) {
                tracing::info!(%attempt, "killing the attempt");
                running.control.kill();
            }
        }
        for assignment in answer.launch {
            self.launch(assignment, attempts);
        }
        let mut keep: HashSet<JobId> = answer.active_jobs.into_iter().collect();
        keep.extend(self.running().values().map(|running| running.job.clone()));
        let work_dir = self.ctx.work_dir.clone();
        let removal = tokio::task::spawn_blocking(move || remove_jobs_except(&work_dir, &keep));
        if let Err(e) = removal.await {
            tracing::warn!("removing the output of finished jobs: {e}");
        }
    }

    fn launch(self: &Arc<Self>, assignment: TaskAssignment, attempts: &mut JoinSet<()>) {
        let control = AttemptControl::start(self.ctx.slowdown);
        {
            let mut running = self.running();
            if running.contains_key(&assignment.attempt) {
                let attempt = &assignment.attempt;
                tracing::warn!(%attempt, "asked to launch an attempt already running; ignored");
                return;
            }
            let entry = Running {
                job: assignment.job.clone(),
                control: Arc::clone(&control),
            };
            running.insert(assignment.attempt.clone(), entry);
        }
        let attempt = Arc::clone(self).run_attempt(Arc::new(assignment), control);
        attempts.spawn_on(attempt, &self.tasks);
    }

    async fn run_attempt(
        self: Arc<Self>,
        assignment: Arc<TaskAssignment>,
        control: Arc<AttemptControl>,
    ) {
        let attempt = assignment.attempt.clone();
        tracing::info!(%attempt, task = %assignment.task, "attempt launched");
        let work = attempt::execute(&self.ctx, Arc::clone(&assignment), &control);
        // A panic fails the attempt, never the datanode. Its local files, if any, go with
        // its job's.
        let outcome = AssertUnwindSafe(work)
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| TaskOutcome::Failed {
                error: format!("attempt panicked: {}", panic_message(&*panic)),
            });
        match &outcome {
            TaskOutcome::Succeeded { .. } => tracing::info!(%attempt, "attempt succeeded"),
            TaskOutcome::Failed { error } => tracing::info!(%attempt, "attempt failed: {error}"),
            TaskOutcome::FetchFailed { map, error, .. } => {
                tracing::warn!(%attempt, "attempt could not fetch the output of map {map}: {error}")
            }
        }
        let report = TaskReport {
            datanode: self.config.datanode.clone(),
            job: assignment.job.clone(),
            attempt: attempt.clone(),
            outcome,
        };
        self.report(&report).await;
        self.running().remove(&attempt);
        self.finished.notify_one();
    }

    /// Sends a report, retrying while the namenode is unreachable (until shutdown).
    async fn report(&self, report: &TaskReport) {
        let mut delay = REPORT_RETRY_FIRST;
        loop {
            match self.ctx.granary.namenode().executor_report(report).await {
                Ok(_) => return,
                Err(e) if e.kind.is_transient() && !self.shutdown.is_cancelled() => {
                    let attempt = &report.attempt;
                    tracing::warn!(%attempt, "reporting the attempt failed ({e}); retrying");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = self.shutdown.cancelled() => {}
                    }
                    delay = (delay * 2).min(REPORT_RETRY_MAX);
                }
                Err(e) => {
                    tracing::warn!(attempt = %report.attempt, "report dropped: {e}");
                    return;
                }
            }
        }
    }

    /// Kills every attempt and gives them [`STOP_GRACE`] to report; dropping `attempts`
    /// aborts the rest.
    async fn stop(&self, mut attempts: JoinSet<()>) {
        for running in self.running().values() {
            running.control.kill();
        }
        let drained = tokio::time::timeout(STOP_GRACE, async {
            while attempts.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("attempts still running at shutdown were abandoned");
        }
    }

    fn running(&self) -> MutexGuard<'_, HashMap<AttemptId, Running>> {
        granary_client::sync::lock(&self.running, "executor attempts")
    }
}

/// Removes `<work_dir>/<job>` of every job not in `keep`. Entries whose names are not job ids
/// are not the executor's and are left alone.
fn remove_jobs_except(work_dir: &Path, keep: &HashSet<JobId>) {
    let entries = match std::fs::read_dir(work_dir) {
        Ok(entries) => entries,
        Err(e) => {
            tracing::debug!("listing {}: {e}", work_dir.display());
            return;
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(job) = name.to_str().and_then(|name| JobId::parse(name).ok()) else {
            continue;
        };
        if keep.contains(&job) {
            continue;
        }
        match std::fs::remove_dir_all(entry.path()) {
            Ok(()) => tracing::info!(%job, "removed the local output of a finished job"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(%job, "removing the local output of a finished job: {e}"),
        }
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}
