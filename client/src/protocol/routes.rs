//! Every HTTP endpoint of both daemons, declared once: its method, its path and the types it
//! carries. The clients and the servers both name an endpoint by its type here, so they can
//! never disagree on a path, a method or a body.
//!
//! - A JSON [`Route`] (`Create`, `Stat`, ...) binds a request and a response type: the request
//!   is the JSON body of a `POST`, or the query string of a `GET` (`()` for none). Clients send
//!   it with `NamenodeClient::call::<R>` (or `call_at` with path parameters); servers register a
//!   handler with `RouterExt::typed(R, handler)` (`server` feature), whose arguments may only be
//!   `Req<R>`, `Params<R>`, `State` and `ConnectInfo` and whose answer must be `Resp<R>` (or an
//!   `ApiResult` of it), so a handler cannot drift from its route.
//! - A stream [`Endpoint`] (block `PUT`/`GET`, the shuffle `GET`, the lifeline) carries bytes,
//!   not JSON: only its method, path and path parameters are declared; its handler is
//!   registered with `RouterExt::endpoint(E, handler)` and chooses its own extractors.
//!
//! Adding a route is one line in the `routes!` block below (plus a `PathParams` impl if its
//! parameters are a new type), one thin client method, and one `typed` registration.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{
    AbandonBlockRequest, Ack, AddBlockRequest, AddBlockResponse, AddClonedBlockRequest,
    AddClonedBlockResponse, AppendRequest, AppendResponse, AttemptId, BlockReceivedRequest,
    BlockReportRequest, BlockReportResponse, CloneReplicaRequest, ClusterReport,
    CommitBlockSyncRequest, CompleteRequest, CompleteResponse, ConcatRequest, ContentSummary,
    CreateRequest, CreateResponse, CutReplicaRequest, DatanodeAdminRequest, DatanodeQuery,
    DatanodeReport, DeleteRequest, DeleteResponse, ExecutorPoll, ExecutorPollResponse, FileStatus,
    FlushRequest, FsckQuery, FsckReport, HealthResponse, HeartbeatRequest, HeartbeatResponse,
    JobId, JobList, JobStatus, ListQuery, ListResponse, LocatedFile, MaintenanceRequest,
    MkdirRequest, OpenBlock, PathQuery, RecoverLeaseRequest, RecoverLeaseResponse, RegisterRequest,
    RegisterResponse, RenameRequest, RenameResponse, RenewLeaseRequest, ReopenBlockRequest,
    ReplicaState, ReplicaStateQuery, ReplicationFailedRequest, ReportBadReplicaRequest,
    SafeModeRequest, SafeModeStatus, ServerDefaults, SetOwnerRequest, SetPermissionRequest,
    SetReplicationRequest, SubmitJobRequest, TaskReport, TruncateRequest, TruncateResponse,
    WriteBlockAck,
};
use crate::ids::BlockId;

/// The HTTP methods the protocol uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
}

impl Method {
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
        }
    }
}

impl From<Method> for reqwest::Method {
    fn from(method: Method) -> Self {
        match method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
        }
    }
}

/// An HTTP endpoint: a method and a path template whose `{name}` segments are [`Self::Params`].
pub trait Endpoint: Copy + Send + Sync + 'static {
    const METHOD: Method;
    /// The router's template, e.g. `/v1/jobs/{id}`.
    const PATH: &'static str;
    /// The path parameters, in template order; `()` for none.
    type Params: PathParams;

    /// The concrete path for `params`, each segment percent-encoded.
    fn path(params: &Self::Params) -> String {
        fill_template(Self::PATH, &params.segments())
    }
}

/// An endpoint whose request and response are JSON (a `GET`'s request is its query string).
pub trait Route: Endpoint {
    type Request: Serialize + DeserializeOwned + Send + Sync + 'static;
    type Response: Serialize + DeserializeOwned + Send + Sync + 'static;
}

/// Typed path parameters: what a server decodes from the path and a client writes into it.
pub trait PathParams: Sized + Send + Sync + 'static {
    /// What the router's path extractor decodes, before [`Self::from_raw`] validates it.
    type Raw: DeserializeOwned + Send;

    fn from_raw(raw: Self::Raw) -> Result<Self, String>;

    /// The value of each `{name}` segment, in template order.
    fn segments(&self) -> Vec<String>;
}

