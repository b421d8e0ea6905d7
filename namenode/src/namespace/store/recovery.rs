//! Opening the store: sled, then the retry log, then a replay of the journal records sled
//! lacks.

use std::path::Path;

use granary_client::{Error, ErrorKind};

use super::merged::Merged;
use super::{
    counter, store_error, RetryLimits, APPLIED_SEQ, APPLY_CHUNK, JOURNAL_DIR, LEGACY_RETRY_PREFIX,
    REPLAY_CHUNK, RETRY_DIR,
};
use crate::namespace::journal::{Journal, Replayed};
use crate::retry_cache::entries::RetryEntries;
use crate::retry_cache::log::RetryLog;
use crate::retry_cache::{self, created_ms, RetryKey};

pub(super) fn open_sled(dir: &Path) -> Result<sled::Db, Error> {
    sled::Config::new()
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
        })
}

/// Start-up recovery: reads the retry log into `retry` (unexpired answers only), then replays
/// the journal records sled lacks (namespace changes to sled, answers to the retry log and
/// `retry`) and flushes sled. Returns the retry log and what the replay found; the replayed
/// segments may go once this returns.
pub(super) fn recover(
    db: &sled::Db,
    dir: &Path,
    limits: RetryLimits,
    retry: &mut RetryEntries,
) -> Result<(RetryLog, Replayed), Error> {
    let cutoff = crate::now_ms().saturating_sub(limits.ttl.as_millis() as u64);
    let mut keep = |key, value: Box<[u8]>| {
        if created_ms(&value) >= cutoff {
            retry.insert(key, value);
        }
    };
    let roll_every = retry_cache::sweep_period(limits.ttl);
    let mut retry_log =
        RetryLog::open(&dir.join(RETRY_DIR), roll_every, limits.capacity, &mut keep)?;
    move_legacy_retry_entries(db, &mut retry_log, &mut keep)?;
    let (mut merged, mut records) = (Merged::default(), 0);
    let mut apply = |merged: Merged, seq| -> Result<(), Error> {
        merged.log_retry(&mut retry_log)?;
        for (key, value) in merged.apply(db, seq)? {
            keep(key, value.as_ref().into());
        }
        Ok(())
    };
    let applied = counter(db, APPLIED_SEQ)?;
    let replayed = Journal::replay(&dir.join(JOURNAL_DIR), applied, |seq, payload| {
        merged.add(payload)?;
        records += 1;
        if records == REPLAY_CHUNK {
            records = 0;
            apply(std::mem::take(&mut merged), seq)?;
        }
        Ok(())
    })?;
    if records > 0 {
        apply(merged, replayed.last_seq)?;
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
    Ok((retry_log, replayed))
}

/// Moves the retry-cache entries earlier versions kept in sled to the retry log (synced
/// before they leave sled) and to memory through `keep`.
fn move_legacy_retry_entries(
    db: &sled::Db,
    retry_log: &mut RetryLog,
    keep: &mut impl FnMut(RetryKey, Box<[u8]>),
) -> Result<(), Error> {
    loop {
        let mut batch = sled::Batch::default();
        let mut moved = Vec::new();
        for entry in db.scan_prefix(LEGACY_RETRY_PREFIX).take(APPLY_CHUNK) {
            let (key, value) = entry.map_err(store_error)?;
            moved.push((RetryKey::of(&key[LEGACY_RETRY_PREFIX.len()..]), value));
            batch.remove(key);
        }
        let entries = moved.iter().map(|(key, value)| (*key, value.as_ref()));
        retry_log.append(entries, crate::now_ms())?;
        db.apply_batch(batch).map_err(store_error)?;
        let done = moved.len() < APPLY_CHUNK;
        for (key, value) in moved {
            keep(key, value.as_ref().into());
        }
        if done {
            return Ok(());
        }
    }
}
