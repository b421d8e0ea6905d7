//! Job output text: `key<TAB>value` lines, or `key` alone when the value is empty.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::WRITE_BUFFER;
use crate::error::TaskError;

/// A text output file, counting the lines written.
pub(crate) struct TextWriter {
    path: PathBuf,
    out: BufWriter<File>,
    lines: u64,
}

impl TextWriter {
    pub(crate) fn create(path: &Path) -> Result<Self, TaskError> {
        let file = File::create(path).map_err(|e| write_err(path, e))?;
        Ok(TextWriter {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(WRITE_BUFFER, file),
            lines: 0,
        })
    }

    pub(crate) fn write_record(&mut self, key: &[u8], value: &[u8]) -> Result<(), TaskError> {
        if value.is_empty() {
            self.write_line(&[key, b"\n"])
        } else {
            self.write_line(&[key, b"\t", value, b"\n"])
        }
    }

    pub(crate) fn write_count(&mut self, key: &[u8], count: u64) -> Result<(), TaskError> {
        let mut digits = [0u8; 20];
        let count = decimal(count, &mut digits);
        self.write_line(&[key, b"\t", count, b"\n"])
    }

    fn write_line(&mut self, parts: &[&[u8]]) -> Result<(), TaskError> {
        for part in parts {
            self.out
                .write_all(part)
                .map_err(|e| write_err(&self.path, e))?;
        }
        self.lines += 1;
        Ok(())
    }

    /// Copies `input` as it is, counting its lines (a last line without `\n` included).
    pub(crate) fn copy_from(&mut self, input: &mut dyn Read) -> Result<(), TaskError> {
        let mut buf = vec![0u8; WRITE_BUFFER];
        let mut ends_with_newline = true;
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(TaskError::io("reading command output", e)),
            };
            self.lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
            ends_with_newline = buf[n - 1] == b'\n';
            self.out
                .write_all(&buf[..n])
                .map_err(|e| write_err(&self.path, e))?;
        }
        if !ends_with_newline {
            self.lines += 1;
        }
        Ok(())
    }

    /// Flushes the file; returns the lines written.
    pub(crate) fn finish(mut self) -> Result<u64, TaskError> {
        self.out.flush().map_err(|e| write_err(&self.path, e))?;
        Ok(self.lines)
    }
}

/// `n` in decimal, formatted into the end of `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[start..];
        }
    }
}

fn write_err(path: &Path, e: io::Error) -> TaskError {
    TaskError::io(format!("writing {}", path.display()), e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_counts_are_tab_separated_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let mut out = TextWriter::create(&path).unwrap();
        out.write_record(b"k", b"v").unwrap();
        out.write_record(b"alone", b"").unwrap();
        out.write_count(b"word", 42).unwrap();
        assert_eq!(out.finish().unwrap(), 3);
        assert_eq!(std::fs::read(&path).unwrap(), b"k\tv\nalone\nword\t42\n");
    }

    #[test]
    fn decimals() {
        let mut buf = [0u8; 20];
        assert_eq!(decimal(0, &mut buf), b"0");
        assert_eq!(decimal(1907, &mut buf), b"1907");
        assert_eq!(decimal(u64::MAX, &mut buf), u64::MAX.to_string().as_bytes());
    }

    #[test]
    fn copies_count_a_last_line_without_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let mut out = TextWriter::create(&path).unwrap();
        out.copy_from(&mut &b"a\nb\nc"[..]).unwrap();
        assert_eq!(out.finish().unwrap(), 3);
        assert_eq!(std::fs::read(&path).unwrap(), b"a\nb\nc");
    }
}
