//! Merging sorted runs of records: the map side merges its spills, the reduce side the maps'
//! segments. Equal keys come out in source order, so a merge is stable and its output does not
//! depend on how the input was cut into runs.

use std::io::{self, BufRead};

use super::format::{count_value, parse_count, RecordReader};
use super::progress::Progress;
use super::TaskControl;
use crate::error::TaskError;

/// Most runs merged at once; more are merged in several passes, to bound open files and buffers.
pub(crate) const MERGE_FACTOR: usize = 64;
/// Read buffer per run being merged.
pub(crate) const MERGE_READ_BUFFER: usize = 64 << 10;
/// Cancellation is checked after about this many merged bytes.
const CHECK_EVERY: u64 = 64 << 10;

/// A k-way merge of sorted record streams. The heap holds source indices and compares the
/// sources' current keys in place, so no key is copied to order it.
pub(crate) struct Merger<R> {
    sources: Vec<RecordReader<R>>,
    heap: Vec<usize>,
    consumed: u64,
}

impl<R: BufRead> Merger<R> {
    /// Reads each source's first record; the smallest becomes the current record.
    pub(crate) fn new(mut sources: Vec<RecordReader<R>>) -> io::Result<Self> {
        let mut heap = Vec::with_capacity(sources.len());
        for (i, source) in sources.iter_mut().enumerate() {
            if source.next()? {
                heap.push(i);
            }
        }
        let mut merger = Merger {
            sources,
            heap,
            consumed: 0,
        };
        for i in (0..merger.heap.len() / 2).rev() {
            merger.sift_down(i);
        }
        Ok(merger)
    }

    /// The current record, or `None` when every source is exhausted.
    pub(crate) fn current(&self) -> Option<(&[u8], &[u8])> {
        let source = &self.sources[*self.heap.first()?];
        Some((source.key(), source.value()))
    }

    /// Moves past the current record.
    pub(crate) fn advance(&mut self) -> io::Result<()> {
        let Some(&top) = self.heap.first() else {
            return Ok(());
        };
        self.consumed += self.sources[top].record_len();
        if !self.sources[top].next()? {
            self.heap.swap_remove(0);
        }
        self.sift_down(0);
        Ok(())
    }

    /// Encoded bytes of the records moved past so far.
    pub(crate) fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Orders by key, then by source index for a stable merge.
    fn less(&self, a: usize, b: usize) -> bool {
        (self.sources[a].key(), a) < (self.sources[b].key(), b)
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let mut smallest = i;
            for child in [2 * i + 1, 2 * i + 2] {
                if child < n && self.less(self.heap[child], self.heap[smallest]) {
                    smallest = child;
                }
            }
            if smallest == i {
                return;
            }
            self.heap.swap(i, smallest);
            i = smallest;
        }
    }
}

/// The merged stream as groups of equal keys, each with its values, for reducers.
pub(crate) struct Groups<R> {
    merger: Merger<R>,
    key: Vec<u8>,
    in_group: bool,
    /// Whether the merger's current record was already handed out as a value.
    current_taken: bool,
}

impl<R: BufRead> Groups<R> {
    pub(crate) fn new(merger: Merger<R>) -> Self {
        Groups {
            merger,
            key: Vec::new(),
            in_group: false,
            current_taken: false,
        }
    }

    /// Moves to the next distinct key, skipping what is left of the current group's values.
    pub(crate) fn next_key(&mut self) -> io::Result<Option<&[u8]>> {
        while self.next_value()?.is_some() {}
        let Some((key, _)) = self.merger.current() else {
            return Ok(None);
        };
        self.key.clear();
        self.key.extend_from_slice(key);
        self.in_group = true;
        Ok(Some(&self.key))
    }

    /// The current group's next value.
    pub(crate) fn next_value(&mut self) -> io::Result<Option<&[u8]>> {
        if !self.in_group {
            return Ok(None);
        }
        if self.current_taken {
            self.merger.advance()?;
            self.current_taken = false;
        }
        let same_key = matches!(self.merger.current(), Some((key, _)) if key == self.key);
        if !same_key {
            self.in_group = false;
            return Ok(None);
        }
        self.current_taken = true;
        Ok(self.merger.current().map(|(_, value)| value))
    }

    /// The next distinct key and the sum of its count values; read errors are described as
    /// `reading`.
    pub(crate) fn next_sum(&mut self, reading: &str) -> Result<Option<(&[u8], u64)>, TaskError> {
        let read_err = |e| TaskError::io(reading, e);
        if self.next_key().map_err(read_err)?.is_none() {
            return Ok(None);
        }
        let mut sum = 0u64;
        while let Some(value) = self.next_value().map_err(read_err)? {
            sum = sum.saturating_add(parse_count(value)?);
        }
        Ok(Some((&self.key, sum)))
    }

    pub(crate) fn consumed(&self) -> u64 {
        self.merger.consumed()
    }
}

/// Counts the distinct keys of a sorted stream.
#[derive(Debug, Default)]
struct DistinctKeys {
    last: Option<Vec<u8>>,
    count: u64,
}

impl DistinctKeys {
    fn see(&mut self, key: &[u8]) {
        if self.last.as_deref() != Some(key) {
            self.count += 1;
            let last = self.last.get_or_insert_with(Vec::new);
            last.clear();
            last.extend_from_slice(key);
        }
    }

    fn count(&self) -> u64 {
        self.count
    }
}

/// What a merge does with equal keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MergeCombine {
    /// Keeps every record.
    None,
    /// Adds up count values, one record per key: the counting jobs' combiner.
    SumCounts,
}

/// Writes the merged stream to `write`, combining as asked.
pub(crate) fn merge_into<R: BufRead>(
    merger: Merger<R>,
    combine: MergeCombine,
    control: &TaskControl,
    mut write: impl FnMut(&[u8], &[u8]) -> Result<(), TaskError>,
) -> Result<(), TaskError> {
    let merge_err = |e| TaskError::io("merging map output", e);
    let mut checked = 0;
    match combine {
        MergeCombine::None => {
            let mut merger = merger;
            while let Some((key, value)) = merger.current() {
                write(key, value)?;
                merger.advance().map_err(merge_err)?;
                if merger.consumed() - checked >= CHECK_EVERY {
                    checked = merger.consumed();
                    control.check()?;
                }
            }
        }
        MergeCombine::SumCounts => {
            let mut groups = Groups::new(merger);
            while let Some((key, sum)) = groups.next_sum("merging map output")? {
                write(key, &count_value(sum))?;
                if groups.consumed() - checked >= CHECK_EVERY {
                    checked = groups.consumed();
                    control.check()?;
                }
            }
        }
    }
    Ok(())
}

/// Hands every merged record, in order, to `write`; returns the distinct keys.
pub(crate) fn drain<R: BufRead>(
    mut merger: Merger<R>,
    progress: &mut Progress<'_>,
    mut write: impl FnMut(&[u8], &[u8]) -> Result<(), TaskError>,
) -> Result<u64, TaskError> {
    let mut keys = DistinctKeys::default();
    while let Some((key, value)) = merger.current() {
        keys.see(key);
        write(key, value)?;
        merger
            .advance()
            .map_err(|e| TaskError::io("reading map output", e))?;
        progress.at(merger.consumed())?;
    }
    progress.finish()?;
    Ok(keys.count())
}

#[cfg(test)]
mod tests;
