//! Persistence of the namespace: an edit log ([`journal`]) in front of one sled tree. Keys
//! are prefixed by record type: `i/<inode id BE>` inode records (JSON) and the counters
//! `m/next_inode`, `m/next_block` and `m/applied_seq` (u64 BE; the last journal record sled
//! holds). Journal records also carry retry-cache entries, `rh/<16-byte key>`: those live in
//! memory and go to the [retry log] at a checkpoint, never to sled, so the sled work of a
//! checkpoint is the namespace's alone. (Earlier versions wrote `r/<request id>`, to sled too;
//! start-up moves those to the retry log.)
//!
//! A mutation *stages* its records (changed inodes, counters, retry-cache entry) in the
//! pending batch, under the namespace lock so batches keep the order of the in-memory changes.
//! A commit takes everything staged, appends it to the journal as one record and syncs it:
//! from then on it is durable and may be acknowledged; a group of mutations costs one append
//! and one `fdatasync`. The record is kept as *unapplied*. A checkpoint merges the unapplied
//! records by key (a later write replaces an earlier one), applies the result to sled, then
//! `m/applied_seq`, flushes sled, and deletes the journal segments that made redundant;
//! start-up replays the records sled lacks. Merging means sled sees each key once per
//! checkpoint, however often it changed (a directory gaining a hundred files, a file created
//! then completed, the counters), and sled work leaves the path of every request.
//!
//! A checkpoint goes to sled in small batches (sled holds every page version a batch
//! replaces until the batch ends: one huge batch costs gigabytes), so it is not atomic as a
//! whole. It need not be: `m/applied_seq` is written after the last of them, so a crash in
//! between leaves it at the previous checkpoint, and start-up replays every record since,
//! which rewrites each key of the interrupted checkpoint in journal order.
//!
//! [`journal`]: super::journal
//! [retry log]: crate::retry_cache::log

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use granary_client::{Error, ErrorKind, InodeId};

use super::journal::{self, Batch, Journal};
use super::{Changes, Inode, Namespace};
use crate::config::NamenodeConfig;
use crate::retry_cache::entries::RetryEntries;
use crate::retry_cache::log::RetryLog;
use crate::retry_cache::RetryKey;
use merged::Merged;
use recovery::{open_sled, recover};

const INODE_PREFIX: &[u8] = b"i/";
const RETRY_PREFIX: &[u8] = b"rh/";
/// Retry-cache entries as earlier versions kept them, by request id rather than its hash.
const LEGACY_RETRY_PREFIX: &[u8] = b"r/";
const NEXT_INODE: &[u8] = b"m/next_inode";
const NEXT_BLOCK: &[u8] = b"m/next_block";
const APPLIED_SEQ: &[u8] = b"m/applied_seq";
/// The journal's directory inside the metadata directory.
const JOURNAL_DIR: &str = "journal";
/// The retry log's directory inside the metadata directory.
const RETRY_DIR: &str = "retry";
/// Retry-cache entries expired per hold of the staging lock.
const EXPIRE_CHUNK: usize = 10_000;
/// Journal records merged and applied together at start-up.
const REPLAY_CHUNK: usize = 4096;
/// Keys per sled batch when applying merged changes.
const APPLY_CHUNK: usize = 256;

/// A retry-cache entry to store with a mutation.
pub struct RetryRecord {
    pub key: RetryKey,
    pub value: Vec<u8>,
}

/// How long and how many retry-cache answers the store keeps.
#[derive(Clone, Copy, Debug)]
pub struct RetryLimits {
    pub ttl: Duration,
    pub capacity: usize,
}

impl From<&NamenodeConfig> for RetryLimits {
    fn from(config: &NamenodeConfig) -> Self {
        RetryLimits {
            ttl: config.retry_cache_ttl,
            capacity: config.retry_cache_capacity,
        }
    }
}

impl Default for RetryLimits {
    fn default() -> Self {
        RetryLimits::from(&NamenodeConfig::default())
    }
}

struct Staging {
    batch: Batch,
    /// Every retry-cache answer not yet expired: staged, journaled or in the retry log.
    retry: RetryEntries,
    /// Epoch of the last staged mutation.
    epoch: u64,
    /// Epoch of the last mutation taken by a commit.
    committed_epoch: u64,
    /// Counters as last staged, to write them only when they change.
    counters: (u64, u64),
}

/// Journaled changes sled does not have yet.
#[derive(Default)]
struct Unapplied {
    /// Journal records since the last checkpoint, oldest first.
    records: Vec<Batch>,
    /// The last of them.
    seq: u64,
    /// Merged changes were lost (a failed apply): sled must never claim a later sequence,
    /// so no checkpoint runs again until a restart replays the journal.
    failed: bool,
}

