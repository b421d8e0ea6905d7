//! The retry log: where retry-cache entries go when a checkpoint retires the journal records
//! that held them (sled holds only the namespace). A checkpoint appends its entries, in
//! journal order, and syncs before the journal segments go; start-up reads every file back.
//!
//! Files are `<dir>/<number, 20 digits>.log`, a new one every `roll_every` (a tenth of the
//! TTL), and a file is deleted once every entry in it has expired, or once the newer files
//! alone hold `capacity` entries. A record is
//! `[u32 LE value len][u32 LE crc32 of key + value][16-byte key][value]`; reading a file
//! stops at the first torn or corrupt record (a crash mid-append, whose entries the journal
//! still holds), and appends after a start-up or a failed write go to a fresh file.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, ErrorKind as IoErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use granary_client::Error;

use super::{created_ms, RetryKey};
use crate::namespace::journal::{ensure_dir, numbered_files, sync_dir};

const SUFFIX: &str = ".log";
const HEADER_LEN: usize = 8 + RetryKey::LEN;
/// Longest value read back; anything longer is a corrupt length.
const MAX_VALUE_LEN: u32 = 1 << 20;

#[derive(Debug)]
struct LogFile {
    number: u64,
    path: PathBuf,
    /// Creation time of its newest entry.
    newest_ms: u64,
    entries: usize,
}

#[derive(Debug)]
pub struct RetryLog {
    dir: PathBuf,
    /// Oldest first; the last one is `current`'s when there is one.
    files: VecDeque<LogFile>,
    /// The file appends go to, and when it was started.
    current: Option<(File, u64)>,
    next_number: u64,
    roll_every: Duration,
    capacity: usize,
}

impl RetryLog {
    /// Opens the log in `dir` (created if missing), calling `found` with every entry, oldest
    /// first.
    pub fn open(
        dir: &Path,
        roll_every: Duration,
        capacity: usize,
        mut found: impl FnMut(RetryKey, Box<[u8]>),
    ) -> Result<Self, Error> {
        ensure_dir(dir)?;
        let mut files = VecDeque::new();
        for (number, path) in list(dir)? {
            let (mut newest_ms, mut entries) = (0, 0);
            read(&path, |key, value| {
                newest_ms = newest_ms.max(created_ms(&value));
                entries += 1;
                found(key, value);
            })?;
            files.push_back(LogFile {
                number,
                path,
                newest_ms,
                entries,
            });
        }
        let next_number = files.back().map_or(1, |f| f.number + 1);
        Ok(RetryLog {
            dir: dir.to_path_buf(),
            files,
            current: None,
            next_number,
            roll_every,
            capacity: capacity.max(1),
        })
    }

    /// Appends `entries` and syncs them.
    pub fn append<'a>(
        &mut self,
        entries: impl IntoIterator<Item = (RetryKey, &'a [u8])>,
        now_ms: u64,
    ) -> Result<(), Error> {
        let mut entries = entries.into_iter().peekable();
        if entries.peek().is_none() {
            return Ok(());
        }
        let result = self.try_append(entries, now_ms);
        if result.is_err() {
            // A partial record may end the file: later appends must not follow it.
            self.current = None;
        }
        result
    }

