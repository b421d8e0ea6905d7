//! Persistence of the namespace in one sled tree. Keys are prefixed by record type:
//! `i/<inode id BE>` inode records (JSON), `r/<request id>` retry-cache entries, and
//! `m/next_inode`, `m/next_block` counters (u64 BE).
//!
//! A mutation *stages* its records (changed inodes, counters, retry-cache entry) in the
//! pending batch, under the namespace lock so batches keep the order of the in-memory changes.
//! The flusher then applies everything staged as one atomic `sled::Batch` and flushes it: each
//! mutation is all-or-nothing on disk, and a group of mutations costs one `apply_batch` and
//! one fsync. (sled rolls its IO buffer on every `apply_batch`, which at one batch per
//! mutation cost more than the rest of the request.)

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use granary_client::{Error, ErrorKind, InodeId};
use sled::IVec;

use super::{Changes, Inode, Namespace};

const INODE_PREFIX: &[u8] = b"i/";
pub const RETRY_PREFIX: &[u8] = b"r/";
const NEXT_INODE: &[u8] = b"m/next_inode";
const NEXT_BLOCK: &[u8] = b"m/next_block";

/// A retry-cache entry to store with a mutation.
pub struct RetryRecord {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

#[derive(Default)]
struct Staging {
    batch: sled::Batch,
    /// The retry-cache entries in `batch`, so lookups see them before they reach sled.
    retry: HashMap<Vec<u8>, IVec>,
    /// Epoch of the last staged mutation.
    epoch: u64,
    /// Epoch of the last mutation handed to sled.
    applied_epoch: u64,
    /// Counters as last staged, to write them only when they change.
    counters: (u64, u64),
}

#[derive(Default)]
struct Pending {
    staging: Mutex<Staging>,
    /// Retry-cache entries of the batch the flusher is applying right now.
    applying: Mutex<HashMap<Vec<u8>, IVec>>,
    staged_epoch: AtomicU64,
}

#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    pending: Arc<Pending>,
}

impl Store {
    pub fn open(dir: &Path) -> Result<Self, Error> {
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(|e| {
                let locked = e.to_string().contains("lock");
                let hint = if locked {
                    " (is another namenode using it?)"
                } else {
                    ""
                };
                let message = format!("cannot open metadata store {}: {e}{hint}", dir.display());
                Error::new(ErrorKind::Io, message)
            })?;
        Ok(Store {
            db,
            pending: Arc::default(),
        })
    }

    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// The persisted namespace, or a fresh one (written and flushed at once) on first start.
    pub fn load(&self, now_ms: u64) -> Result<Namespace, Error> {
        let mut records = Vec::new();
        for entry in self.db.scan_prefix(INODE_PREFIX) {
            let (key, value) = entry.map_err(store_error)?;
            let inode: Inode = serde_json::from_slice(&value).map_err(|e| {
                Error::internal(format!(
                    "corrupt metadata: inode record {:?}: {e}",
                    String::from_utf8_lossy(&key)
                ))
            })?;
            records.push(inode);
        }
        let ns = if records.is_empty() {
            let ns = Namespace::new(now_ms);
            let mut changes = Changes::default();
            changes.written.push(super::ROOT_ID);
            self.stage(&ns, &changes, None)?;
            ns
        } else {
            Namespace::from_records(
                records,
                self.counter(NEXT_INODE)?,
                self.counter(NEXT_BLOCK)?,
            )?
        };
        lock(&self.pending.staging).counters = ns.counters();
        self.write_staged()?;
        self.flush()?;
        Ok(ns)
    }

