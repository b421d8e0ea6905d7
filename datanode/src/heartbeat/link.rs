//! `NamenodeLink`: the typed HTTP client of the namenode's datanode routes.

use std::net::IpAddr;
use std::time::Duration;

use granary_client::protocol::routes::{self, Endpoint, Route};
use granary_client::protocol::{
    BlockReceivedRequest, BlockReportRequest, BlockReportResponse, CommitBlockSyncRequest,
    DatanodeQuery, HeartbeatRequest, HeartbeatResponse, RegisterRequest, RegisterResponse,
    ReplicationFailedRequest, ReportBadReplicaRequest,
};
use granary_client::{DatanodeId, Error, ErrorKind, WireError};
use serde::de::DeserializeOwned;

use crate::downstream::describe;

/// A block report of a full disk is large, so calls get a generous timeout.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The namenode holds a command poll open for about 10 s; this leaves it ample slack.
const POLL_TIMEOUT: Duration = Duration::from_secs(40);

#[derive(Clone)]
pub struct NamenodeLink {
    http: reqwest::Client,
    /// For the lifeline and the command poll, which legitimately stay open long: no overall
    /// timeout on the client (the poll sets its own per request).
    long_http: reqwest::Client,
    base: String,
}

impl NamenodeLink {
    /// `base` is the namenode URL, such as `http://127.0.0.1:9870`.
    pub fn new(base: &str) -> Result<Self, Error> {
        Self::bound_to(base, None)
    }

    /// Connects from `host` when given: the namenode takes a datanode's address from the host
    /// its registration and heartbeats come from, so they must leave from the host it serves
    /// on (one of several loopback addresses in a local cluster).
    pub fn bound_to(base: &str, host: Option<IpAddr>) -> Result<Self, Error> {
        let builder = || {
            reqwest::Client::builder()
                .no_proxy()
                .local_address(host)
                .connect_timeout(CONNECT_TIMEOUT)
        };
        let built = |b: reqwest::ClientBuilder| {
            b.build()
                .map_err(|e| Error::internal(format!("building the HTTP client: {e}")))
        };
        Ok(NamenodeLink {
            http: built(builder().timeout(CALL_TIMEOUT))?,
            long_http: built(builder())?,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    /// Sends the lifeline: `body` is expected never to end. Returns when the namenode answers
    /// (`Ok` for a 2xx) or the connection fails.
    pub async fn lifeline(&self, id: &DatanodeId, body: reqwest::Body) -> Result<(), Error> {
        let request = routes::request::<routes::Lifeline>(&self.long_http, &self.base, &())
            .query(&DatanodeQuery { id: id.clone() })
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(body);
        self.exchange(routes::Lifeline::PATH, request)
            .await
            .map(drop)
    }

    /// Long poll: the namenode answers when it has commands for us, or empty after a while.
    pub async fn poll_commands(&self, id: &DatanodeId) -> Result<HeartbeatResponse, Error> {
        let query = DatanodeQuery { id: id.clone() };
        self.call_on::<routes::Commands>(&self.long_http, &query, Some(POLL_TIMEOUT))
            .await
    }

    pub async fn replication_failed(
        &self,
        request: &ReplicationFailedRequest,
    ) -> Result<(), Error> {
        self.call::<routes::ReplicationFailed>(request)
            .await
            .map(drop)
    }

    pub async fn report_bad_replica(&self, request: &ReportBadReplicaRequest) -> Result<(), Error> {
        self.call::<routes::ReportBadReplica>(request)
            .await
            .map(drop)
    }

    pub async fn register(&self, request: &RegisterRequest) -> Result<RegisterResponse, Error> {
        self.call::<routes::Register>(request).await
    }

    /// Fails with `unknown_datanode` if the namenode does not know this node.
    pub async fn heartbeat(&self, request: &HeartbeatRequest) -> Result<HeartbeatResponse, Error> {
        self.call::<routes::Heartbeat>(request).await
    }

    pub async fn block_report(
        &self,
        request: &BlockReportRequest,
    ) -> Result<BlockReportResponse, Error> {
        self.call::<routes::BlockReport>(request).await
    }

    /// The incremental report; its answer carries nothing we use.
    pub async fn block_received(&self, request: &BlockReceivedRequest) -> Result<(), Error> {
        self.call::<routes::BlockReceived>(request).await.map(drop)
    }

    /// The end of a block recovery this datanode led.
    pub async fn commit_block_sync(&self, request: &CommitBlockSyncRequest) -> Result<(), Error> {
        self.call::<routes::CommitBlockSync>(request)
            .await
            .map(drop)
    }

    /// Calls route `R` with the call timeout.
    async fn call<R: Route<Params = ()>>(
        &self,
        request: &R::Request,
    ) -> Result<R::Response, Error> {
        self.call_on::<R>(&self.http, request, None).await
    }

    /// Calls route `R` on `http`, with `timeout` instead of the client's own if given.
    async fn call_on<R: Route<Params = ()>>(
        &self,
        http: &reqwest::Client,
        request: &R::Request,
        timeout: Option<Duration>,
    ) -> Result<R::Response, Error> {
        let mut builder =
            routes::with_request::<R>(routes::request::<R>(http, &self.base, &()), request);
        if let Some(timeout) = timeout {
            builder = builder.timeout(timeout);
        }
        let body = self.exchange(R::PATH, builder).await?;
        decode(R::PATH, &body)
    }

    /// Sends `request` and returns the body of a 2xx answer; any other answer becomes the
    /// error its `WireError` body describes.
    async fn exchange(
        &self,
        route: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<bytes::Bytes, Error> {
        let unavailable = |e: reqwest::Error| {
            Error::new(
                ErrorKind::Unavailable,
                format!("namenode {}: {}", self.base, describe(&e)),
            )
        };
        let response = request.send().await.map_err(unavailable)?;
        let status = response.status();
        let body = response.bytes().await.map_err(unavailable)?;
        if status.is_success() {
            return Ok(body);
        }
        Err(match serde_json::from_slice::<WireError>(&body) {
            Ok(wire) => Error::from(wire),
            Err(_) => Error::new(
                ErrorKind::Unavailable,
                format!("namenode answered {status} to {route}"),
            ),
        })
    }
}

fn decode<Resp: DeserializeOwned>(route: &str, body: &[u8]) -> Result<Resp, Error> {
    serde_json::from_slice(body).map_err(|e| {
        Error::internal(format!(
            "malformed answer from the namenode to {route}: {e}"
        ))
    })
}
