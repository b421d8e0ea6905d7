//! Persistence of the namespace: an edit log ([`journal`]) in front of one sled tree. Keys
//! are prefixed by record type: `i/<inode id BE>` inode records (JSON), `r/<request id>`
//! retry-cache entries, and the counters `m/next_inode`, `m/next_block` and `m/applied_seq`
//! (u64 BE; the last journal record sled holds).
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

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use granary_client::{Error, ErrorKind, InodeId};
use sled::IVec;

use super::journal::{self, Batch, Journal, Op};
use super::retry_filter::{self, RetryFilter};
use super::{Changes, Inode, Namespace};

const INODE_PREFIX: &[u8] = b"i/";
pub const RETRY_PREFIX: &[u8] = b"r/";
const NEXT_INODE: &[u8] = b"m/next_inode";
const NEXT_BLOCK: &[u8] = b"m/next_block";
const APPLIED_SEQ: &[u8] = b"m/applied_seq";
/// The journal's directory inside the metadata directory.
const JOURNAL_DIR: &str = "journal";
/// Journal records merged and applied together at start-up.
const REPLAY_CHUNK: usize = 4096;
/// Keys per sled batch when applying merged changes.
const APPLY_CHUNK: usize = 256;

/// A retry-cache entry to store with a mutation.
pub struct RetryRecord {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

#[derive(Default)]
struct Staging {
    batch: Batch,
    /// The retry-cache entries in `batch`, so lookups see them before they reach sled.
    retry: HashMap<Vec<u8>, IVec>,
    /// Every retry-cache key staged, journaled or in sled (and some that expired since).
    filter: RetryFilter,
    /// The filter the retry-cache sweep is building, to replace `filter` once complete.
    rebuild: Option<RetryFilter>,
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
    /// Retry-cache entries taken from staging, with the sequence of their journal record,
    /// until a checkpoint has put them in sled.
    unapplied_retry: Mutex<HashMap<Vec<u8>, (IVec, u64)>>,
    unapplied: Mutex<Unapplied>,
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
    /// Opens sled in `dir` and the journal in `dir/journal`, replaying the records sled lacks.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        Store::open_with(dir, journal::DEFAULT_SEGMENT_SIZE)
    }