impl PathParams for () {
    type Raw = ();

    fn from_raw((): ()) -> Result<Self, String> {
        Ok(())
    }

    fn segments(&self) -> Vec<String> {
        Vec::new()
    }
}

impl PathParams for JobId {
    type Raw = String;

    fn from_raw(raw: String) -> Result<Self, String> {
        JobId::parse(&raw)
    }

    fn segments(&self) -> Vec<String> {
        vec![self.0.clone()]
    }
}

impl PathParams for BlockId {
    /// Digits only, as the datanodes have always accepted (no `blk_` prefix).
    type Raw = u64;

    fn from_raw(raw: u64) -> Result<Self, String> {
        Ok(BlockId(raw))
    }

    fn segments(&self) -> Vec<String> {
        vec![self.0.to_string()]
    }
}

/// A shuffle fetch: the job, the map attempt and the reducer's partition.
impl PathParams for (JobId, AttemptId, u32) {
    type Raw = (String, String, u32);

    fn from_raw((job, attempt, partition): Self::Raw) -> Result<Self, String> {
        Ok((JobId::parse(&job)?, AttemptId::parse(&attempt)?, partition))
    }

    fn segments(&self) -> Vec<String> {
        vec![self.0 .0.clone(), self.1 .0.clone(), self.2.to_string()]
    }
}

/// A request to endpoint `E` of the server at `origin` (`http://host:port`, or a bare
/// `host:port`), with the method and path `E` declares; the caller adds the query and body.
pub fn request<E: Endpoint>(
    http: &reqwest::Client,
    origin: impl std::fmt::Display,
    params: &E::Params,
) -> reqwest::RequestBuilder {
    let origin = origin.to_string();
    let scheme = if origin.contains("://") {
        ""
    } else {
        "http://"
    };
    let url = format!(
        "{scheme}{}{}",
        origin.trim_end_matches('/'),
        E::path(params)
    );
    http.request(E::METHOD.into(), url)
}

/// `builder` carrying route `R`'s request: as the query of a `GET`, as the JSON body otherwise.
pub fn with_request<R: Route>(
    builder: reqwest::RequestBuilder,
    request: &R::Request,
) -> reqwest::RequestBuilder {
    match R::METHOD {
        Method::Get => builder.query(request),
        Method::Post | Method::Put => builder.json(request),
    }
}

/// Replaces each `{name}` of `template` by the next segment, percent-encoding everything but
/// unreserved characters so a segment can never add a path component or a query.
fn fill_template(template: &str, segments: &[String]) -> String {
    let mut path = String::with_capacity(template.len() + 32);
    let mut segments = segments.iter();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        path.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .map_or(rest.len(), |e| start + e + 1);
        if let Some(segment) = segments.next() {
            for byte in segment.bytes() {
                if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                    path.push(char::from(byte));
                } else {
                    path.push_str(&format!("%{byte:02X}"));
                }
            }
        }
        rest = &rest[end..];
    }
    path.push_str(rest);
    path
}

