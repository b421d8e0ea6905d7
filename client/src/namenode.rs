//! Typed HTTP client of the namenode.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::ClientConfig;
use crate::error::{Error, ErrorKind, Result, WireError};
use crate::path::FsPath;
use crate::protocol::*;

#[derive(Clone, Debug)]
pub struct NamenodeClient {
    http: reqwest::Client,
    base: String,
    /// `base` parsed once: parsing a URL per call was a tenth of a metadata client's CPU.
    base_url: reqwest::Url,
    retries: u32,
}

impl NamenodeClient {
    pub fn new(config: &ClientConfig) -> Result<Self> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true);
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
            retries: config.namenode_retries,
        })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    pub async fn create(&self, req: &CreateRequest) -> Result<CreateResponse> {
        self.post(routes::CREATE, req).await
    }

    pub async fn add_block(&self, req: &AddBlockRequest) -> Result<AddBlockResponse> {
        self.post(routes::ADD_BLOCK, req).await
    }

    pub async fn abandon_block(&self, req: &AbandonBlockRequest) -> Result<serde_json::Value> {
        self.post(routes::ABANDON_BLOCK, req).await
    }

    pub async fn complete(&self, req: &CompleteRequest) -> Result<CompleteResponse> {
        self.post(routes::COMPLETE, req).await
    }

    pub async fn mkdir(&self, req: &MkdirRequest) -> Result<FileStatus> {
        self.post(routes::MKDIR, req).await
    }

    pub async fn delete(&self, req: &DeleteRequest) -> Result<DeleteResponse> {
        self.post(routes::DELETE, req).await
    }

    pub async fn rename(&self, req: &RenameRequest) -> Result<RenameResponse> {
        self.post(routes::RENAME, req).await
    }

    pub async fn stat(&self, path: &FsPath) -> Result<FileStatus> {
        self.get(routes::STAT, &PathQuery { path: path.clone() })
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
        self.get(routes::LIST, &query).await
    }

    pub async fn locate(&self, path: &FsPath) -> Result<LocatedFile> {
        self.get(routes::LOCATE, &PathQuery { path: path.clone() })
            .await
    }

    pub async fn report_bad_replica(
        &self,
        req: &ReportBadReplicaRequest,
    ) -> Result<serde_json::Value> {
        self.post(routes::REPORT_BAD_REPLICA, req).await
    }

    pub async fn report(&self) -> Result<ClusterReport> {
        self.get(routes::ADMIN_REPORT, &()).await
    }

    /// A call that does no work: the cost of a round trip.
    pub async fn health(&self) -> Result<HealthResponse> {
        self.get(routes::HEALTH, &()).await
    }

    pub async fn set_replication(&self, req: &SetReplicationRequest) -> Result<FileStatus> {
        self.post(routes::SET_REPLICATION, req).await
    }

    pub async fn fsck(&self, path: &FsPath) -> Result<FsckReport> {
        self.get(routes::ADMIN_FSCK, &FsckQuery { path: path.clone() })
            .await
    }

    pub async fn safe_mode(&self, action: SafeModeAction) -> Result<SafeModeStatus> {
        self.post(routes::ADMIN_SAFEMODE, &SafeModeRequest { action })
            .await
    }

    pub async fn decommission(&self, req: &DatanodeAdminRequest) -> Result<DatanodeReport> {
        self.post(routes::ADMIN_DECOMMISSION, req).await
    }

    pub async fn recommission(&self, req: &DatanodeAdminRequest) -> Result<DatanodeReport> {
        self.post(routes::ADMIN_RECOMMISSION, req).await
    }

    pub async fn maintenance(&self, req: &MaintenanceRequest) -> Result<DatanodeReport> {
        self.post(routes::ADMIN_MAINTENANCE, req).await
    }

    pub async fn submit_job(&self, req: &SubmitJobRequest) -> Result<JobStatus> {
        self.post(routes::JOBS, req).await
    }

    pub async fn job_status(&self, id: &JobId) -> Result<JobStatus> {
        self.get(&routes::job(id), &()).await
    }

    pub async fn list_jobs(&self) -> Result<JobList> {
        self.get(routes::JOBS, &()).await
    }

    pub async fn kill_job(&self, id: &JobId) -> Result<JobStatus> {
        self.post(&routes::job_kill(id), &()).await
    }

    pub async fn executor_poll(&self, poll: &ExecutorPoll) -> Result<ExecutorPollResponse> {
        self.post(routes::EXECUTOR_POLL, poll).await
    }

    pub async fn executor_report(&self, report: &TaskReport) -> Result<serde_json::Value> {
        self.post(routes::EXECUTOR_REPORT, report).await
    }

    async fn post<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        route: &str,
        req: &Req,
    ) -> Result<Resp> {
        let url = self.route_url(route);
        self.with_retries(|| self.http.post(url.clone()).json(req).send())
            .await
    }

    async fn get<Q: Serialize, Resp: DeserializeOwned>(
        &self,
        route: &str,
        query: &Q,
    ) -> Result<Resp> {
        let url = self.route_url(route);
        self.with_retries(|| self.http.get(url.clone()).query(query).send())
            .await
    }

    fn route_url(&self, route: &str) -> reqwest::Url {
        let mut url = self.base_url.clone();
        url.set_path(&format!(
            "{}{route}",
            self.base_url.path().trim_end_matches('/')
        ));
        url
    }

    /// Sends, retrying transport failures with back-off. Safe for every call: reads are
    /// idempotent and every mutation carries a request id the namenode deduplicates.
    async fn with_retries<F, Fut, Resp>(&self, send: F) -> Result<Resp>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = reqwest::Result<reqwest::Response>>,
        Resp: DeserializeOwned,
    {
        let mut attempt = 0;
        loop {
            match send().await {
                Ok(response) => return decode_response(response).await,
                Err(e) if attempt < self.retries => {
                    attempt += 1;
                    tracing::debug!("namenode call failed ({e}), retry {attempt}");
                    tokio::time::sleep(Duration::from_millis(100 << attempt.min(5))).await;
                }
                Err(e) => {
                    return Err(Error::new(
                        ErrorKind::Unavailable,
                        format!(
                            "cannot reach the namenode at {}: {}",
                            self.base,
                            transport_reason(&e)
                        ),
                    ))
                }
            }
        }
    }
}

/// Turns a response into the expected body or the server's error.
pub(crate) async fn decode_response<Resp: DeserializeOwned>(
    response: reqwest::Response,
) -> Result<Resp> {
    let status = response.status();
    let body = response.bytes().await.map_err(|e| {
        Error::new(
            ErrorKind::Unavailable,
            format!("reading response: {}", transport_reason(&e)),
        )
    })?;
    if status.is_success() {
        serde_json::from_slice(&body)
            .map_err(|e| Error::internal(format!("unexpected response body: {e}")))
    } else {
        Err(wire_error(status, &body))
    }
}

/// The error a failed response carries, or a generic one if its body is not a `WireError`.
pub(crate) fn wire_error(status: reqwest::StatusCode, body: &[u8]) -> Error {
    match serde_json::from_slice::<WireError>(body) {
        Ok(wire) => wire.into(),
        Err(_) => Error::internal(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(body).trim()
        )),
    }
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