    pub fn open_with(dir: &Path, segment_size: u64) -> Result<Self, Error> {
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            // Checkpoints flush; the journal makes every acknowledged change durable first.
            .flush_every_ms(None)
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
        let journal_dir = dir.join(JOURNAL_DIR);
        let applied = counter(&db, APPLIED_SEQ)?;
        let (mut merged, mut records) = (Merged::default(), 0);
        let replayed = Journal::replay(&journal_dir, applied, |seq, payload| {
            merged.add(payload)?;
            records += 1;
            if records == REPLAY_CHUNK {
                records = 0;
                std::mem::take(&mut merged).apply(&db, seq)?;
            }
            Ok(())
        })?;
        if records > 0 {
            merged.apply(&db, replayed.last_seq)?;
        }
        if replayed.applied > 0 {
            tracing::info!(
                records = replayed.applied,
                last = replayed.last_seq,
                "journal replayed"
            );
        }
        // The old segments go once everything they hold is durable in sled.
        db.flush().map_err(store_error)?;
        let last = applied.max(replayed.last_seq);
        let journal = Journal::start(&journal_dir, segment_size, last + 1, replayed.segments)?;
        let mut hashes = Vec::new();
        for key in db.scan_prefix(RETRY_PREFIX).keys() {
            hashes.push(retry_filter::hash(&key.map_err(store_error)?));
        }
        let mut filter = RetryFilter::with_capacity(hashes.len() * 2);
        for hash in hashes {
            filter.insert_hash(hash);
        }
        Ok(Store {
            db,
            shared: Arc::new(Shared {
                staging: Mutex::new(Staging {
                    filter,
                    ..Staging::default()
                }),
                unapplied_retry: Mutex::default(),
                unapplied: Mutex::new(Unapplied {
                    seq: last,
                    ..Unapplied::default()
                }),
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
        let retry = retry.map(|r| (r.key, IVec::from(r.value)));
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
        if let Some((key, value)) = retry {
            let hash = retry_filter::hash(&key);
            staging.filter.insert_hash(hash);
            if let Some(rebuild) = &mut staging.rebuild {
                rebuild.insert_hash(hash);
            }
            staging.batch.put(&key, &value);
            staging.retry.insert(key, value);
        }
        staging.epoch += 1;
        self.shared
            .staged_epoch
            .store(staging.epoch, Ordering::Release);
        Ok(staging.epoch)
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
        let seq = journal.next_seq();
        let (mut batch, epoch) = {
            let mut staging = lock(&self.shared.staging);
            if staging.committed_epoch == staging.epoch {
                return Ok(Committed {
                    epoch: staging.epoch,
                    checkpoint_due: false,
                });
            }
            staging.committed_epoch = staging.epoch;
            // Moved while the staging lock is held, so a lookup always finds the entry in
            // staging, among the unapplied ones or in sled.
            let retry = std::mem::take(&mut staging.retry);
            lock(&self.shared.unapplied_retry)
                .extend(retry.into_iter().map(|(k, v)| (k, (v, seq))));
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

    /// Applies the unapplied records to sled, flushes sled, then deletes the journal segments
    /// that made redundant. A failed flush is retried by the next checkpoint; a failed apply
    /// stops checkpoints until a restart (the journal keeps everything).
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
            let applied = records
                .iter()
                .try_for_each(|record| merged.add(record.payload()))
                .and_then(|()| merged.apply(&self.db, seq));
            if let Err(e) = applied {
                lock(&self.shared.unapplied).failed = true;
                return Err(e);
            }
            self.shared.applied_seq.store(seq, Ordering::Release);
            lock(&self.shared.unapplied_retry).retain(|_, (_, s)| *s > seq);
        }
        self.db.flush().map_err(store_error)?;
        let retired = lock(&self.shared.journal).retire(seq);
        for path in retired {
            journal::remove_segment(&path);
        }
        Ok(())
    }

    /// A retry-cache entry, staged or stored.
    pub fn get_retry(&self, key: &[u8]) -> Result<Option<IVec>, Error> {
        {
            let staging = lock(&self.shared.staging);
            if !staging.filter.may_contain(key) {
                return Ok(None);
            }
            if let Some(value) = staging.retry.get(key) {
                return Ok(Some(value.clone()));
            }
        }
        if let Some((value, _)) = lock(&self.shared.unapplied_retry).get(key) {
            return Ok(Some(value.clone()));
        }
        self.db.get(key).map_err(store_error)
    }

    /// Starts building a fresh retry filter, for the retry-cache sweep (which reads every
    /// entry in sled): it holds every key staged or unapplied now and gets every key staged
    /// from now on; the sweep adds the entries it keeps, then [`FilterRebuild::finish`] swaps
    /// it in.
    pub fn rebuild_retry_filter(&self) -> FilterRebuild<'_> {
        let mut staging = lock(&self.shared.staging);
        let mut fresh = RetryFilter::with_capacity(staging.filter.inserted() * 2);
        for key in staging.retry.keys() {
            fresh.insert(key);
        }
        for key in lock(&self.shared.unapplied_retry).keys() {
            fresh.insert(key);
        }
        staging.rebuild = Some(fresh);
        FilterRebuild {
            store: self,
            hashes: Vec::new(),
        }
    }
}

/// A retry filter being rebuilt; dropped without [`FilterRebuild::finish`], the current one
/// stays.
pub struct FilterRebuild<'a> {
    store: &'a Store,
    hashes: Vec<u64>,
}

impl FilterRebuild<'_> {
    /// Adds an entry found in sled.
    pub fn keep(&mut self, key: &[u8]) {
        self.hashes.push(retry_filter::hash(key));
        if self.hashes.len() == 4096 {
            self.add_kept();
        }
    }

    fn add_kept(&mut self) {
        if let Some(fresh) = &mut lock(&self.store.shared.staging).rebuild {
            for &hash in &self.hashes {
                fresh.insert_hash(hash);
            }
        }
        self.hashes.clear();
    }

    /// Replaces the filter with the rebuilt one.
    pub fn finish(mut self) {
        self.add_kept();
        let mut staging = lock(&self.store.shared.staging);
        if let Some(fresh) = staging.rebuild.take() {
            staging.filter = fresh;
        }
    }
}

impl Drop for FilterRebuild<'_> {
    fn drop(&mut self) {
        lock(&self.store.shared.staging).rebuild = None;
    }
}

/// Journaled changes by key: the value to put, or `None` to remove.
#[derive(Default)]
struct Merged(BTreeMap<IVec, Option<IVec>>);

impl Merged {
    /// Adds a journal payload's operations; later writes of a key replace earlier ones.
    fn add(&mut self, payload: &[u8]) -> Result<(), Error> {
        for op in journal::decode(payload) {
            match op? {
                Op::Put(key, value) => self.0.insert(key.into(), Some(value.into())),
                Op::Remove(key) => self.0.insert(key.into(), None),
            };
        }
        Ok(())
    }

    /// Applies everything to sled, then records `seq` as applied (see the module
    /// documentation for why this need not be one atomic batch).
    fn apply(self, db: &sled::Db, seq: u64) -> Result<(), Error> {
        let mut batch = sled::Batch::default();
        for (i, (key, value)) in self.0.into_iter().enumerate() {
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
        db.apply_batch(batch).map_err(store_error)
    }
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

#[cfg(test)]
mod tests;
