//! The map output's on-disk format. A record is `[LEB128 key length][LEB128 value length]
//! [key][value]`; a map's output file holds one sorted run of records per partition, and its
//! index file (see `index`) the offset, length and CRC32C of each run.

use std::io::{self, BufRead, Write};

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
/// Input that ends inside a record, or a record that claims more than is left, is an error; so
/// is a run whose bytes do not match the CRC32C it was [`checked`](Self::checked) against.
pub(crate) struct RecordReader<R> {
    inner: R,
    remaining: u64,
    buf: Vec<u8>,
    key_len: usize,
    record_len: u64,
    /// The run's expected CRC32C, until the end of the run compares it with `crc`.
    expected_crc: Option<u32>,
    crc: u32,
}

impl<R: BufRead> RecordReader<R> {
    pub(crate) fn new(inner: R, limit: u64) -> Self {
        RecordReader {
            inner,
            remaining: limit,
            buf: Vec::new(),
            key_len: 0,
            record_len: 0,
            expected_crc: None,
            crc: 0,
        }
    }

    /// A reader of a run written with CRC32C `crc32c`: reading past its last record fails
    /// unless the bytes match. Records are handed out before the end is reached, so whatever
    /// consumes them must be discarded when that last `next` fails.
    pub(crate) fn checked(inner: R, limit: u64, crc32c: u32) -> Self {
        RecordReader {
            expected_crc: Some(crc32c),
            ..Self::new(inner, limit)
        }
    }

    /// Moves to the next record; `false` once `limit` bytes have been read.
    pub(crate) fn next(&mut self) -> io::Result<bool> {
        if self.remaining == 0 {
            self.record_len = 0;
            if let Some(expected) = self.expected_crc.take() {
                if self.crc != expected {
                    return Err(corrupt(&format!(
                        "a run's CRC32C is {:08x}; it was written as {expected:08x}",
                        self.crc
                    )));
                }
            }
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
        if self.expected_crc.is_some() {
            self.crc = crc32c::crc32c_append(self.crc, &self.buf);
        }
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
        if self.expected_crc.is_some() {
            self.crc = crc32c::crc32c_append(self.crc, &[byte]);
        }
        Ok(byte)
    }
}

pub(super) fn corrupt(what: &str) -> io::Error {
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
    fn a_checked_reader_fails_at_the_end_of_a_damaged_run() {
        let bytes = encode(&[(b"key", b"value"), (b"other", &[9; 100])]);
        let crc = crc32c::crc32c(&bytes);
        let records = |bytes: &[u8]| {
            let mut reader = RecordReader::checked(Cursor::new(bytes), bytes.len() as u64, crc);
            let mut n = 0;
            while reader.next()? {
                n += 1;
            }
            io::Result::Ok(n)
        };
        assert_eq!(records(&bytes).unwrap(), 2);
        let mut damaged = bytes.clone();
        damaged[bytes.len() - 10] ^= 0x01;
        let error = records(&damaged).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData, "{error}");
        assert!(error.to_string().contains("CRC32C"), "{error}");
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
}
