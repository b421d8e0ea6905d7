//! Journal records merged for a checkpoint or a start-up replay: each namespace key once, at
//! its latest value, and the retry-cache answers in journal order.

use std::collections::BTreeMap;

use granary_client::Error;
use sled::IVec;

use super::{store_error, APPLIED_SEQ, APPLY_CHUNK, LEGACY_RETRY_PREFIX, RETRY_PREFIX};
use crate::namespace::journal::{self, Op};
use crate::retry_cache::log::RetryLog;
use crate::retry_cache::RetryKey;

/// Journaled changes: the namespace's by key (the value to put, or `None` to remove), and
/// the retry-cache entries in journal order.
#[derive(Default)]
pub(super) struct Merged {
    namespace: BTreeMap<IVec, Option<IVec>>,
    retry: Vec<(RetryKey, IVec)>,
}

impl Merged {
    /// Adds a journal payload's operations; later writes of a key replace earlier ones.
    pub(super) fn add(&mut self, payload: &[u8]) -> Result<(), Error> {
        for op in journal::decode(payload) {
            match op? {
                Op::Put(key, value) if key.starts_with(RETRY_PREFIX) => {
                    let hashed = <[u8; RetryKey::LEN]>::try_from(&key[RETRY_PREFIX.len()..])
                        .map_err(|_| Error::internal("corrupt journal: bad retry-cache key"))?;
                    self.retry.push((RetryKey(hashed), value.into()));
                }
                Op::Put(key, value) if key.starts_with(LEGACY_RETRY_PREFIX) => {
                    let id = &key[LEGACY_RETRY_PREFIX.len()..];
                    self.retry.push((RetryKey::of(id), value.into()));
                }
                Op::Put(key, value) => {
                    self.namespace.insert(key.into(), Some(value.into()));
                }
                Op::Remove(key) => {
                    self.namespace.insert(key.into(), None);
                }
            };
        }
        Ok(())
    }

    /// Appends the retry-cache entries to the retry log, synced: first, so that sled never
    /// claims records whose answers are nowhere else.
    pub(super) fn log_retry(&self, retry_log: &mut RetryLog) -> Result<(), Error> {
        let entries = self.retry.iter().map(|(key, value)| (*key, value.as_ref()));
        retry_log.append(entries, crate::now_ms())
    }

    /// Applies the namespace changes to sled, then records `seq` as applied (see the module
    /// documentation for why this need not be one atomic batch). Returns the retry-cache
    /// entries.
    pub(super) fn apply(self, db: &sled::Db, seq: u64) -> Result<Vec<(RetryKey, IVec)>, Error> {
        let mut batch = sled::Batch::default();
        for (i, (key, value)) in self.namespace.into_iter().enumerate() {
            if i > 0 && i % APPLY_CHUNK == 0 {
                db.apply_batch(std::mem::take(&mut batch))
                    .map_err(store_error)?;
            }
            match value {
                Some(value) => batch.insert(key, value),
                None => batch.remove(key),
            }
        }
        batch.insert(APPLIED_SEQ, &seq.to_be_bytes());
        db.apply_batch(batch).map_err(store_error)?;
        Ok(self.retry)
    }
}