    fn try_append<'a>(
        &mut self,
        entries: impl Iterator<Item = (RetryKey, &'a [u8])>,
        now_ms: u64,
    ) -> Result<(), Error> {
        let roll_ms = self.roll_every.as_millis() as u64;
        if self
            .current
            .as_ref()
            .is_some_and(|(_, started)| now_ms.saturating_sub(*started) >= roll_ms)
        {
            self.current = None;
        }
        if self.current.is_none() {
            self.start_file(now_ms)?;
        }
        let (Some((file, _)), Some(meta)) = (&self.current, self.files.back_mut()) else {
            return Err(Error::internal("retry log: no file to append to"));
        };
        let io = |e| {
            Error::io(
                format!("retry log: cannot write {}", meta.path.display()),
                e,
            )
        };
        let mut writer = BufWriter::with_capacity(1 << 16, file);
        for (key, value) in entries {
            if !(8..=MAX_VALUE_LEN as usize).contains(&value.len()) {
                // Never written, as the reader would stop at it: such an answer stays
                // memory-only, which only shortens its protection.
                tracing::warn!(len = value.len(), "retry-cache answer too large to log");
                continue;
            }
            let mut crc = crc32fast::Hasher::new();
            crc.update(&key.0);
            crc.update(value);
            writer
                .write_all(&(value.len() as u32).to_le_bytes())
                .and_then(|()| writer.write_all(&crc.finalize().to_le_bytes()))
                .and_then(|()| writer.write_all(&key.0))
                .and_then(|()| writer.write_all(value))
                .map_err(io)?;
            meta.newest_ms = meta.newest_ms.max(created_ms(value));
            meta.entries += 1;
        }
        writer.flush().map_err(io)?;
        drop(writer);
        file.sync_data().map_err(io)
    }

    fn start_file(&mut self, now_ms: u64) -> Result<(), Error> {
        let number = self.next_number;
        let path = self.dir.join(format!("{number:020}{SUFFIX}"));
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(format!("retry log: cannot create {}", path.display()), e))?;
        sync_dir(&self.dir)?;
        self.next_number += 1;
        self.files.push_back(LogFile {
            number,
            path,
            newest_ms: 0,
            entries: 0,
        });
        self.current = Some((file, now_ms));
        Ok(())
    }

    /// Deletes the files whose entries all expired (created before `cutoff_ms`) and the
    /// oldest ones the newer ones make redundant under the capacity.
    pub fn expire(&mut self, cutoff_ms: u64) {
        let mut total: usize = self.files.iter().map(|f| f.entries).sum();
        while let Some(oldest) = self.files.front() {
            let expired = oldest.newest_ms < cutoff_ms;
            let redundant = total - oldest.entries >= self.capacity;
            if !expired && !redundant {
                break;
            }
            if self.files.len() == 1 && self.current.is_some() {
                self.current = None;
            }
            total -= oldest.entries;
            if let Err(e) = std::fs::remove_file(&oldest.path) {
                if e.kind() != IoErrorKind::NotFound {
                    tracing::warn!("cannot delete {}: {e}", oldest.path.display());
                    break;
                }
            }
            self.files.pop_front();
        }
    }

    /// Files on disk.
    #[cfg(test)]
    pub fn files(&self) -> usize {
        self.files.len()
    }
}

/// The log files in `dir`, by number.
fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, Error> {
    numbered_files(dir, SUFFIX, "retry log")
}

/// Calls `entry` with each good record of a file, stopping at the first bad one.
fn read(path: &Path, mut entry: impl FnMut(RetryKey, Box<[u8]>)) -> Result<(), Error> {
    let io = |e| Error::io(format!("retry log: cannot read {}", path.display()), e);
    let file = File::open(path).map_err(io)?;
    let mut remaining = file.metadata().map_err(io)?.len();
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut header = [0u8; HEADER_LEN];
    // A crash mid-append leaves a torn last record; a bad record with more after it is damage.
    let damaged = |remaining: u64| {
        tracing::warn!(
            "retry log {}: stopped at a torn or damaged record ({remaining} bytes unread)",
            path.display()
        );
    };
    while remaining >= HEADER_LEN as u64 {
        reader.read_exact(&mut header).map_err(io)?;
        remaining -= HEADER_LEN as u64;
        let [l0, l1, l2, l3, c0, c1, c2, c3, key @ ..] = header;
        let len = u32::from_le_bytes([l0, l1, l2, l3]);
        if !(8..=MAX_VALUE_LEN).contains(&len) || u64::from(len) > remaining {
            damaged(remaining);
            return Ok(());
        }
        let mut value = vec![0u8; len as usize];
        reader.read_exact(&mut value).map_err(io)?;
        remaining -= u64::from(len);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&key);
        crc.update(&value);
        if crc.finalize() != u32::from_le_bytes([c0, c1, c2, c3]) {
            damaged(remaining);
            return Ok(());
        }
        entry(RetryKey(key), value.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
