//! The edit log (as HDFS's): every group of staged mutations becomes one journal record,
//! appended and `fdatasync`ed before any of them is acknowledged. Its changes reach sled at
//! the next checkpoint, which flushes sled and deletes the segments that made redundant;
//! start-up replays whatever sled had not made durable.
//!
//! Segments are files `<journal dir>/<first sequence, 20 digits>.seg`, preallocated so that
//! an append's `fdatasync` does not have to update the file size. A record is
//! `[u32 LE payload len][u64 LE sequence][u32 LE crc32 of sequence + payload][payload]`;
//! sequences are consecutive across segments. Reading a segment stops at the first record
//! that is zero, torn, out of sequence or fails its CRC: a crash mid-append, never an
//! acknowledged record.
//!
//! A payload is a list of operations, each `[1][u32 key len][key][u32 value len][value]`
//! (put) or `[2][u32 key len][key]` (remove), lengths little-endian.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, ErrorKind as IoErrorKind, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use granary_client::Error;

/// Bytes before each record's payload.
pub const HEADER_LEN: usize = 16;
/// Default segment size: a few seconds of the heaviest metadata load.
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 << 20;

const PUT: u8 = 1;
const REMOVE: u8 = 2;
const SEGMENT_SUFFIX: &str = ".seg";

/// Puts and removes to apply atomically, encoded as a journal payload behind room for the
/// record header (so an append writes the buffer as it is).
#[derive(Debug)]
pub struct Batch {
    buf: Vec<u8>,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            buf: vec![0; HEADER_LEN],
        }
    }
}

impl Batch {
    /// An empty batch with room for `len` bytes (as [`Batch::len`] counts them).
    pub fn with_capacity(len: usize) -> Self {
        let mut buf = Vec::with_capacity(len.max(HEADER_LEN));
        buf.resize(HEADER_LEN, 0);
        Batch { buf }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.len() == HEADER_LEN
    }

    pub fn payload(&self) -> &[u8] {
        &self.buf[HEADER_LEN..]
    }

    /// Bytes in the buffer, to [`Batch::truncate`] back to.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Drops every operation added after [`Batch::len`] returned `len`.
    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len.max(HEADER_LEN));
    }

    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        self.key(PUT, key);
        self.buf
            .extend_from_slice(&(value.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(value);
    }

    /// Puts a value that `write` appends to the buffer, saving a copy.
    pub fn put_with<E>(
        &mut self,
        key: &[u8],
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let start = self.buf.len();
        self.key(PUT, key);
        let len_at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        if let Err(e) = write(&mut self.buf) {
            self.buf.truncate(start);
            return Err(e);
        }
        let len = (self.buf.len() - len_at - 4) as u32;
        self.buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
        Ok(())
    }

    pub fn remove(&mut self, key: &[u8]) {
        self.key(REMOVE, key);
    }

    fn key(&mut self, op: u8, key: &[u8]) {
        self.buf.push(op);
        self.buf
            .extend_from_slice(&(key.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(key);
    }
}

/// One operation of a payload.
#[derive(Debug, PartialEq, Eq)]
pub enum Op<'a> {
    Put(&'a [u8], &'a [u8]),
    Remove(&'a [u8]),
}

/// The operations of a payload, in order.
pub fn decode(payload: &[u8]) -> Decode<'_> {
    Decode { rest: payload }
}

pub struct Decode<'a> {
    rest: &'a [u8],
}

impl<'a> Decode<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.rest.len() < n {
            self.rest = &[];
            return Err(Error::internal("corrupt journal payload: truncated"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn sized(&mut self) -> Result<&'a [u8], Error> {
        let len = u32::from_le_bytes(self.take(4)?.try_into().unwrap_or_default());
        self.take(len as usize)
    }

    fn op(&mut self, op: u8) -> Result<Op<'a>, Error> {
        let key = self.sized()?;
        match op {
            PUT => Ok(Op::Put(key, self.sized()?)),
            REMOVE => Ok(Op::Remove(key)),
            _ => Err(Error::internal(format!("corrupt journal payload: op {op}"))),
        }
    }
}

impl<'a> Iterator for Decode<'a> {
    type Item = Result<Op<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&op, tail) = self.rest.split_first()?;
        self.rest = tail;
        let result = self.op(op);
        if result.is_err() {
            self.rest = &[];
        }
        Some(result)
    }
}

