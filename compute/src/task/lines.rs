//! A split's lines. A line belongs to the split holding its first byte: a split skips the
//! partial line it starts in (the previous split finishes it) and finishes its own last line
//! from the rest of the file.

use std::io::{self, Read};

use granary_client::protocol::InputSplit;
use memchr::memchr;

use super::progress::Progress;
use super::{MapInput, TaskControl};
use crate::error::TaskError;

/// Split input is read in chunks this big.
const SPLIT_BUFFER: usize = 1 << 20;

/// Reads a stream in big chunks and hands out whole lines without copying them. A line longer
/// than the buffer grows it.
pub(crate) struct LineScanner<R> {
    reader: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
}

impl<R: Read> LineScanner<R> {
    pub(crate) fn new(reader: R, capacity: usize) -> Self {
        LineScanner {
            reader,
            buf: vec![0; capacity.max(1)],
            start: 0,
            end: 0,
            eof: false,
        }
    }

    /// The next complete line, with its `\n`. `None` at the end of the stream; a last line
    /// without `\n` is then left in [`LineScanner::pending`].
    pub(crate) fn next_line(&mut self) -> io::Result<Option<&[u8]>> {
        let mut searched = 0;
        loop {
            if let Some(i) = memchr(b'\n', &self.buf[self.start + searched..self.end]) {
                let line_start = self.start;
                self.start += searched + i + 1;
                return Ok(Some(&self.buf[line_start..self.start]));
            }
            searched = self.end - self.start;
            if self.eof {
                return Ok(None);
            }
            self.fill()?;
        }
    }

    /// What is left after the last `\n` once the stream has ended.
    pub(crate) fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Continues with `reader` after the current one has ended, keeping any pending bytes.
    pub(crate) fn chain(self, reader: R) -> Self {
        LineScanner {
            reader,
            eof: false,
            ..self
        }
    }

    /// Reads more, first moving the unconsumed bytes to the front (or growing the buffer when
    /// they fill it).
    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// The line without its `\n`, and without a `\r` right before that `\n`.
pub(crate) fn strip_terminator(line: &[u8]) -> &[u8] {
    match line {
        [rest @ .., b'\r', b'\n'] => rest,
        [rest @ .., b'\n'] => rest,
        _ => line,
    }
}

/// What a split's lines add up to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LineCounts {
    pub records: u64,
    /// Bytes of the owned lines, terminators included.
    pub bytes: u64,
}

/// Calls `on_record` with each record of `split`, in order.
pub(crate) fn for_each_record(
    split: &InputSplit,
    input: MapInput,
    control: &TaskControl,
    mut on_record: impl FnMut(&[u8]) -> Result<(), TaskError>,
) -> Result<LineCounts, TaskError> {
    let end = split.offset + split.length;
    let head_start = split.offset.saturating_sub(1);
    let read_err = |e| TaskError::io(format!("reading split {}@{}", split.file, split.offset), e);
    let truncated = |at: u64| {
        TaskError::io(
            format!("reading split {}@{}", split.file, split.offset),
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("input ended at byte {at}, before the split's end at {end}"),
            ),
        )
    };
    let MapInput { head, open_tail } = input;
    let mut scanner = LineScanner::new(head, SPLIT_BUFFER);
    let mut counts = LineCounts::default();
    let mut progress = Progress::new(control, split.length);
    // `pos` is the file offset of the scanner's next unconsumed byte.
    let mut pos = head_start;

    if split.offset > 0 {
        // The byte before the split tells whether a line starts at the split's first byte;
        // otherwise the line under way belongs to the previous split.
        match scanner.next_line().map_err(read_err)? {
            Some(rest) => pos += rest.len() as u64,
            None => {
                let at = pos + scanner.pending().len() as u64;
                return if at < end {
                    Err(truncated(at))
                } else {
                    Ok(counts)
                };
            }
        }
    }
    let mut emit = |line: &[u8]| {
        counts.records += 1;
        counts.bytes += line.len() as u64;
        on_record(strip_terminator(line))
    };
    while pos < end {
        if let Some(line) = scanner.next_line().map_err(read_err)? {
            pos += line.len() as u64;
            emit(line)?;
            progress.at(pos - head_start)?;
            continue;
        }
        // The head ended inside the split's last line, which ends in the tail or at the end
        // of the file.
        let at = pos + scanner.pending().len() as u64;
        if at < end {
            return Err(truncated(at));
        }
        if end < split.file_length {
            scanner = scanner.chain(open_tail().map_err(read_err)?);
            if let Some(line) = scanner.next_line().map_err(read_err)? {
                emit(line)?;
                break;
            }
        }
        emit(scanner.pending())?;
        break;
    }
    progress.finish()?;
    Ok(counts)
}

#[cfg(test)]
mod tests;
