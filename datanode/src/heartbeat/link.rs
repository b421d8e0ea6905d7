//! `NamenodeLink`: the typed HTTP client of the namenode's datanode routes.

use std::time::Duration;

use granary_client::protocol::{
    routes, BlockReceivedRequest, BlockReportRequest, BlockReportResponse, HeartbeatRequest,
    HeartbeatResponse, RegisterRequest, RegisterResponse,
};
use granary_client::{Error, ErrorKind, WireError};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::downstream::describe;

/// A block report of a full disk is large, so calls get a generous timeout.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct NamenodeLink {
    http: reqwest::Client,
    base: String,
}

impl NamenodeLink {
    /// `base` is the namenode URL, such as `http://127.0.0.1:9870`.
    pub fn new(base: &str) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
            .build()
            .map_err(|e| Error::internal(format!("building the HTTP client: {e}")))?;
        Ok(NamenodeLink {
            http,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    pub async fn register(&self, request: &RegisterRequest) -> Result<RegisterResponse, Error> {
        self.call(routes::REGISTER, request).await
    }

    /// Fails with `unknown_datanode` if the namenode does not know this node.
    pub async fn heartbeat(&self, request: &HeartbeatRequest) -> Result<HeartbeatResponse, Error> {
        self.call(routes::HEARTBEAT, request).await
    }

    pub async fn block_report(
        &self,
        request: &BlockReportRequest,
    ) -> Result<BlockReportResponse, Error> {
        self.call(routes::BLOCK_REPORT, request).await
    }

    /// The incremental report; its answer carries nothing we use.
    pub async fn block_received(&self, request: &BlockReceivedRequest) -> Result<(), Error> {
        self.send(routes::BLOCK_RECEIVED, request).await.map(drop)
    }

    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        route: &str,
        request: &Req,
    ) -> Result<Resp, Error> {
        let body = self.send(route, request).await?;
        serde_json::from_slice(&body).map_err(|e| {
            Error::internal(format!(
                "malformed answer from the namenode to {route}: {e}"
            ))
        })
    }

    /// Posts `request` and returns the body of a 2xx answer; any other answer becomes the
    /// error its `WireError` body describes.
    async fn send<Req: Serialize>(
        &self,
        route: &str,
        request: &Req,
    ) -> Result<bytes::Bytes, Error> {
        let unavailable = |e: reqwest::Error| {
            Error::new(
                ErrorKind::Unavailable,
                format!("namenode {}: {}", self.base, describe(&e)),
            )
        };
        let response = self
            .http
            .post(format!("{}{route}", self.base))
            .json(request)
            .send()
            .await
            .map_err(unavailable)?;
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
