//! The job tracker's endpoints: clients submit, watch and kill jobs; executors poll for
//! attempts and report how they ended.

use std::sync::Arc;

use axum::extract::State;
use axum::Router;
use granary_client::protocol::{routes, Ack};
use granary_client::server::{ApiResult, CallerName, Params, Req, Resp, RouterExt};
use granary_compute::tracker::JobTracker;

type Tracker = State<Arc<JobTracker>>;

/// The job routes, with the tracker as their state.
pub fn router(tracker: Arc<JobTracker>) -> Router {
    Router::new()
        .typed(routes::SubmitJob, submit)
        .typed(routes::ListJobs, list)
        .typed(routes::GetJob, status)
        .typed(routes::KillJob, kill)
        .typed(routes::PollTasks, poll)
        .typed(routes::ReportTask, report)
        .with_state(tracker)
}

/// The job runs as its caller: the spec's `submitter` is the caller's name, whatever the
/// request said.
async fn submit(
    State(tracker): Tracker,
    CallerName(caller): CallerName,
    Req(mut req): Req<routes::SubmitJob>,
) -> ApiResult<Resp<routes::SubmitJob>> {
    req.spec.submitter = Some(caller);
    Ok(Resp(tracker.submit(req).await?))
}

async fn list(State(tracker): Tracker) -> Resp<routes::ListJobs> {
    Resp(tracker.list())
}

/// The job id is validated by `Params` (a malformed one is `invalid_argument`).
async fn status(
    State(tracker): Tracker,
    Params(id): Params<routes::GetJob>,
) -> ApiResult<Resp<routes::GetJob>> {
    Ok(Resp(tracker.status(&id)?))
}

async fn kill(
    State(tracker): Tracker,
    Params(id): Params<routes::KillJob>,
) -> ApiResult<Resp<routes::KillJob>> {
    Ok(Resp(tracker.kill(&id).await?))
}

async fn poll(
    State(tracker): Tracker,
    Req(poll): Req<routes::PollTasks>,
) -> ApiResult<Resp<routes::PollTasks>> {
    Ok(Resp(tracker.poll(poll).await?))
}

async fn report(
    State(tracker): Tracker,
    Req(report): Req<routes::ReportTask>,
) -> ApiResult<Resp<routes::ReportTask>> {
    tracker.report(report).await?;
    Ok(Resp(Ack {}))
}

#[cfg(test)]
mod tests {
    use granary_client::protocol::{
        routes, Builtin, DatanodeInfo, ExecutorPoll, JobPhase, JobProgram, JobSpec, JobState,
        RegisterRequest, StorageReport, SubmitJobRequest, TaskCounters, TaskOutcome, TaskReport,
    };
    use granary_client::{DatanodeId, ErrorKind, FsPath, Granary, PutOptions, RequestId};

    use crate::{NamenodeConfig, NamenodeServer};

    fn spec(inputs: &[&str], output: &str, reducers: u32) -> JobSpec {
        JobSpec {
            reducers: Some(reducers),
            ..JobSpec::new(
                inputs.iter().map(|i| i.to_string()).collect(),
                FsPath::parse(output).unwrap(),
                JobProgram::Builtin(Builtin::Wordcount),
            )
        }
    }

    fn path(p: &str) -> FsPath {
        FsPath::parse(p).unwrap()
    }