struct Shared {
    staging: Mutex<Staging>,
    unapplied: Mutex<Unapplied>,
    /// Taken by checkpoints (appends) and the expiry sweep (deletes).
    retry_log: Mutex<RetryLog>,
    staged_epoch: AtomicU64,
    /// Held for a whole commit, so records are merged in journal order.
    journal: Mutex<Journal>,
    /// One checkpoint at a time: a second one must not retire segments the first has not
    /// applied yet.
    checkpointing: Mutex<()>,
    /// The last journal record applied to sled.
    applied_seq: AtomicU64,
}

/// What a commit wrote.
#[derive(Clone, Copy, Debug, Default)]
pub struct Committed {
    /// Every mutation up to this epoch is durable.
    pub epoch: u64,
    /// A journal segment filled: time for a checkpoint (which also bounds the memory the
    /// unapplied batch takes).
    pub checkpoint_due: bool,
}

#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    shared: Arc<Shared>,
}

impl Store {
    /// Opens sled in `dir`, the retry log in `dir/retry` and the journal in `dir/journal`,
    /// replaying the records sled lacks.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        Store::open_with(dir, journal::DEFAULT_SEGMENT_SIZE, RetryLimits::default())
    }

    pub fn open_with(dir: &Path, segment_size: u64, limits: RetryLimits) -> Result<Self, Error> {
        let db = open_sled(dir)?;
        let mut retry = RetryEntries::new(limits.capacity);
        let (retry_log, replayed) = recover(&db, dir, limits, &mut retry)?;
        let last = counter(&db, APPLIED_SEQ)?.max(replayed.last_seq);
        let journal = Journal::start(
            &dir.join(JOURNAL_DIR),
            segment_size,
            last + 1,
            replayed.segments,
        )?;
        Ok(Store {
            db,
            shared: Arc::new(Shared {
                staging: Mutex::new(Staging {
                    batch: Batch::default(),
                    retry,
                    epoch: 0,
                    committed_epoch: 0,
                    counters: (0, 0),
                }),
                unapplied: Mutex::new(Unapplied {
                    seq: last,
                    ..Unapplied::default()
                }),
                retry_log: Mutex::new(retry_log),
                staged_epoch: AtomicU64::new(0),
                journal: Mutex::new(journal),
                checkpointing: Mutex::new(()),
                applied_seq: AtomicU64::new(last),
            }),
        })
    }

    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// The persisted namespace, or a fresh one (committed at once) on first start.
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
                counter(&self.db, NEXT_INODE)?,
                counter(&self.db, NEXT_BLOCK)?,
            )?
        };
        lock(&self.shared.staging).counters = ns.counters();
        self.commit(|_| {})?;
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
        let (next_inode, next_block) = ns.counters();
        let mut staging = lock(&self.shared.staging);
        let staging = &mut *staging;
        let start = staging.batch.len();
        for id in written {
            if let Some(inode) = ns.get(id) {
                let encoded = staging
                    .batch
                    .put_with(&inode_key(id), |buf| serde_json::to_writer(buf, inode));
                if let Err(e) = encoded {
                    staging.batch.truncate(start);
                    return Err(Error::internal(format!("cannot encode inode {id}: {e}")));
                }
            }
        }
        for &id in &changes.removed {
            staging.batch.remove(&inode_key(id));
        }
        if staging.counters.0 != next_inode {
            staging.batch.put(NEXT_INODE, &next_inode.to_be_bytes());
        }
        if staging.counters.1 != next_block {
            staging.batch.put(NEXT_BLOCK, &next_block.to_be_bytes());
        }
        staging.counters = (next_inode, next_block);
        if let Some(RetryRecord { key, value }) = retry {
            staging.batch.put(&retry_journal_key(key), &value);
            staging.retry.insert(key, value.into_boxed_slice());
        }
        staging.epoch += 1;
        self.shared
            .staged_epoch
            .store(staging.epoch, Ordering::Release);
        Ok(staging.epoch)
    }

    /// Holds the journal, so that a commit waits until the guard is dropped: lets a test
    /// stage many mutations before one commit takes them all.
    #[cfg(test)]
    pub fn hold_journal(&self) -> impl Drop + '_ {
        lock(&self.shared.journal)
    }

    /// Epoch of the last staged mutation.
    pub fn staged_epoch(&self) -> u64 {
        self.shared.staged_epoch.load(Ordering::Acquire)
    }

    /// Commits everything staged: one journal record, synced, then `durable` is called with
    /// the epoch it covers (every mutation up to it may be acknowledged), and the record joins
    /// the unapplied ones. An error leaves memory ahead of the journal: the caller must refuse
    /// further changes until a restart.
    pub fn commit(&self, durable: impl FnOnce(u64)) -> Result<Committed, Error> {
        let mut journal = lock(&self.shared.journal);
        let (mut batch, epoch) = {
            let mut staging = lock(&self.shared.staging);
            if staging.committed_epoch == staging.epoch {
                return Ok(Committed {
                    epoch: staging.epoch,
                    checkpoint_due: false,
                });
            }
            staging.committed_epoch = staging.epoch;
            // Sized like the last one, so it rarely grows from nothing.
            let next = Batch::with_capacity(staging.batch.len());
            (std::mem::replace(&mut staging.batch, next), staging.epoch)
        };
        let appended = journal.append(&mut batch)?;
        durable(epoch);
        {
            let mut unapplied = lock(&self.shared.unapplied);
            unapplied.records.push(batch);
            unapplied.seq = appended.seq;
        }
        Ok(Committed {
            epoch,
            checkpoint_due: appended.rolled,
        })
    }

    /// Applies the unapplied records (retry-cache entries to the retry log, the rest to sled),
    /// flushes sled, then deletes the journal segments this made redundant. A failed retry-log
    /// append or sled flush is retried by the next checkpoint; a failed sled apply stops
    /// checkpoints until a restart (the journal keeps everything).
    pub fn checkpoint(&self) -> Result<(), Error> {
        let _one = lock(&self.shared.checkpointing);
        let (records, seq) = {
            let mut unapplied = lock(&self.shared.unapplied);
            if unapplied.failed {
                return Err(Error::internal(
                    "journaled changes could not be applied to the metadata store; restart \
                     the namenode to replay them",
                ));
            }
            (std::mem::take(&mut unapplied.records), unapplied.seq)
        };
        if seq > self.shared.applied_seq.load(Ordering::Acquire) {
            let mut merged = Merged::default();
            let logged = records
                .iter()
                .try_for_each(|record| merged.add(record.payload()))
                .and_then(|()| merged.log_retry(&mut lock(&self.shared.retry_log)));
            if let Err(e) = logged {
                // Nothing reached sled: the next checkpoint tries these records again.
                let mut unapplied = lock(&self.shared.unapplied);
                let newer = std::mem::replace(&mut unapplied.records, records);
                unapplied.records.extend(newer);
                return Err(e);
            }
            fail::fail_point!("checkpoint::before_apply");
            if let Err(e) = merged.apply(&self.db, seq) {
                lock(&self.shared.unapplied).failed = true;
                return Err(e);
            }
            self.shared.applied_seq.store(seq, Ordering::Release);
            fail::fail_point!("checkpoint::before_sled_flush");
        }
        self.db.flush().map_err(store_error)?;
        let retired = lock(&self.shared.journal).retire(seq);
        fail::fail_point!("checkpoint::before_retire", !retired.is_empty(), |_| Ok(()));
        for path in retired {
            journal::remove_segment(&path);
        }
        Ok(())
    }

    /// A retry-cache entry, staged or stored.
    pub fn get_retry(&self, key: &RetryKey) -> Option<Vec<u8>> {
        lock(&self.shared.staging)
            .retry
            .get(key)
            .map(<[u8]>::to_vec)
    }

    /// Forgets retry-cache entries older than `ttl`, in memory and in the retry log; returns
    /// how many left memory.
    pub fn expire_retry(&self, now_ms: u64, ttl: Duration) -> usize {
        let cutoff = now_ms.saturating_sub(ttl.as_millis() as u64);
        let mut removed = 0;
        loop {
            let n = lock(&self.shared.staging)
                .retry
                .expire(cutoff, EXPIRE_CHUNK);
            removed += n;
            if n < EXPIRE_CHUNK {
                break;
            }
        }
        lock(&self.shared.retry_log).expire(cutoff);
        removed
    }

    /// `(answers held, answers evicted for room)` of the retry cache.
    pub fn retry_stats(&self) -> (usize, u64) {
        let staging = lock(&self.shared.staging);
        (staging.retry.len(), staging.retry.evicted())
    }
}

fn retry_journal_key(key: RetryKey) -> [u8; RETRY_PREFIX.len() + RetryKey::LEN] {
    let mut journal_key = [0u8; RETRY_PREFIX.len() + RetryKey::LEN];
    journal_key[..RETRY_PREFIX.len()].copy_from_slice(RETRY_PREFIX);
    journal_key[RETRY_PREFIX.len()..].copy_from_slice(&key.0);
    journal_key
}

fn counter(db: &sled::Db, key: &[u8]) -> Result<u64, Error> {
    match db.get(key).map_err(store_error)? {
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

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    granary_client::sync::lock(mutex, "namespace store")
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

mod merged;
mod recovery;
#[cfg(test)]
mod tests;
