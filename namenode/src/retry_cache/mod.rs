//! The retry cache: the answer to every state-changing call, kept under its `RequestId`, so a
//! retry after a lost response (even across a namenode crash) gets that answer instead of
//! applying the call twice. An answer is staged in the same journal record as the change it
//! answers; it lives in memory ([`entries`]) and, once a checkpoint retires that record, in
//! the retry log ([`log`]) until it expires.
//!
//! An entry is `[created ms, u64 BE][JSON {op, ok | err}]`: the timestamp comes first so
//! expiry reads eight bytes per entry instead of parsing it.

pub mod entries;
pub mod log;

use std::time::Duration;

use granary_client::{Error, ErrorKind, RequestId, WireError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::namespace::store::Store;

/// Request ids are client-chosen keys; bound them.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// A request id as the cache keys it: the first 16 bytes of its SHA-256, so every entry has
/// the same small size whatever the client sent (a collision is as unlikely as one of
/// SHA-256's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RetryKey(pub [u8; 16]);

impl RetryKey {
    pub const LEN: usize = 16;

    /// The key of a request id's raw bytes.
    pub fn of(id: &[u8]) -> Self {
        let digest = Sha256::digest(id);
        let mut key = [0u8; Self::LEN];
        key.copy_from_slice(&digest[..Self::LEN]);
        RetryKey(key)
    }
}

/// The cached operations; a request id reused for another operation is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Create,
    AddBlock,
    AddClonedBlock,
    Complete,
    Mkdir,
    Delete,
    Rename,
    SetReplication,
    Append,
    ReopenBlock,
    Flush,
    Truncate,
    Concat,
    /// `set_permission` and `set_owner`: both answer the entry's status.
    SetAttributes,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::AddBlock => "add_block",
            Op::AddClonedBlock => "add_cloned_block",
            Op::Complete => "complete",
            Op::Mkdir => "mkdir",
            Op::Delete => "delete",
            Op::Rename => "rename",
            Op::SetReplication => "set_replication",
            Op::Append => "append",
            Op::ReopenBlock => "reopen_block",
            Op::Flush => "flush",
            Op::Truncate => "truncate",
            Op::Concat => "concat",
            Op::SetAttributes => "set_attributes",
        }
    }
}

#[derive(Serialize)]
struct StoredRef<'a, T> {
    op: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ok: Option<&'a T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    err: Option<WireError>,
}

/// Read first, so an entry of another operation is refused before its answer is parsed as
/// this operation's type.
#[derive(Deserialize)]
struct StoredOp {
    op: String,
}

#[derive(Deserialize)]
struct Stored<T> {
    ok: Option<T>,
    err: Option<WireError>,
}

pub fn key(request_id: &RequestId) -> Result<RetryKey, Error> {
    let id = request_id.0.as_bytes();
    if id.is_empty() || id.len() > MAX_REQUEST_ID_LEN {
        return Err(Error::invalid_argument(format!(
            "request id must be 1 to {MAX_REQUEST_ID_LEN} bytes"
        )));
    }
    Ok(RetryKey::of(id))
}