    #[tokio::test]
    async fn jobs_are_validated_run_and_killed_over_http() {
        let dir = tempfile::tempdir().unwrap();
        let config = NamenodeConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            meta_dir: dir.path().join("meta"),
            safemode_threshold: 0.0,
            ..NamenodeConfig::default()
        };
        let server = NamenodeServer::bind(config).await.unwrap();
        let fs = Granary::connect(&format!("http://{}", server.local_addr())).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve(async {
            let _ = stopped.await;
        }));
        fs.mkdir(&path("/in/_logs"), true).await.unwrap();
        fs.mkdir(&path("/exists"), true).await.unwrap();
        let empty = PutOptions::default();
        fs.put_bytes(b"", &path("/in/a.log"), &empty).await.unwrap();
        let nn = fs.namenode();
        let submit = |spec: JobSpec| {
            let req = SubmitJobRequest {
                spec,
                request_id: RequestId::new(),
            };
            async move { nn.submit_job(&req).await }
        };

        let refused = [
            (
                spec(&["/nope"], "/out", 1),
                ErrorKind::NotFound,
                "input path does not exist: /nope",
            ),
            (
                spec(&["/in/*.txt"], "/out", 1),
                ErrorKind::NotFound,
                "input path does not exist: /in/*.txt",
            ),
            (
                spec(&["/in"], "/exists", 1),
                ErrorKind::AlreadyExists,
                "output directory already exists: /exists",
            ),
            (
                spec(&["/in"], "/out", 10_001),
                ErrorKind::InvalidArgument,
                "reducers must be at most 10000 (got 10001)",
            ),
        ];
        for (spec, kind, message) in refused {
            let err = submit(spec).await.unwrap_err();
            assert_eq!((err.kind, err.message.as_str()), (kind, message));
        }
        assert!(
            fs.try_stat(&path("/out")).await.unwrap().is_none(),
            "nothing created"
        );

        // An empty input: no maps, so a map-only job is done as soon as it is submitted.
        let req = SubmitJobRequest {
            spec: spec(&["/in/*.log"], "/out", 0),
            request_id: RequestId::new(),
        };
        let done = nn.submit_job(&req).await.unwrap();
        assert_eq!((done.state, done.maps_total), (JobState::Succeeded, 0));
        assert_eq!(
            nn.submit_job(&req).await.unwrap().id,
            done.id,
            "a retry gets the same job"
        );
        let names: Vec<String> = fs
            .list(&path("/out"), false)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.path.to_string())
            .collect();
        assert_eq!(names, ["/out/_SUCCESS"]);

        // No executor ever polls, so this one waits in its reduce phase until it is killed.
        let waiting = submit(spec(&["/in"], "/out2", 1)).await.unwrap();
        assert_eq!(
            (waiting.state, waiting.phase),
            (JobState::Running, JobPhase::Reduce)
        );
        assert!(fs
            .try_stat(&path("/out2/_temporary"))
            .await
            .unwrap()
            .is_some());
        let killed = nn.kill_job(&waiting.id).await.unwrap();
        assert_eq!(killed.state, JobState::Killed);
        assert!(
            fs.try_stat(&path("/out2")).await.unwrap().is_none(),
            "output deleted"
        );

        // An executor runs the reducer of this one: the report commits its part file. Its
        // datanode registers first: the tracker gives work only to registered datanodes.
        let register = RegisterRequest {
            datanode: DatanodeInfo {
                id: DatanodeId("dn-1".into()),
                addr: "127.0.0.1:1".parse().unwrap(),
                rack: "/default-rack".into(),
            },
            storage: StorageReport::default(),
        };
        nn.call::<routes::Register>(&register).await.unwrap();
        let reduced = submit(spec(&["/in"], "/out3", 1)).await.unwrap();
        let poll = ExecutorPoll {
            datanode: DatanodeId("dn-1".into()),
            addr: "127.0.0.1:1".parse().unwrap(),
            rack: "/default-rack".into(),
            slots: 2,
            running: Vec::new(),
        };
        let answer = nn.executor_poll(&poll).await.unwrap();
        assert_eq!(answer.active_jobs, vec![reduced.id.clone()]);
        let [assignment] = &answer.launch[..] else {
            panic!("expected one reduce: {answer:?}");
        };
        let part = format!("/out3/_temporary/{}/part-r-00000", assignment.attempt);
        let options = PutOptions {
            create_parents: true,
            ..PutOptions::default()
        };
        fs.put_bytes(b"", &path(&part), &options).await.unwrap();
        let report = TaskReport {
            datanode: poll.datanode.clone(),
            job: reduced.id.clone(),
            attempt: assignment.attempt.clone(),
            outcome: TaskOutcome::Succeeded {
                counters: TaskCounters::default(),
            },
        };
        nn.executor_report(&report).await.unwrap();
        let status = nn.job_status(&reduced.id).await.unwrap();
        assert_eq!(
            (status.state, status.reduces_done),
            (JobState::Succeeded, 1)
        );
        let names: Vec<String> = fs
            .list(&path("/out3"), false)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.path.to_string())
            .collect();
        assert_eq!(names, ["/out3/_SUCCESS", "/out3/part-r-00000"]);

        let listed = nn.list_jobs().await.unwrap();
        assert_eq!(listed.jobs.len(), 3);
        assert_eq!(listed.jobs[0].id, reduced.id, "newest first");
        assert_eq!(
            nn.job_status(&done.id).await.unwrap().state,
            JobState::Succeeded
        );
        let unknown = granary_client::protocol::JobId("job_1_0042".into());
        let err = nn.job_status(&unknown).await.unwrap_err();
        assert_eq!(
            (err.kind, err.message.as_str()),
            (ErrorKind::NotFound, "no such job: job_1_0042")
        );
        let malformed = granary_client::protocol::JobId("job-x".into());
        assert_eq!(
            nn.job_status(&malformed).await.unwrap_err().kind,
            ErrorKind::InvalidArgument
        );

        let _ = stop.send(());
        serving.await.unwrap().unwrap();
    }
}
