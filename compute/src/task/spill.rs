//! Spills: the sort buffer's sorted, partitioned runs on local disk, and their final merge into
//! the map's output file and index.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::format::{RecordReader, RecordWriter};
use super::index::write_index;
use super::merge::{merge_into, MergeCombine, Merger, MERGE_FACTOR, MERGE_READ_BUFFER};
use super::WRITE_BUFFER;
use super::{Segment, TaskControl, MAP_OUTPUT_FILE};
use crate::error::TaskError;

/// A file of records sorted by (partition, key), with each partition's segment: its byte range
/// and CRC32C. Every spill carries checksums because any of them may become the map output.
#[derive(Debug)]
pub(crate) struct Spill {
    path: PathBuf,
    ranges: Vec<Segment>,
}

/// Writes a spill; records must come in (partition, key) order.
pub(crate) struct SpillWriter {
    path: PathBuf,
    writer: RecordWriter<BufWriter<File>>,
    ranges: Vec<Segment>,
    /// Partitions below this one have their start offset set; the last of them is the one
    /// being written, and those before it are complete, checksum included.
    started: usize,
}

impl SpillWriter {
    pub(crate) fn create(path: PathBuf, partitions: u32) -> Result<Self, TaskError> {
        let file = File::create(&path).map_err(|e| spill_err(&path, e))?;
        Ok(SpillWriter {
            writer: RecordWriter::new(BufWriter::with_capacity(WRITE_BUFFER, file)),
            path,
            ranges: vec![Segment::default(); partitions as usize],
            started: 0,
        })
    }

    pub(crate) fn write(
        &mut self,
        partition: u32,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), TaskError> {
        let partition = partition as usize;
        self.start_up_to(partition + 1);
        let before = self.writer.position();
        self.writer
            .write(key, value)
            .map_err(|e| spill_err(&self.path, e))?;
        self.ranges[partition].length += self.writer.position() - before;
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<Spill, TaskError> {
        self.start_up_to(self.ranges.len());
        if let Some(last) = self.ranges.last_mut() {
            last.crc32c = self.writer.take_crc();
        }
        self.writer
            .into_inner()
            .flush()
            .map_err(|e| spill_err(&self.path, e))?;
        Ok(Spill {
            path: self.path,
            ranges: self.ranges,
        })
    }

    fn start_up_to(&mut self, end: usize) {
        while self.started < end {
            if let Some(previous) = self.started.checked_sub(1) {
                self.ranges[previous].crc32c = self.writer.take_crc();
            }
            self.ranges[self.started].offset = self.writer.position();
            self.started += 1;
        }
    }
}

/// The spills of one map attempt, numbered in its work directory.
pub(crate) struct Spills {
    dir: PathBuf,
    partitions: u32,
    next_number: u32,
    spills: Vec<Spill>,
    combine: MergeCombine,
}

impl Spills {
    /// `combine` is applied whenever spills are merged.
    pub(crate) fn new(dir: &Path, partitions: u32, combine: MergeCombine) -> Self {
        Spills {
            dir: dir.to_path_buf(),
            partitions,
            next_number: 0,
            spills: Vec::new(),
            combine,
        }
    }

    pub(crate) fn writer(&mut self) -> Result<SpillWriter, TaskError> {
        let path = self.dir.join(format!("spill-{}", self.next_number));
        self.next_number += 1;
        SpillWriter::create(path, self.partitions)
    }

    pub(crate) fn push(&mut self, spill: Spill) {
        self.spills.push(spill);
    }

    pub(crate) fn count(&self) -> usize {
        self.spills.len()
    }

