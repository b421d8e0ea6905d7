//! Typed HTTP client of the namenode.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::backoff::Backoff;
use crate::config::ClientConfig;
use crate::error::{Error, ErrorKind, Result, WireError};
use crate::path::FsPath;
use crate::protocol::routes::{self, Route};
use crate::protocol::*;

#[derive(Clone, Debug)]
pub struct NamenodeClient {
    http: reqwest::Client,
    base: String,
    /// `base` parsed once: parsing a URL per call was a tenth of a metadata client's CPU.
    base_url: reqwest::Url,
    retry_window: Duration,
    /// Set by the first answer: until then a call is retried for at most
    /// [`FIRST_CONTACT_WINDOW`], so a mistyped address fails in seconds, not a minute.
    reached: Arc<AtomicBool>,
}

/// How long a client that has never reached the namenode keeps trying.
pub const FIRST_CONTACT_WINDOW: Duration = Duration::from_secs(3);

/// Every call names its caller in one header, read by one extractor on the namenode.
fn user_header(user: &str) -> Result<reqwest::header::HeaderMap> {
    crate::permission::validate_name("user", user)?;
    let value = reqwest::header::HeaderValue::from_str(user)
        .map_err(|_| Error::invalid_argument(format!("user name {user:?} is not valid ASCII")))?;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(crate::protocol::USER_HEADER, value);
    Ok(headers)
}

impl NamenodeClient {
    pub fn new(config: &ClientConfig) -> Result<Self> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .default_headers(user_header(&config.user)?);
        if let Some(ip) = config.local_address {
            builder = builder.local_address(ip);
        }
        let http = builder
            .build()
            .map_err(|e| Error::internal(format!("http client: {e}")))?;
        let base_url = reqwest::Url::parse(&config.namenode)
            .ok()
            .filter(|url| url.has_host() && matches!(url.scheme(), "http" | "https"))
            .ok_or_else(|| {
                Error::invalid_argument(format!(
                    "invalid namenode URL {:?} (expected e.g. http://127.0.0.1:9870)",
                    config.namenode
                ))
            })?;
        Ok(NamenodeClient {
            http,
            base: config.namenode.clone(),
            base_url,
            retry_window: config.namenode_retry_window,
            reached: Arc::new(AtomicBool::new(false)),
        })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    pub async fn create(&self, req: &CreateRequest) -> Result<CreateResponse> {
        self.call::<routes::Create>(req).await
    }

    pub async fn add_block(&self, req: &AddBlockRequest) -> Result<AddBlockResponse> {
        self.writer_call::<routes::AddBlock>(req).await
    }

    pub async fn add_cloned_block(
        &self,
        req: &AddClonedBlockRequest,
    ) -> Result<AddClonedBlockResponse> {
        self.writer_call::<routes::AddClonedBlock>(req).await
    }

    pub async fn abandon_block(&self, req: &AbandonBlockRequest) -> Result<Ack> {
        self.writer_call::<routes::AbandonBlock>(req).await
    }

    pub async fn complete(&self, req: &CompleteRequest) -> Result<CompleteResponse> {
        self.writer_call::<routes::Complete>(req).await
    }

    pub async fn append(&self, req: &AppendRequest) -> Result<AppendResponse> {
        self.call::<routes::Append>(req).await
    }

    pub async fn reopen_block(&self, req: &ReopenBlockRequest) -> Result<OpenBlock> {
        self.writer_call::<routes::ReopenBlock>(req).await
    }

    pub async fn flush(&self, req: &FlushRequest) -> Result<Ack> {
        self.writer_call::<routes::Flush>(req).await
    }

    pub async fn renew_lease(&self, req: &RenewLeaseRequest) -> Result<Ack> {
        self.writer_call::<routes::RenewLease>(req).await
    }

    pub async fn recover_lease(&self, req: &RecoverLeaseRequest) -> Result<RecoverLeaseResponse> {
        self.call::<routes::RecoverLease>(req).await
    }

    pub async fn truncate(&self, req: &TruncateRequest) -> Result<TruncateResponse> {
        self.call::<routes::Truncate>(req).await
    }

    pub async fn concat(&self, req: &ConcatRequest) -> Result<FileStatus> {
        self.call::<routes::Concat>(req).await
    }

    pub async fn set_permission(&self, req: &SetPermissionRequest) -> Result<FileStatus> {
        self.call::<routes::SetPermission>(req).await
    }

    pub async fn set_owner(&self, req: &SetOwnerRequest) -> Result<FileStatus> {
        self.call::<routes::SetOwner>(req).await
    }

