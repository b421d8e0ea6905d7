//! What one task attempt computes, independent of where its bytes come from or go: the
//! executor hands in readers and a work directory, and uploads what is left there.
//!
//! Map side: the split's lines → the program's map → partition → sort buffer → spills (with
//! the combiner) → one sorted, partitioned output file plus its index. Reduce side: sorted
//! segments, one per map → merge → group equal keys → the program's reduce → a local text file.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use granary_client::protocol::{KeyBytes, TaskAssignment, TaskCounters};

use crate::error::TaskError;

mod builtin;
mod collect;
mod command;
mod counting;
mod format;
mod index;
mod lines;
mod map;
mod merge;
mod partition;
mod progress;
mod reduce;
mod spill;
mod streaming;
#[cfg(test)]
mod test_support;
mod text;

/// File names inside an attempt's work directory.
pub const MAP_OUTPUT_FILE: &str = "map.out";
pub const MAP_INDEX_FILE: &str = "map.index";

/// Shared between a running attempt and its executor: progress for the tracker's
/// speculation and status, and a flag that asks the attempt to stop.
#[derive(Debug, Default)]
pub struct TaskControl {
    done: AtomicU64,
    total: AtomicU64,
    cancelled: AtomicBool,
}

impl TaskControl {
    pub fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }

    pub fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// Fraction done, 0.0 to 1.0.
    pub fn progress(&self) -> f64 {
        let total = self.total.load(Ordering::Relaxed);
        if total == 0 {
            return 0.0;
        }
        (self.done.load(Ordering::Relaxed) as f64 / total as f64).min(1.0)
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once the attempt has been asked to stop.
    pub fn check(&self) -> Result<(), TaskError> {
        if self.is_cancelled() {
            Err(TaskError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Buffer of each file a task writes (spills, merge passes, part files).
const WRITE_BUFFER: usize = 256 << 10;

/// Input bytes as tasks read them: a local block, a remote range, or a test's buffer.
pub type InputReader = Box<dyn Read + Send>;

/// The bytes of a map task's split.
pub struct MapInput {
    /// The file from `max(offset, 1) - 1` to the split's end: one byte before the split, so a
    /// split can tell whether a line starts at its first byte.
    pub head: InputReader,
    /// Opens the file from the split's end to the file's end; called only when the split's
    /// last line runs past its end.
    pub open_tail: Box<dyn FnOnce() -> io::Result<InputReader> + Send>,
}

/// Where a finished map attempt left its output in its work directory.
#[derive(Debug)]
pub enum MapOutput {
    /// [`MAP_OUTPUT_FILE`] and [`MAP_INDEX_FILE`]: one sorted run per partition.
    Partitioned,
    /// A map-only job's text output, to be uploaded as `part-m-NNNNN`.
    Text(PathBuf),
}

/// Runs a map attempt. `assignment.work` must be a map. Counters come back without
/// `local_bytes_read` / `remote_bytes_read`, which only the executor knows.
pub fn run_map(
    assignment: &TaskAssignment,
    input: MapInput,
    work_dir: &Path,
    control: &TaskControl,
) -> Result<(MapOutput, TaskCounters), TaskError> {
    map::run(assignment, input, work_dir, control)
}

/// A reducer's local copy of one map's run of its partition, and the CRC32C the map recorded
/// for it, which the merge checks the file against as it reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentFile {
    pub path: PathBuf,
    pub crc32c: u32,
}

/// Runs a reduce attempt over `segments` (one file per map: the bytes of this reducer's
/// partition of that map's output, as the shuffle served them) and writes the part file's text
/// to `output`. A segment that does not match its CRC32C fails the attempt.
pub fn run_reduce(
    assignment: &TaskAssignment,
    segments: &[SegmentFile],
    output: &Path,
    control: &TaskControl,
) -> Result<TaskCounters, TaskError> {
    reduce::run(assignment, segments, output, control)
}

/// One partition's sorted run in a map attempt's [`MAP_OUTPUT_FILE`]: where it lies, and the
/// CRC32C of exactly those bytes, computed as they were written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    pub offset: u64,
    pub length: u64,
    pub crc32c: u32,
}

/// The segment of each partition in a finished map attempt's [`MAP_OUTPUT_FILE`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapOutputIndex {
    /// One per partition, in partition order.
    pub partitions: Vec<Segment>,
}

impl MapOutputIndex {
    /// Reads [`MAP_INDEX_FILE`] from an attempt's work directory.
    pub fn load(work_dir: &Path) -> Result<Self, TaskError> {
        index::load_index(work_dir)
    }

    /// Writes [`MAP_INDEX_FILE`] atomically into an attempt's work directory.
    pub fn write(&self, work_dir: &Path) -> Result<(), TaskError> {
        index::write_index(work_dir, &self.partitions)
    }
}

/// `reducers - 1` cut points for range partitioning, chosen from sampled keys so the reducers
/// get about equal shares. Fewer when the sample has fewer distinct keys.
pub fn boundaries_from_sample(sample: Vec<Vec<u8>>, reducers: u32) -> Vec<KeyBytes> {
    partition::boundaries_from_sample(sample, reducers)
}