/// Declares one zero-sized type per endpoint:
/// `Name = Method "path" [Params]` for a stream endpoint, plus `, Request => Response` for a
/// JSON route. `[Params]` is left out when the path has none.
macro_rules! routes {
    ($(
        $(#[$doc:meta])*
        $name:ident = $method:ident $path:literal $([$params:ty])? $(, $request:ty => $response:ty)?;
    )*) => {
        $(
            $(#[$doc])*
            #[derive(Clone, Copy, Debug, Default)]
            pub struct $name;

            impl Endpoint for $name {
                const METHOD: Method = Method::$method;
                const PATH: &'static str = $path;
                type Params = routes!(@params $($params)?);
            }

            $(
                impl Route for $name {
                    type Request = $request;
                    type Response = $response;
                }
            )?
        )*

        /// Every endpoint as (name, method, path), for the tests.
        #[cfg(test)]
        pub(crate) const ALL: &[(&str, Method, &str)] = &[
            $((stringify!($name), Method::$method, $path),)*
        ];
    };
    (@params) => { () };
    (@params $params:ty) => { $params };
}

routes! {
    /// Both daemons: a call that does no work.
    Health = Get "/v1/health", () => HealthResponse;

    // Client namespace calls (namenode).
    Create = Post "/v1/namespace/create", CreateRequest => CreateResponse;
    AddBlock = Post "/v1/namespace/add_block", AddBlockRequest => AddBlockResponse;
    /// The next block of a file as a clone of another file's block (a server-side copy).
    AddClonedBlock = Post "/v1/namespace/add_cloned_block", AddClonedBlockRequest => AddClonedBlockResponse;
    AbandonBlock = Post "/v1/namespace/abandon_block", AbandonBlockRequest => Ack;
    Complete = Post "/v1/namespace/complete", CompleteRequest => CompleteResponse;
    Mkdir = Post "/v1/namespace/mkdir", MkdirRequest => FileStatus;
    Delete = Post "/v1/namespace/delete", DeleteRequest => DeleteResponse;
    Rename = Post "/v1/namespace/rename", RenameRequest => RenameResponse;
    Stat = Get "/v1/namespace/stat", PathQuery => FileStatus;
    List = Get "/v1/namespace/list", ListQuery => ListResponse;
    Locate = Get "/v1/namespace/locate", PathQuery => LocatedFile;
    ReportBadReplica = Post "/v1/namespace/report_bad_replica", ReportBadReplicaRequest => Ack;
    SetReplication = Post "/v1/namespace/set_replication", SetReplicationRequest => FileStatus;
    Append = Post "/v1/namespace/append", AppendRequest => AppendResponse;
    ReopenBlock = Post "/v1/namespace/reopen_block", ReopenBlockRequest => OpenBlock;
    Flush = Post "/v1/namespace/flush", FlushRequest => Ack;
    RenewLease = Post "/v1/namespace/renew_lease", RenewLeaseRequest => Ack;
    RecoverLease = Post "/v1/namespace/recover_lease", RecoverLeaseRequest => RecoverLeaseResponse;
    Truncate = Post "/v1/namespace/truncate", TruncateRequest => TruncateResponse;
    Concat = Post "/v1/namespace/concat", ConcatRequest => FileStatus;
    /// HDFS's `setPermission`: the owner or the superuser.
    SetPermission = Post "/v1/namespace/set_permission", SetPermissionRequest => FileStatus;
    /// HDFS's `setOwner`: the owner only by the superuser, the group by the owner too.
    SetOwner = Post "/v1/namespace/set_owner", SetOwnerRequest => FileStatus;
    /// The namenode's settings clients follow: block size, replication, trash interval.
    GetServerDefaults = Get "/v1/namespace/server_defaults", () => ServerDefaults;
    /// Totals of everything at or below a path (HDFS's `getContentSummary`).
    GetContentSummary = Get "/v1/namespace/content_summary", PathQuery => ContentSummary;

    // Operators (namenode).
    AdminReport = Get "/v1/admin/report", () => ClusterReport;
    Fsck = Get "/v1/admin/fsck", FsckQuery => FsckReport;
    SafeMode = Post "/v1/admin/safemode", SafeModeRequest => SafeModeStatus;
    Decommission = Post "/v1/admin/decommission", DatanodeAdminRequest => DatanodeReport;
    Recommission = Post "/v1/admin/recommission", DatanodeAdminRequest => DatanodeReport;
    Maintenance = Post "/v1/admin/maintenance", MaintenanceRequest => DatanodeReport;

    // The job tracker (namenode).
    SubmitJob = Post "/v1/jobs", SubmitJobRequest => JobStatus;
    ListJobs = Get "/v1/jobs", () => JobList;
    GetJob = Get "/v1/jobs/{id}" [JobId], () => JobStatus;
    KillJob = Post "/v1/jobs/{id}/kill" [JobId], () => JobStatus;
    /// An executor asks for work and says what it runs.
    PollTasks = Post "/v1/executor/poll", ExecutorPoll => ExecutorPollResponse;
    /// An executor reports a finished attempt.
    ReportTask = Post "/v1/executor/report", TaskReport => Ack;

    // Datanode calls (namenode).
    Register = Post "/v1/datanode/register", RegisterRequest => RegisterResponse;
    Heartbeat = Post "/v1/datanode/heartbeat", HeartbeatRequest => HeartbeatResponse;
    BlockReport = Post "/v1/datanode/block_report", BlockReportRequest => BlockReportResponse;
    BlockReceived = Post "/v1/datanode/block_received", BlockReceivedRequest => Ack;
    /// Long poll: answers as soon as the namenode has commands for the datanode.
    Commands = Get "/v1/datanode/commands", DatanodeQuery => HeartbeatResponse;
    /// A replica copy the namenode ordered failed; it is ordered again at once.
    ReplicationFailed = Post "/v1/datanode/replication_failed", ReplicationFailedRequest => Ack;
    CommitBlockSync = Post "/v1/datanode/commit_block_sync", CommitBlockSyncRequest => Ack;
    /// Stream: a datanode's long-lived request, query [`DatanodeQuery`], answered with an
    /// [`Ack`]. Its body sends a byte every second and never ends while the datanode lives, so
    /// the namenode notices a dead process at once.
    Lifeline = Post "/v1/datanode/lifeline";

    /// Stream (datanode): the framed bytes of a block, query [`super::ReadBlockQuery`].
    ReadBlock = Get "/v1/blocks/{id}" [BlockId];
    /// Stream (datanode): writes a block from a framed body through its pipeline, answered
    /// with a [`super::WriteBlockAck`].
    WriteBlock = Put "/v1/blocks/{id}" [BlockId];
    /// A new replica of `{id}` copied locally from this node's replica of another block.
    CloneReplica = Post "/v1/blocks/{id}/clone" [BlockId], CloneReplicaRequest => WriteBlockAck;
    /// Datanode ↔ datanode, during a block recovery: a replica's state, and cutting it.
    ReplicaStateOf = Get "/v1/recovery/{id}" [BlockId], ReplicaStateQuery => ReplicaState;
    CutReplica = Post "/v1/recovery/{id}/cut" [BlockId], CutReplicaRequest => ReplicaState;
    /// Stream (datanode): one partition of a finished map attempt's output.
    ShufflePartition = Get "/v1/shuffle/{job}/{attempt}/{partition}" [(JobId, AttemptId, u32)];
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_method_and_path_is_declared_once() {
        let mut seen = HashSet::new();
        for (name, method, path) in ALL {
            assert!(
                seen.insert((method, path)),
                "{name}: {method:?} {path} twice"
            );
            assert!(path.starts_with("/v1/"), "{name}: {path}");
        }
        assert!(ALL.len() >= 35, "{} endpoints", ALL.len());
    }

    #[test]
    fn parameters_fill_their_segments() {
        let job = JobId("job_1_0001".into());
        assert_eq!(GetJob::path(&job), "/v1/jobs/job_1_0001");
        assert_eq!(KillJob::path(&job), "/v1/jobs/job_1_0001/kill");
        assert_eq!(WriteBlock::path(&BlockId(42)), "/v1/blocks/42");
        let attempt = AttemptId("attempt_1_0001_m_000003_0".into());
        assert_eq!(
            ShufflePartition::path(&(job, attempt, 7)),
            "/v1/shuffle/job_1_0001/attempt_1_0001_m_000003_0/7"
        );
        assert_eq!(Create::path(&()), "/v1/namespace/create");
        assert_eq!(
            GetJob::path(&JobId("../x?y".into())),
            "/v1/jobs/..%2Fx%3Fy",
            "a segment never adds a component or a query"
        );
    }

    #[test]
    fn parameters_are_validated_when_decoded() {
        assert!(JobId::from_raw("job-x".into()).is_err());
        assert!(
            <(JobId, AttemptId, u32)>::from_raw(("job_1".into(), "attempt_1".into(), 0)).is_ok()
        );
        assert!(<(JobId, AttemptId, u32)>::from_raw(("job_1".into(), "..".into(), 0)).is_err());
    }
}
