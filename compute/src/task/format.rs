//! The map output's on-disk format. A record is `[LEB128 key length][LEB128 value length]
//! [key][value]`; a map's output file holds one sorted run of records per partition, and its
//! index file the offset, length and CRC32C of each run (format version 2, below).

use std::fs;
use std::io::{self, BufRead, Write};
use std::path::Path;

use super::{MapOutputIndex, Segment, MAP_INDEX_FILE};
use crate::error::TaskError;

/// Longest LEB128 encoding of a `u64`.
const MAX_VARINT: usize = 10;

fn encode_varint(mut value: u64, out: &mut [u8]) -> usize {
    let mut n = 0;
    while value >= 0x80 {
        out[n] = (value as u8) | 0x80;
        value >>= 7;
        n += 1;
    }
    out[n] = value as u8;
    n + 1
}

/// Writes records, counting the bytes written so far and their CRC32C since the last
/// [`take_crc`](Self::take_crc).
pub(crate) struct RecordWriter<W> {
    inner: W,
    position: u64,
    crc: u32,
}

impl<W: Write> RecordWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        RecordWriter {
            inner,
            position: 0,
            crc: 0,
        }
    }

    pub(crate) fn write(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        let mut header = [0u8; 2 * MAX_VARINT];
        let n = encode_varint(key.len() as u64, &mut header);
        let n = n + encode_varint(value.len() as u64, &mut header[n..]);
        self.inner.write_all(&header[..n])?;
        self.inner.write_all(key)?;
        self.inner.write_all(value)?;
        self.position += (n + key.len() + value.len()) as u64;
        self.crc = crc32c::crc32c_append(self.crc, &header[..n]);
        self.crc = crc32c::crc32c_append(self.crc, key);
        self.crc = crc32c::crc32c_append(self.crc, value);
        Ok(())
    }

    /// The CRC32C of the bytes written since the last call (or since the start), which starts
    /// the next run's.
    pub(crate) fn take_crc(&mut self) -> u32 {
        std::mem::take(&mut self.crc)
    }

    /// Bytes written so far.
    pub(crate) fn position(&self) -> u64 {
        self.position
    }

    pub(crate) fn into_inner(self) -> W {
        self.inner
    }
}

/// Reads exactly `limit` bytes of records, reusing one buffer for every record's key and value.
/// Input that ends inside a record, or a record that claims more than is left, is an error.
pub(crate) struct RecordReader<R> {
    inner: R,
    remaining: u64,
    buf: Vec<u8>,
    key_len: usize,
    record_len: u64,
}

impl<R: BufRead> RecordReader<R> {
    pub(crate) fn new(inner: R, limit: u64) -> Self {
        RecordReader {
            inner,
            remaining: limit,
            buf: Vec::new(),
            key_len: 0,
            record_len: 0,
        }
    }

    /// Moves to the next record; `false` once `limit` bytes have been read.
    pub(crate) fn next(&mut self) -> io::Result<bool> {
        if self.remaining == 0 {
            self.record_len = 0;
            return Ok(false);
        }
        let before = self.remaining;
        let key_len = self.read_varint()?;
        let value_len = self.read_varint()?;
        let body = key_len
            .checked_add(value_len)
            .filter(|&n| n <= self.remaining);
        let Some(body) = body else {
            return Err(corrupt("record runs past the end of its run"));
        };
        self.buf.resize(body as usize, 0);
        self.inner.read_exact(&mut self.buf).map_err(truncated)?;
        self.remaining -= body;
        self.key_len = key_len as usize;
        self.record_len = before - self.remaining;
        Ok(true)
    }

    pub(crate) fn key(&self) -> &[u8] {
        &self.buf[..self.key_len]
    }

    pub(crate) fn value(&self) -> &[u8] {
        &self.buf[self.key_len..]
    }

    /// Encoded size of the current record.
    pub(crate) fn record_len(&self) -> u64 {
        self.record_len
    }

    fn read_varint(&mut self) -> io::Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.read_byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(corrupt("length too long"))
    }

    fn read_byte(&mut self) -> io::Result<u8> {
        if self.remaining == 0 {
            return Err(corrupt("record runs past the end of its run"));
        }
        let byte = match self.inner.fill_buf()? {
            [] => return Err(truncated(io::ErrorKind::UnexpectedEof.into())),
            [first, ..] => *first,
        };
        self.inner.consume(1);
        self.remaining -= 1;
        Ok(byte)
    }
}

