//! The reducer's side of the shuffle: one partition of one map's output, streamed into a local
//! segment file, checked against its `Content-Length` and, as it streams, against the CRC32C
//! the map recorded for it. A connection that delivers nothing for the stall timeout is given
//! up. Failures of the map's side that a second try may cure are retried a couple of times.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use granary_client::namenode::transport_reason;
use granary_client::protocol::routes::{self, Endpoint};
use granary_client::protocol::{AttemptId, JobId, SEGMENT_CRC32C_HEADER};
use granary_client::WireError;
use tokio::io::{AsyncWriteExt, BufWriter};

/// Tries per partition before the map's output counts as lost.
const FETCH_TRIES: u32 = 3;
/// Pause after the first failed try; doubled after the second.
const RETRY_DELAY: Duration = Duration::from_millis(200);
/// Local write buffer, so small network chunks do not each cost a write.
const WRITE_BUFFER: usize = 1 << 20;
/// Most of an error body kept for the message.
const ERROR_BODY_LIMIT: usize = 4096;

/// A partition that arrived whole and matching the map's CRC32C.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fetched {
    pub bytes: u64,
    pub crc32c: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot reach the map's datanode: {0}")]
    Unreachable(String),
    #[error("the map's datanode answered HTTP {status}: {message}")]
    Status { status: u16, message: String },
    #[error("the response has no Content-Length")]
    NoLength,
    #[error("the response has no valid {SEGMENT_CRC32C_HEADER} header")]
    NoChecksum,
    #[error("the body ended after {received} of {expected} bytes ({reason})")]
    Truncated {
        received: u64,
        expected: u64,
        reason: String,
    },
    #[error("nothing received for {0:?}")]
    Stalled(Duration),
    /// The bytes are not the ones the map wrote: its output file is damaged.
    #[error("the segment's CRC32C is {actual:08x}; the map wrote {expected:08x}")]
    ChecksumMismatch { expected: u32, actual: u32 },
    /// The reducer's own disk failed; the map output is not at fault.
    #[error("writing {path}: {source}", path = .path.display())]
    Local {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl FetchError {
    /// True when the map's side failed (its output is lost, damaged or unreachable), false for
    /// a local disk error.
    pub fn is_remote(&self) -> bool {
        !matches!(self, FetchError::Local { .. })
    }

    /// Whether another try may succeed. A stalled datanode has had a whole stall timeout to
    /// answer, and a damaged file reads the same on every try: both go to the tracker at once,
    /// which re-runs the map elsewhere.
    pub(crate) fn is_worth_retrying(&self) -> bool {
        !matches!(
            self,
            FetchError::Local { .. } | FetchError::Stalled(_) | FetchError::ChecksumMismatch { .. }
        )
    }
}

/// Fetches `partition` of map attempt `attempt` from the datanode at `source` into `dest`,
/// returning its size and CRC32C. Any wait for the next bytes longer than `stall_timeout` fails
/// the fetch; failures another try may cure are retried twice before they are returned.
pub async fn fetch_partition(
    http: &reqwest::Client,
    source: SocketAddr,
    job: &JobId,
    attempt: &AttemptId,
    partition: u32,
    dest: &Path,
    stall_timeout: Duration,
) -> Result<Fetched, FetchError> {
    let params = (job.clone(), attempt.clone(), partition);
    let url = format!("http://{source}{}", routes::ShufflePartition::path(&params));
    let mut delay = RETRY_DELAY;
    for _ in 1..FETCH_TRIES {
        match fetch_once(http, &url, dest, stall_timeout).await {
            Err(e) if e.is_worth_retrying() => {
                tracing::debug!("fetching {url} failed ({e}); retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            result => return result,
        }
    }
    fetch_once(http, &url, dest, stall_timeout).await
}

async fn fetch_once(
    http: &reqwest::Client,
    url: &str,
    dest: &Path,
    stall: Duration,
) -> Result<Fetched, FetchError> {
    let mut response = tokio::time::timeout(
        stall,
        http.request(routes::ShufflePartition::METHOD.into(), url)
            .send(),
    )
    .await
    .map_err(|_| FetchError::Stalled(stall))?
    .map_err(|e| FetchError::Unreachable(transport_reason(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Status {
            status: status.as_u16(),
            message: error_message(response, stall).await,
        });
    }
    let expected = response.content_length().ok_or(FetchError::NoLength)?;
    let expected_crc = response
        .headers()
        .get(SEGMENT_CRC32C_HEADER)
        .and_then(|value| value.to_str().ok()?.parse::<u32>().ok())
        .ok_or(FetchError::NoChecksum)?;
    let local = |source| FetchError::Local {
        path: dest.to_path_buf(),
        source,
    };
    let file = tokio::fs::File::create(dest).await.map_err(local)?;
    let mut out = BufWriter::with_capacity(WRITE_BUFFER, file);
    let (mut received, mut crc) = (0u64, 0u32);
    let truncated = |received, reason| FetchError::Truncated {
        received,
        expected,
        reason,
    };
    loop {
        let chunk = match tokio::time::timeout(stall, response.chunk()).await {
            Err(_) => return Err(FetchError::Stalled(stall)),
            Ok(Err(e)) => return Err(truncated(received, transport_reason(&e))),
            Ok(Ok(None)) => break,
            Ok(Ok(Some(chunk))) => chunk,
        };
        received += chunk.len() as u64;
        if received > expected {
            return Err(truncated(received, "more bytes than announced".into()));
        }
        crc = crc32c::crc32c_append(crc, &chunk);
        out.write_all(&chunk).await.map_err(local)?;
    }
    if received != expected {
        return Err(truncated(received, "end of stream".into()));
    }
    if crc != expected_crc {
        return Err(FetchError::ChecksumMismatch {
            expected: expected_crc,
            actual: crc,
        });
    }
    out.flush().await.map_err(local)?;
    Ok(Fetched {
        bytes: received,
        crc32c: crc,
    })
}

/// The message of an error response: its `WireError`'s, else the start of its text.
async fn error_message(mut response: reqwest::Response, stall: Duration) -> String {
    let mut body = Vec::new();
    while body.len() < ERROR_BODY_LIMIT {
        match tokio::time::timeout(stall, response.chunk()).await {
            Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(ERROR_BODY_LIMIT);
    match serde_json::from_slice::<WireError>(&body) {
        Ok(wire) => wire.message,
        Err(_) => String::from_utf8_lossy(&body).trim().to_string(),
    }
}