    /// Adds a mutation's records to the pending batch; returns its epoch. Call under the
    /// namespace lock, so staged changes keep the order of the in-memory ones.
    pub fn stage(
        &self,
        ns: &Namespace,
        changes: &Changes,
        retry: Option<RetryRecord>,
    ) -> Result<u64, Error> {
        let mut written = changes.written.clone();
        written.sort_unstable();
        written.dedup();
        let mut encoded = Vec::with_capacity(written.len());
        for id in written {
            if let Some(inode) = ns.get(id) {
                let value = serde_json::to_vec(inode)
                    .map_err(|e| Error::internal(format!("cannot encode inode {id}: {e}")))?;
                encoded.push((inode_key(id), value));
            }
        }
        let mut staging = lock(&self.pending.staging);
        for (key, value) in encoded {
            staging.batch.insert(&key[..], value);
        }
        for &id in &changes.removed {
            staging.batch.remove(&inode_key(id)[..]);
        }
        let (next_inode, next_block) = ns.counters();
        if staging.counters.0 != next_inode {
            staging
                .batch
                .insert(NEXT_INODE, &next_inode.to_be_bytes()[..]);
        }
        if staging.counters.1 != next_block {
            staging
                .batch
                .insert(NEXT_BLOCK, &next_block.to_be_bytes()[..]);
        }
        staging.counters = (next_inode, next_block);
        if let Some(record) = retry {
            let value = IVec::from(record.value);
            staging.batch.insert(record.key.clone(), value.clone());
            staging.retry.insert(record.key, value);
        }
        staging.epoch += 1;
        self.pending
            .staged_epoch
            .store(staging.epoch, Ordering::Release);
        Ok(staging.epoch)
    }

    /// Epoch of the last staged mutation.
    pub fn staged_epoch(&self) -> u64 {
        self.pending.staged_epoch.load(Ordering::Acquire)
    }

    /// Applies everything staged as one atomic batch; returns the epoch it covers. Durable
    /// after the next [`Store::flush`].
    pub fn write_staged(&self) -> Result<u64, Error> {
        let (batch, epoch) = {
            let mut staging = lock(&self.pending.staging);
            if staging.applied_epoch == staging.epoch {
                return Ok(staging.epoch);
            }
            staging.applied_epoch = staging.epoch;
            // Moved while the staging lock is held, so a lookup always finds the entry in one
            // of staging, applying or sled.
            *lock(&self.pending.applying) = std::mem::take(&mut staging.retry);
            (std::mem::take(&mut staging.batch), staging.epoch)
        };
        let applied = self.db.apply_batch(batch).map_err(store_error);
        lock(&self.pending.applying).clear();
        applied.map(|()| epoch)
    }

    /// A retry-cache entry, staged or stored.
    pub fn get_retry(&self, key: &[u8]) -> Result<Option<IVec>, Error> {
        if let Some(value) = lock(&self.pending.staging).retry.get(key) {
            return Ok(Some(value.clone()));
        }
        if let Some(value) = lock(&self.pending.applying).get(key) {
            return Ok(Some(value.clone()));
        }
        self.db.get(key).map_err(store_error)
    }

    /// Makes every applied batch durable (fsync).
    pub fn flush(&self) -> Result<(), Error> {
        self.db.flush().map(drop).map_err(store_error)
    }

    fn counter(&self, key: &[u8]) -> Result<u64, Error> {
        match self.db.get(key).map_err(store_error)? {
            None => Ok(0),
            Some(v) => {
                let bytes: [u8; 8] = v.as_ref().try_into().map_err(|_| {
                    Error::internal(format!(
                        "corrupt metadata: counter {}",
                        String::from_utf8_lossy(key)
                    ))
                })?;
                Ok(u64::from_be_bytes(bytes))
            }
        }
    }
}

/// The staging locks guard plain data that stays consistent even if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn inode_key(id: InodeId) -> [u8; 10] {
    let mut key = [0u8; 10];
    key[..2].copy_from_slice(INODE_PREFIX);
    key[2..].copy_from_slice(&id.0.to_be_bytes());
    key
}

pub fn store_error(e: sled::Error) -> Error {
    Error::new(ErrorKind::Io, format!("metadata store: {e}"))
}