/// What start-up found in the journal.
#[derive(Debug)]
pub struct Replayed {
    /// The last good record (0 when there is none).
    pub last_seq: u64,
    /// Records handed to `apply` (those newer than sled's).
    pub applied: u64,
    /// Every segment read; all redundant once the replayed records are durable in sled.
    pub segments: Vec<PathBuf>,
}

/// An append: its sequence, and whether it started a new segment (time for a checkpoint).
#[derive(Clone, Copy, Debug)]
pub struct Appended {
    pub seq: u64,
    pub rolled: bool,
}

/// The open journal: the segment being appended to, and the full ones not yet deleted.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    segment_size: u64,
    file: File,
    /// First sequence of the current segment (its name).
    current_first: u64,
    offset: u64,
    capacity: u64,
    next_seq: u64,
    /// Full segments, oldest first, with the last sequence each holds.
    closed: Vec<(u64, PathBuf)>,
    /// A failed write leaves the segment in an unknown state: no more appends.
    failed: bool,
}

impl Journal {
    /// Reads every segment in `dir` in order and calls `apply` with each good record whose
    /// sequence is above `applied_seq` (those sled already holds are skipped).
    pub fn replay(
        dir: &Path,
        applied_seq: u64,
        mut apply: impl FnMut(u64, &[u8]) -> Result<(), Error>,
    ) -> Result<Replayed, Error> {
        let segments = numbered_files(dir, SEGMENT_SUFFIX, "journal")?;
        let mut replayed = Replayed {
            last_seq: 0,
            applied: 0,
            segments: Vec::with_capacity(segments.len()),
        };
        for (first, path) in segments {
            // Records sled does not hold must all be here: no gap before this segment.
            let known = replayed.last_seq.max(applied_seq);
            if first > known + 1 {
                return Err(Error::internal(format!(
                    "journal records {} to {} are missing (the next segment is {})",
                    known + 1,
                    first - 1,
                    path.display()
                )));
            }
            read_segment(&path, first, |seq, payload| {
                if seq > replayed.last_seq.max(applied_seq) {
                    apply(seq, payload)?;
                    replayed.applied += 1;
                }
                replayed.last_seq = replayed.last_seq.max(seq);
                Ok(())
            })?;
            replayed.segments.push(path);
        }
        Ok(replayed)
    }

    /// Deletes the `old` segments (their records must be durable elsewhere by now) and opens a
    /// fresh one for records from `next_seq` on.
    pub fn start(
        dir: &Path,
        segment_size: u64,
        next_seq: u64,
        old: Vec<PathBuf>,
    ) -> Result<Journal, Error> {
        ensure_dir(dir)?;
        // First, as an empty old segment may have the new one's name.
        for path in old {
            remove_segment(&path);
        }
        let (file, capacity) = create_segment(dir, next_seq, segment_size)?;
        Ok(Journal {
            dir: dir.to_path_buf(),
            segment_size,
            file,
            current_first: next_seq,
            offset: 0,
            capacity,
            next_seq,
            closed: Vec::new(),
            failed: false,
        })
    }

    /// The sequence the next record gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Appends `batch` as the next record and makes it durable (`fdatasync`).
    pub fn append(&mut self, batch: &mut Batch) -> Result<Appended, Error> {
        if self.failed {
            return Err(Error::internal("the journal failed earlier"));
        }
        let result = self.try_append(batch);
        self.failed = result.is_err();
        result
    }

    fn try_append(&mut self, batch: &mut Batch) -> Result<Appended, Error> {
        let payload_len = u32::try_from(batch.buf.len() - HEADER_LEN)
            .map_err(|_| Error::internal("a journal record exceeds 4 GiB"))?;
        let seq = self.next_seq;
        let len = batch.buf.len() as u64;
        let rolled = self.offset + len > self.capacity;
        if rolled {
            let (file, capacity) = create_segment(&self.dir, seq, self.segment_size.max(len))?;
            let full = segment_path(&self.dir, self.current_first);
            self.closed.push((seq - 1, full));
            (self.file, self.current_first) = (file, seq);
            (self.offset, self.capacity) = (0, capacity);
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(&seq.to_le_bytes());
        crc.update(batch.payload());
        let header = &mut batch.buf[..HEADER_LEN];
        header[..4].copy_from_slice(&payload_len.to_le_bytes());
        header[4..12].copy_from_slice(&seq.to_le_bytes());
        header[12..].copy_from_slice(&crc.finalize().to_le_bytes());
        let path = || segment_path(&self.dir, self.current_first);
        fail::fail_point!("journal::append");
        self.file
            .write_all_at(&batch.buf, self.offset)
            .map_err(|e| Error::io(format!("journal write to {}", path().display()), e))?;
        fail::fail_point!("journal::fdatasync");
        self.file
            .sync_data()
            .map_err(|e| Error::io(format!("journal sync of {}", path().display()), e))?;
        self.offset += len;
        self.next_seq += 1;
        Ok(Appended { seq, rolled })
    }

    /// Forgets the full segments whose records are all at or below `seq` (durable in sled);
    /// returns them for the caller to delete. The current segment always stays.
    pub fn retire(&mut self, seq: u64) -> Vec<PathBuf> {
        let keep = self.closed.partition_point(|(last, _)| *last <= seq);
        self.closed.drain(..keep).map(|(_, path)| path).collect()
    }
}

/// Deletes a segment no longer needed; failing to is only worth a warning (it is replayed
/// and skipped at the next start).
pub fn remove_segment(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == IoErrorKind::NotFound => {}
        Err(e) => tracing::warn!("cannot delete journal segment {}: {e}", path.display()),
    }
}

fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}{SEGMENT_SUFFIX}"))
}

/// Creates `dir` (durably) if it does not exist.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), Error> {
    if !dir.exists() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        if let Some(parent) = dir.parent() {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// The files in `dir` named `<number><suffix>`, by number (none if `dir` does not exist):
/// journal segments, and the retry log's files. `log` names the log in errors.
pub(crate) fn numbered_files(
    dir: &Path,
    suffix: &str,
    log: &str,
) -> Result<Vec<(u64, PathBuf)>, Error> {
    let io = |e| Error::io(format!("{log}: cannot read {}", dir.display()), e);
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let number = entry
            .file_name()
            .to_str()
            .and_then(|n| n.strip_suffix(suffix))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(number) = number {
            files.push((number, entry.path()));
        }
    }
    files.sort_unstable();
    Ok(files)
}

/// Calls `record` with each good record of a segment, stopping at the first bad one.
fn read_segment(
    path: &Path,
    first_seq: u64,
    mut record: impl FnMut(u64, &[u8]) -> Result<(), Error>,
) -> Result<(), Error> {
    let io = |e| Error::io(format!("journal: cannot read {}", path.display()), e);
    let file = File::open(path).map_err(io)?;
    let mut remaining = file.metadata().map_err(io)?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut payload = Vec::new();
    let mut expected = first_seq;
    loop {
        let mut header = [0u8; HEADER_LEN];
        if remaining < HEADER_LEN as u64 {
            return Ok(());
        }
        reader.read_exact(&mut header).map_err(io)?;
        remaining -= HEADER_LEN as u64;
        let len = u32::from_le_bytes(header[..4].try_into().unwrap_or_default());
        let seq = u64::from_le_bytes(header[4..12].try_into().unwrap_or_default());
        let crc = u32::from_le_bytes(header[12..].try_into().unwrap_or_default());
        if len == 0 || seq != expected || u64::from(len) > remaining {
            return Ok(());
        }
        payload.resize(len as usize, 0);
        reader.read_exact(&mut payload).map_err(io)?;
        remaining -= u64::from(len);
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&seq.to_le_bytes());
        hasher.update(&payload);
        if hasher.finalize() != crc {
            return Ok(());
        }
        record(seq, &payload)?;
        expected += 1;
    }
}

/// Creates and preallocates a segment, durable (file and directory entry) before any record
/// goes into it.
fn create_segment(dir: &Path, first_seq: u64, size: u64) -> Result<(File, u64), Error> {
    let path = segment_path(dir, first_seq);
    let io = |what: &str, e| Error::io(format!("journal: cannot {what} {}", path.display()), e);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| io("create", e))?;
    preallocate(&file, size).map_err(|e| io("preallocate", e))?;
    file.sync_all().map_err(|e| io("sync", e))?;
    sync_dir(dir)?;
    Ok((file, size))
}

/// Reserves `size` bytes (reading as zeros) so appends do not change the file size.
fn preallocate(file: &File, size: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let len = libc::off_t::try_from(size).map_err(std::io::Error::other)?;
    // SAFETY: fallocate only reads its integer arguments; the descriptor is open and owned
    // by `file` for the duration of the call.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) };
    if rc == 0 {
        return Ok(());
    }
    let error = std::io::Error::last_os_error();
    match error.raw_os_error() {
        // File systems without fallocate: a sparse file of the right size still keeps the
        // size constant.
        Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) => file.set_len(size),
        _ => Err(error),
    }
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("cannot sync {}", dir.display()), e))
}

#[cfg(test)]
mod tests;
