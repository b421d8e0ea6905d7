//! The retry cache: the answer to every state-changing call, stored under its `RequestId` in
//! the same batch as the change it answers, so a retry after a lost response (even across a
//! namenode crash) gets that answer instead of applying the call twice.
//!
//! An entry is `[created ms, u64 BE][JSON {op, ok | err}]`: the timestamp comes first so the
//! expiry sweep reads eight bytes per entry instead of parsing it.

use std::time::Duration;

use granary_client::{Error, ErrorKind, RequestId, WireError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::namespace::store::{store_error, Store, RETRY_PREFIX};

/// Request ids are client-chosen keys; bound them.
pub const MAX_REQUEST_ID_LEN: usize = 128;
/// Entries removed per sled batch by the sweep, so it never builds one huge batch.
const SWEEP_BATCH: usize = 1000;

/// The cached operations; a request id reused for another operation is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Create,
    AddBlock,
    Complete,
    Mkdir,
    Delete,
    Rename,
    SetReplication,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::AddBlock => "add_block",
            Op::Complete => "complete",
            Op::Mkdir => "mkdir",
            Op::Delete => "delete",
            Op::Rename => "rename",
            Op::SetReplication => "set_replication",
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

pub fn key(request_id: &RequestId) -> Result<Vec<u8>, Error> {
    let id = request_id.0.as_bytes();
    if id.is_empty() || id.len() > MAX_REQUEST_ID_LEN {
        return Err(Error::invalid_argument(format!(
            "request id must be 1 to {MAX_REQUEST_ID_LEN} bytes"
        )));
    }
    Ok([RETRY_PREFIX, id].concat())
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
    let (created, body) = value.split_at(8);
    let created = u64::from_be_bytes(created.try_into().unwrap_or([0; 8]));
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

/// Removes entries older than `ttl`, a bounded batch at a time. Returns how many it removed.
pub fn sweep(store: &Store, now_ms: u64, ttl: Duration) -> Result<usize, Error> {
    let cutoff = now_ms.saturating_sub(ttl.as_millis() as u64);
    let mut removed = 0;
    let mut batch = sled::Batch::default();
    let mut in_batch = 0;
    // The sweep reads every entry anyway: the retry filter starts afresh from those it keeps.
    let mut filter = store.rebuild_retry_filter();
    for entry in store.db().scan_prefix(RETRY_PREFIX) {
        let (key, value) = entry.map_err(store_error)?;
        let created = value
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_be_bytes);
        if created >= cutoff {
            filter.keep(&key);
            continue;
        }
        batch.remove(key);
        in_batch += 1;
        if in_batch == SWEEP_BATCH {
            store
                .db()
                .apply_batch(std::mem::take(&mut batch))
                .map_err(store_error)?;
            removed += in_batch;
            in_batch = 0;
        }
    }
    if in_batch > 0 {
        store.db().apply_batch(batch).map_err(store_error)?;
        removed += in_batch;
    }
    filter.finish();
    Ok(removed)
}

/// Sweeps every tenth of the TTL (between 1 s and 1 min); runs until its task is aborted.
pub async fn run_sweeper(store: Store, ttl: Duration) {
    let period = (ttl / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let store = store.clone();
        let outcome =
            tokio::task::spawn_blocking(move || sweep(&store, crate::now_ms(), ttl)).await;
        match outcome {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::debug!(removed = n, "expired retry-cache entries"),
            Ok(Err(e)) => tracing::warn!("retry-cache sweep failed: {}", e.message),
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

    #[test]
    fn sweep_removes_only_expired_entries() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let ttl = Duration::from_secs(10);
        for (i, created) in [(0, 1_000u64), (1, 50_000), (2, 1_500)] {
            let value = encode(Op::Mkdir, &Ok::<u64, Error>(i), created).unwrap();
            store
                .db()
                .insert(key(&RequestId(format!("req-{i}"))).unwrap(), value)
                .unwrap();
        }
        // Entries not in sled yet: one journaled, one only staged.
        let ns = crate::namespace::Namespace::new(0);
        for (id, commit) in [("req-j", true), ("req-s", false)] {
            let record = crate::namespace::store::RetryRecord {
                key: key(&RequestId(id.into())).unwrap(),
                value: encode(Op::Mkdir, &Ok::<u64, Error>(9), 54_000).unwrap(),
            };
            let changes = crate::namespace::Changes::default();
            store.stage(&ns, &changes, Some(record)).unwrap();
            if commit {
                store.commit(|_| {}).unwrap();
            }
        }
        assert_eq!(sweep(&store, 55_000, ttl).unwrap(), 2);
        for id in ["req-j", "req-s"] {
            let key = key(&RequestId(id.into())).unwrap();
            assert!(store.get_retry(&key).unwrap().is_some(), "{id}");
        }
        assert!(store
            .get_retry(&key(&RequestId("req-1".into())).unwrap())
            .unwrap()
            .is_some());
        assert!(store
            .get_retry(&key(&RequestId("req-0".into())).unwrap())
            .unwrap()
            .is_none());
    }
}