/// When an entry was created (0 if it is too short to say).
pub fn created_ms(value: &[u8]) -> u64 {
    value
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

/// Failures worth remembering: those that say something about the namespace. Transient ones
/// (no datanodes yet, disk trouble) must not stick to a request id its client will retry.
pub fn is_cacheable(result: &Result<impl Sized, Error>) -> bool {
    match result {
        Ok(_) => true,
        Err(e) => {
            !e.kind.is_transient()
                && !matches!(
                    e.kind,
                    ErrorKind::NoDatanodes | ErrorKind::SafeMode | ErrorKind::Internal
                )
        }
    }
}

pub fn encode<T: Serialize>(
    op: Op,
    result: &Result<T, Error>,
    now_ms: u64,
) -> Result<Vec<u8>, Error> {
    let stored = StoredRef {
        op: op.as_str(),
        ok: result.as_ref().ok(),
        err: result.as_ref().err().map(Error::to_wire),
    };
    let mut value = now_ms.to_be_bytes().to_vec();
    serde_json::to_writer(&mut value, &stored)
        .map_err(|e| Error::internal(format!("cannot encode {} answer: {e}", op.as_str())))?;
    Ok(value)
}

/// The stored answer, or `None` when the entry has expired.
pub fn decode<T: DeserializeOwned>(
    op: Op,
    value: &[u8],
    now_ms: u64,
    ttl: Duration,
) -> Option<Result<T, Error>> {
    if value.len() < 8 {
        return Some(Err(Error::internal("corrupt retry-cache entry")));
    }
    let (created, body) = (created_ms(value), &value[8..]);
    if now_ms.saturating_sub(created) > ttl.as_millis() as u64 {
        return None;
    }
    let corrupt = |e: serde_json::Error| {
        Some(Err(Error::internal(format!(
            "corrupt retry-cache entry: {e}"
        ))))
    };
    let stored_op = match serde_json::from_slice::<StoredOp>(body) {
        Ok(stored) => stored.op,
        Err(e) => return corrupt(e),
    };
    if stored_op != op.as_str() {
        return Some(Err(Error::invalid_argument(format!(
            "request id already used for a {stored_op} call; a {} call needs its own",
            op.as_str()
        ))));
    }
    let stored: Stored<T> = match serde_json::from_slice(body) {
        Ok(stored) => stored,
        Err(e) => return corrupt(e),
    };
    Some(match (stored.ok, stored.err) {
        (Some(ok), _) => Ok(ok),
        (None, Some(err)) => Err(err.into()),
        (None, None) => Err(Error::internal("corrupt retry-cache entry: no answer")),
    })
}

/// How often expired entries are swept, and so how much time one retry-log file spans: a
/// tenth of the TTL, between 1 s and 1 min.
pub fn sweep_period(ttl: Duration) -> Duration {
    (ttl / 10).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// Drops expired entries every [`sweep_period`]; runs until its task is aborted.
pub async fn run_sweeper(store: Store, ttl: Duration) {
    let mut ticker = tokio::time::interval(sweep_period(ttl));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let store = store.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            (
                store.expire_retry(crate::now_ms(), ttl),
                store.retry_stats(),
            )
        })
        .await;
        match outcome {
            Ok((0, _)) => {}
            Ok((removed, (held, evicted))) => {
                tracing::debug!(removed, held, evicted, "expired retry-cache entries")
            }
            Err(e) => tracing::warn!("retry-cache sweep task failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use granary_client::InodeId;

    #[test]
    fn answers_round_trip_and_expire() {
        let ttl = Duration::from_secs(60);
        let ok: Result<InodeId, Error> = Ok(InodeId(7));
        let value = encode(Op::Create, &ok, 1_000).unwrap();
        assert_eq!(
            decode::<InodeId>(Op::Create, &value, 2_000, ttl).unwrap(),
            ok
        );
        assert!(decode::<InodeId>(Op::Create, &value, 1_000 + 61_000, ttl).is_none());
        let reused = decode::<InodeId>(Op::Delete, &value, 2_000, ttl)
            .unwrap()
            .unwrap_err();
        assert_eq!(reused.kind, ErrorKind::InvalidArgument);

        let err: Result<InodeId, Error> = Err(Error::not_found("/x: no such file or directory"));
        let value = encode(Op::Delete, &err, 1_000).unwrap();
        assert_eq!(
            decode::<InodeId>(Op::Delete, &value, 1_500, ttl).unwrap(),
            err
        );
    }

    #[test]
    fn transient_failures_are_not_cached() {
        assert!(is_cacheable(&Ok::<(), Error>(())));
        assert!(is_cacheable(&Err::<(), Error>(Error::not_found("x"))));
        assert!(!is_cacheable(&Err::<(), Error>(Error::new(
            ErrorKind::NoDatanodes,
            "none"
        ))));
    }
}