    pub async fn mkdir(&self, req: &MkdirRequest) -> Result<FileStatus> {
        self.call::<routes::Mkdir>(req).await
    }

    pub async fn delete(&self, req: &DeleteRequest) -> Result<DeleteResponse> {
        self.call::<routes::Delete>(req).await
    }

    pub async fn rename(&self, req: &RenameRequest) -> Result<RenameResponse> {
        self.call::<routes::Rename>(req).await
    }

    pub async fn stat(&self, path: &FsPath) -> Result<FileStatus> {
        self.call::<routes::Stat>(&PathQuery { path: path.clone() })
            .await
    }

    /// One page of a listing; `limit` `None` takes the namenode's `ls_limit`.
    pub async fn list(
        &self,
        path: &FsPath,
        start_after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<ListResponse> {
        let query = ListQuery {
            path: path.clone(),
            start_after: start_after.map(str::to_string),
            limit,
        };
        self.call::<routes::List>(&query).await
    }

    pub async fn locate(&self, path: &FsPath) -> Result<LocatedFile> {
        self.call::<routes::Locate>(&PathQuery { path: path.clone() })
            .await
    }

    pub async fn content_summary(&self, path: &FsPath) -> Result<ContentSummary> {
        self.call::<routes::GetContentSummary>(&PathQuery { path: path.clone() })
            .await
    }

    pub async fn report_bad_replica(&self, req: &ReportBadReplicaRequest) -> Result<Ack> {
        self.call::<routes::ReportBadReplica>(req).await
    }

    pub async fn report(&self) -> Result<ClusterReport> {
        self.call::<routes::AdminReport>(&()).await
    }

    pub async fn server_defaults(&self) -> Result<ServerDefaults> {
        self.call::<routes::GetServerDefaults>(&()).await
    }

    /// A call that does no work: the cost of a round trip.
    pub async fn health(&self) -> Result<HealthResponse> {
        self.call::<routes::Health>(&()).await
    }

    pub async fn set_replication(&self, req: &SetReplicationRequest) -> Result<FileStatus> {
        self.call::<routes::SetReplication>(req).await
    }

    pub async fn fsck(&self, query: &FsckQuery) -> Result<FsckReport> {
        self.call::<routes::Fsck>(query).await
    }

    pub async fn safe_mode(&self, action: SafeModeAction) -> Result<SafeModeStatus> {
        self.call::<routes::SafeMode>(&SafeModeRequest { action })
            .await
    }

    pub async fn decommission(&self, req: &DatanodeAdminRequest) -> Result<DatanodeReport> {
        self.call::<routes::Decommission>(req).await
    }

    pub async fn recommission(&self, req: &DatanodeAdminRequest) -> Result<DatanodeReport> {
        self.call::<routes::Recommission>(req).await
    }

    pub async fn maintenance(&self, req: &MaintenanceRequest) -> Result<DatanodeReport> {
        self.call::<routes::Maintenance>(req).await
    }

    pub async fn submit_job(&self, req: &SubmitJobRequest) -> Result<JobStatus> {
        self.call::<routes::SubmitJob>(req).await
    }

    pub async fn job_status(&self, id: &JobId) -> Result<JobStatus> {
        self.call_at::<routes::GetJob>(id, &()).await
    }

    pub async fn list_jobs(&self) -> Result<JobList> {
        self.call::<routes::ListJobs>(&()).await
    }

    pub async fn kill_job(&self, id: &JobId) -> Result<JobStatus> {
        self.call_at::<routes::KillJob>(id, &()).await
    }

    pub async fn executor_poll(&self, poll: &ExecutorPoll) -> Result<ExecutorPollResponse> {
        self.call::<routes::PollTasks>(poll).await
    }

    pub async fn executor_report(&self, report: &TaskReport) -> Result<Ack> {
        self.call::<routes::ReportTask>(report).await
    }

    /// Calls route `R`, which has no path parameters.
    pub async fn call<R: Route<Params = ()>>(&self, req: &R::Request) -> Result<R::Response> {
        self.call_at::<R>(&(), req).await
    }

    /// A call of a writer with a file open: `safe_mode` answers are retried within the retry
    /// window too, whether or not this call saw the namenode down. The namenode accepted the
    /// writer's open, so safe mode now means it restarted (and waits for block reports), which
    /// a writer rides out rather than failing.
    async fn writer_call<R: Route<Params = ()>>(&self, req: &R::Request) -> Result<R::Response> {
        self.send::<R>(&(), req, true).await
    }

    /// Calls route `R` at the path its `params` fill in: the request is the JSON body of a
    /// `POST` or the query of a `GET`.
    pub async fn call_at<R: Route>(
        &self,
        params: &R::Params,
        req: &R::Request,
    ) -> Result<R::Response> {
        self.send::<R>(params, req, false).await
    }

    async fn send<R: Route>(
        &self,
        params: &R::Params,
        req: &R::Request,
        retry_safe_mode: bool,
    ) -> Result<R::Response> {
        let url = self.route_url(&R::path(params));
        let method = reqwest::Method::from(R::METHOD);
        let send = || {
            routes::with_request::<R>(self.http.request(method.clone(), url.clone()), req).send()
        };
        self.with_retries(send, retry_safe_mode).await
    }

    fn route_url(&self, route: &str) -> reqwest::Url {
        let mut url = self.base_url.clone();
        url.set_path(&format!(
            "{}{route}",
            self.base_url.path().trim_end_matches('/')
        ));
        url
    }

    /// Sends, retrying transport failures with back-off for up to the retry window (at most
    /// [`FIRST_CONTACT_WINDOW`] before the namenode first answered this client), and,
    /// once the namenode was unreachable (or for `retry_safe_mode`), its `safe_mode` answers
    /// too: a restarted namenode is in safe mode until the datanodes have reported, which a
    /// call riding out the restart waits for (a namenode in safe mode for another reason
    /// fails a fresh call at once). Safe for every call: reads are
    /// idempotent, namespace mutations and job submissions carry a request id the namenode
    /// deduplicates, and the calls without one may be repeated: datanode registrations and
    /// reports restate what the node holds, a repeated kill finds the job killed, a repeated
    /// task report finds its attempt no longer running and is ignored, and the launches of a
    /// poll whose answer was lost are re-queued once the next poll does not list them.
    async fn with_retries<F, Fut, Resp>(&self, send: F, retry_safe_mode: bool) -> Result<Resp>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = reqwest::Result<reqwest::Response>>,
        Resp: DeserializeOwned,
    {
        let window = if self.reached.load(Ordering::Relaxed) {
            self.retry_window
        } else {
            self.retry_window.min(FIRST_CONTACT_WINDOW)
        };
        let deadline = tokio::time::Instant::now() + window;
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let mut was_unreachable = retry_safe_mode;
        loop {
            let error = match send().await {
                Ok(response) => {
                    self.reached.store(true, Ordering::Relaxed);
                    match decode_response(response, "namenode").await {
                        Err(e) if e.kind == ErrorKind::SafeMode && was_unreachable => e,
                        decoded => return decoded,
                    }
                }
                Err(e) => {
                    was_unreachable = true;
                    Error::new(
                        ErrorKind::Unavailable,
                        format!(
                            "cannot reach the namenode at {}: {}",
                            self.base,
                            transport_reason(&e)
                        ),
                    )
                }
            };
            let wait = backoff.next_wait();
            if tokio::time::Instant::now() + wait > deadline {
                return Err(error);
            }
            tracing::debug!("namenode call failed ({error}); retrying in {wait:?}");
            tokio::time::sleep(wait).await;
        }
    }
}

/// Turns a response into the expected body or the server's error; `peer` names what the
/// server should be ("namenode", "datanode") for an answer no Granary server gives.
pub(crate) async fn decode_response<Resp: DeserializeOwned>(
    response: reqwest::Response,
    peer: &str,
) -> Result<Resp> {
    let status = response.status();
    let from = response_origin(response.url());
    let body = response.bytes().await.map_err(|e| {
        Error::new(
            ErrorKind::Unavailable,
            format!("reading response: {}", transport_reason(&e)),
        )
    })?;
    if status.is_success() {
        serde_json::from_slice(&body).map_err(|e| {
            Error::internal(format!(
                "unexpected response body from {from} (is it a Granary {peer}?): {e}"
            ))
        })
    } else {
        Err(wire_error(status, &body, &from, peer))
    }
}

/// The error a failed response carries. A body that is not a `WireError` did not come from
/// a Granary server (every one of its errors is one): say so rather than repeat the body,
/// often a whole HTML page.
pub(crate) fn wire_error(
    status: reqwest::StatusCode,
    body: &[u8],
    from: &str,
    peer: &str,
) -> Error {
    match serde_json::from_slice::<WireError>(body) {
        Ok(wire) => wire.into(),
        Err(_) => Error::internal(format!(
            "this is not a Granary {peer} (HTTP {} from {from})",
            status.as_u16()
        )),
    }
}

/// Where a response came from, without its query string.
pub(crate) fn response_origin(url: &reqwest::Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.to_string()
}

/// A short reason for a transport error (reqwest's own text omits the cause).
pub fn transport_reason(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut reason = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        reason = s.to_string();
        source = s.source();
    }
    reason
}