fn corrupt(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("corrupt map output: {what}"),
    )
}

fn truncated(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        io::Error::new(io::ErrorKind::UnexpectedEof, "truncated map output record")
    } else {
        e
    }
}

/// A count, as the counting jobs' map output values carry it.
pub(crate) fn count_value(count: u64) -> [u8; 8] {
    count.to_le_bytes()
}

pub(crate) fn parse_count(value: &[u8]) -> Result<u64, TaskError> {
    let bytes: [u8; 8] = value.try_into().map_err(|_| {
        TaskError::Invalid(format!("a count value has {} bytes, not 8", value.len()))
    })?;
    Ok(u64::from_le_bytes(bytes))
}

/// First bytes of a [`MAP_INDEX_FILE`]; the last byte is the format's version. Version 1 (bare
/// `(offset, length)` pairs, no checksums) is refused: map output never outlives its datanode's
/// process, so no such file can be met.
const INDEX_MAGIC: [u8; 8] = *b"GRNMIDX\x02";
/// `[u64 LE offset][u64 LE length][u32 LE crc32c]` per partition.
const INDEX_ENTRY: usize = 20;
/// The index ends with the CRC32C of everything before it, so a damaged index is never
/// mistaken for ranges and checksums.
const INDEX_TRAILER: usize = 4;

/// Writes [`MAP_INDEX_FILE`] through a temporary file and a rename, so a reader sees either no
/// index or a whole one. Called once the output file is complete.
pub(crate) fn write_index(work_dir: &Path, partitions: &[Segment]) -> Result<(), TaskError> {
    let mut bytes = Vec::with_capacity(INDEX_MAGIC.len() + partitions.len() * INDEX_ENTRY + 4);
    bytes.extend_from_slice(&INDEX_MAGIC);
    for segment in partitions {
        bytes.extend_from_slice(&segment.offset.to_le_bytes());
        bytes.extend_from_slice(&segment.length.to_le_bytes());
        bytes.extend_from_slice(&segment.crc32c.to_le_bytes());
    }
    let crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    let temp = work_dir.join(format!("{MAP_INDEX_FILE}.tmp"));
    let path = work_dir.join(MAP_INDEX_FILE);
    fs::write(&temp, &bytes)
        .and_then(|()| fs::rename(&temp, &path))
        .map_err(|e| TaskError::io(format!("writing {}", path.display()), e))
}

pub(crate) fn load_index(work_dir: &Path) -> Result<MapOutputIndex, TaskError> {
    let path = work_dir.join(MAP_INDEX_FILE);
    let context = || format!("reading {}", path.display());
    let bytes = fs::read(&path).map_err(|e| TaskError::io(context(), e))?;
    let partitions = parse_index(&bytes).map_err(|e| TaskError::io(context(), e))?;
    Ok(MapOutputIndex { partitions })
}