    /// Leaves [`MAP_OUTPUT_FILE`] and its index: the only spill renamed, or all of them merged
    /// (in passes of at most [`MERGE_FACTOR`]).
    pub(crate) fn finish(mut self, control: &TaskControl) -> Result<(), TaskError> {
        if self.spills.is_empty() {
            let empty = self.writer()?.finish()?;
            self.spills.push(empty);
        }
        while self.spills.len() > MERGE_FACTOR {
            let mut merged = Vec::new();
            let mut rest = std::mem::take(&mut self.spills).into_iter().peekable();
            while rest.peek().is_some() {
                let group: Vec<Spill> = rest.by_ref().take(MERGE_FACTOR).collect();
                let writer = self.writer()?;
                merged.push(self.merge(group, writer, control)?);
            }
            self.spills = merged;
        }
        let output = self.dir.join(MAP_OUTPUT_FILE);
        let ranges = match <[Spill; 1]>::try_from(std::mem::take(&mut self.spills)) {
            Ok([only]) => {
                fs::rename(&only.path, &output).map_err(|e| spill_err(&output, e))?;
                only.ranges
            }
            Err(spills) => {
                let writer = SpillWriter::create(output, self.partitions)?;
                self.merge(spills, writer, control)?.ranges
            }
        };
        write_index(&self.dir, &ranges)
    }

    /// Merges `group` partition by partition into `out`, deleting the group's files. Each
    /// spill's runs are checked against the CRC32Cs they were written with, so a spill damaged
    /// on disk fails the map instead of reaching its output under a fresh checksum.
    fn merge(
        &self,
        group: Vec<Spill>,
        mut out: SpillWriter,
        control: &TaskControl,
    ) -> Result<Spill, TaskError> {
        let mut readers = Vec::with_capacity(group.len());
        for spill in &group {
            let file = File::open(&spill.path).map_err(|e| spill_err(&spill.path, e))?;
            readers.push(BufReader::with_capacity(MERGE_READ_BUFFER, file));
        }
        // Each spill's partitions lie back to back, so every reader moves strictly forward.
        for partition in 0..self.partitions {
            let sources = readers
                .iter_mut()
                .zip(&group)
                .map(|(reader, spill)| {
                    let run = spill.ranges[partition as usize];
                    RecordReader::checked(reader, run.length, run.crc32c)
                })
                .collect();
            let merger = Merger::new(sources).map_err(|e| TaskError::io("merging spills", e))?;
            merge_into(merger, self.combine, control, |key, value| {
                out.write(partition, key, value)
            })?;
        }
        let merged = out.finish()?;
        for spill in group {
            fs::remove_file(&spill.path).map_err(|e| spill_err(&spill.path, e))?;
        }
        Ok(merged)
    }
}

fn spill_err(path: &Path, e: std::io::Error) -> TaskError {
    TaskError::io(format!("spill file {}", path.display()), e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::index::load_index;
    use crate::task::MAP_INDEX_FILE;

    /// Two spills of three partitions each, records `<spill><n>` in order, in `dir`.
    fn two_spills(dir: &Path) -> Spills {
        let mut spills = Spills::new(dir, 3, MergeCombine::None);
        for spill in ["a", "b"] {
            let mut writer = spills.writer().unwrap();
            for partition in [0, 2] {
                for n in 0..50 {
                    let key = format!("{spill}{n:03}");
                    writer.write(partition, key.as_bytes(), b"value").unwrap();
                }
            }
            let spill = writer.finish().unwrap();
            spills.push(spill);
        }
        spills
    }

    #[test]
    fn the_merged_output_records_each_partitions_crc() {
        let dir = tempfile::tempdir().unwrap();
        two_spills(dir.path())
            .finish(&TaskControl::default())
            .unwrap();
        let out = fs::read(dir.path().join(MAP_OUTPUT_FILE)).unwrap();
        let index = load_index(dir.path()).unwrap();
        assert_eq!(index.partitions[1].length, 0);
        for segment in index.partitions {
            let start = segment.offset as usize;
            let run = &out[start..start + segment.length as usize];
            assert_eq!(crc32c::crc32c(run), segment.crc32c);
        }
    }

    #[test]
    fn a_spill_damaged_on_disk_fails_the_merge() {
        let dir = tempfile::tempdir().unwrap();
        let spills = two_spills(dir.path());
        let path = dir.path().join("spill-1");
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        fs::write(&path, bytes).unwrap();
        let error = spills.finish(&TaskControl::default()).unwrap_err();
        assert!(error.to_string().contains("CRC32C"), "{error}");
        assert!(!dir.path().join(MAP_INDEX_FILE).exists());
    }
}