fn parse_index(bytes: &[u8]) -> io::Result<Vec<Segment>> {
    let whole = bytes
        .len()
        .checked_sub(INDEX_MAGIC.len() + INDEX_TRAILER)
        .is_some_and(|entries| entries % INDEX_ENTRY == 0);
    if !whole {
        return Err(corrupt("the index has a length no index can have"));
    }
    let (body, trailer) = bytes.split_at(bytes.len() - INDEX_TRAILER);
    if body[..INDEX_MAGIC.len()] != INDEX_MAGIC {
        return Err(corrupt("the index does not start with the version 2 magic"));
    }
    if crc32c::crc32c(body).to_le_bytes() != trailer {
        return Err(corrupt("the index does not match its checksum"));
    }
    let entries = &body[INDEX_MAGIC.len()..];
    let u64_at = |at: &[u8]| u64::from_le_bytes(at.try_into().unwrap_or([0; 8]));
    let u32_at = |at: &[u8]| u32::from_le_bytes(at.try_into().unwrap_or([0; 4]));
    Ok(entries
        .chunks_exact(INDEX_ENTRY)
        .map(|entry| Segment {
            offset: u64_at(&entry[..8]),
            length: u64_at(&entry[8..16]),
            crc32c: u32_at(&entry[16..]),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    fn encode(records: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut writer = RecordWriter::new(Vec::new());
        for (k, v) in records {
            writer.write(k, v).unwrap();
        }
        assert_eq!(writer.position(), writer.inner.len() as u64);
        writer.into_inner()
    }

    #[test]
    fn records_round_trip() {
        let long = vec![7u8; 300];
        let records: Vec<(&[u8], &[u8])> =
            vec![(b"k", b"v"), (b"", b""), (&long, b"x"), (b"a", &long)];
        let bytes = encode(&records);
        let mut reader = RecordReader::new(Cursor::new(&bytes), bytes.len() as u64);
        let mut total = 0;
        for (k, v) in &records {
            assert!(reader.next().unwrap());
            assert_eq!((reader.key(), reader.value()), (*k, *v));
            total += reader.record_len();
        }
        assert!(!reader.next().unwrap());
        assert_eq!(total, bytes.len() as u64);
    }

    #[test]
    fn the_writer_checksums_each_run_it_writes() {
        let mut writer = RecordWriter::new(Vec::new());
        writer.write(b"apple", b"1").unwrap();
        writer.write(b"pear", b"").unwrap();
        let first = writer.take_crc();
        let cut = writer.position() as usize;
        assert_eq!(writer.take_crc(), 0, "nothing written since");
        writer.write(b"zebra", &[0xff; 200]).unwrap();
        let second = writer.take_crc();
        let bytes = writer.into_inner();
        assert_eq!(first, crc32c::crc32c(&bytes[..cut]));
        assert_eq!(second, crc32c::crc32c(&bytes[cut..]));
    }

    #[test]
    fn varints_are_leb128() {
        let mut out = [0u8; MAX_VARINT];
        let n = encode_varint(300, &mut out);
        assert_eq!(&out[..n], &[0xac, 0x02]);
        assert_eq!(encode_varint(u64::MAX, &mut out), MAX_VARINT);
    }

    #[test]
    fn truncated_input_is_an_error() {
        let bytes = encode(&[(b"key", b"value")]);
        for cut in 1..bytes.len() {
            let mut reader = RecordReader::new(Cursor::new(&bytes[..cut]), bytes.len() as u64);
            assert!(reader.next().is_err(), "cut at {cut}");
            // A limit that ends inside a record is as bad as a short file.
            let mut reader = RecordReader::new(Cursor::new(&bytes), cut as u64);
            assert!(reader.next().is_err(), "limit {cut}");
        }
    }

    #[test]
    fn the_limit_stops_reading() {
        let bytes = encode(&[(b"a", b"1"), (b"b", b"2")]);
        let mut reader = RecordReader::new(Cursor::new(&bytes), 4);
        assert!(reader.next().unwrap());
        assert_eq!(reader.key(), b"a");
        assert!(!reader.next().unwrap());
    }

    #[test]
    fn index_round_trips_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let segment = |offset, length, crc32c| Segment {
            offset,
            length,
            crc32c,
        };
        let partitions = vec![
            segment(0, 10, 7),
            segment(10, 0, 0),
            segment(10, 5, u32::MAX),
        ];
        write_index(dir.path(), &partitions).unwrap();
        assert_eq!(load_index(dir.path()).unwrap().partitions, partitions);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![MAP_INDEX_FILE]);
        write_index(dir.path(), &[]).unwrap();
        assert_eq!(load_index(dir.path()).unwrap().partitions, vec![]);
    }

    #[test]
    fn a_damaged_or_old_index_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let partitions = [Segment {
            offset: 0,
            length: 300,
            crc32c: 0x1234_5678,
        }];
        write_index(dir.path(), &partitions).unwrap();
        let path = dir.path().join(MAP_INDEX_FILE);
        let good = fs::read(&path).unwrap();
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x10;
            assert!(
                parse_index(&bad).is_err(),
                "a flipped bit at {at} went unnoticed"
            );
        }
        assert!(parse_index(&good[..good.len() - 1]).is_err());
        // Version 1: one bare (offset, length) pair.
        let mut old = 0u64.to_le_bytes().to_vec();
        old.extend_from_slice(&300u64.to_le_bytes());
        fs::write(&path, old).unwrap();
        assert!(load_index(dir.path()).is_err());
    }
}
