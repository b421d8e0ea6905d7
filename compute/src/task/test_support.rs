//! Builders shared by the task runtime's tests.

use std::io::{self, Cursor, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use granary_client::ids::{BlockId, DatanodeId};
use granary_client::path::FsPath;
use granary_client::protocol::{
    InputSplit, JobId, JobProgram, MapOutputLocation, Partitioner, TaskAssignment, TaskCounters,
    TaskId, TaskKind, TaskWork,
};

use super::{
    run_map, run_reduce, InputReader, MapInput, MapOutput, MapOutputIndex, SegmentFile,
    TaskControl, MAP_OUTPUT_FILE,
};
use crate::error::TaskError;

pub(crate) fn split(file_length: u64, offset: u64, length: u64) -> InputSplit {
    InputSplit {
        file: FsPath::parse("/in/data.txt").unwrap(),
        file_length,
        offset,
        length,
        block: BlockId(7),
        locations: vec![DatanodeId("dn1".into())],
    }
}

/// The split `offset..offset + length` of `data`, as the executor would hand it in;
/// `tail_opened` records whether the tail was asked for.
pub(crate) fn map_input(
    data: &[u8],
    offset: u64,
    length: u64,
    tail_opened: Arc<AtomicBool>,
) -> MapInput {
    let end = (offset + length) as usize;
    let head = data[offset.max(1) as usize - 1..end].to_vec();
    let tail = data[end..].to_vec();
    MapInput {
        head: Box::new(Cursor::new(head)),
        open_tail: Box::new(move || {
            tail_opened.store(true, Ordering::Relaxed);
            Ok(Box::new(Cursor::new(tail)) as InputReader)
        }),
    }
}

/// A whole file as one split.
pub(crate) fn whole_file(data: &[u8]) -> MapInput {
    map_input(data, 0, data.len() as u64, Arc::new(AtomicBool::new(false)))
}

pub(crate) fn job() -> JobId {
    JobId::parse("job_1700000000000_0001").unwrap()
}

pub(crate) fn map_assignment(
    program: JobProgram,
    reducers: u32,
    sort_buffer: u64,
    data_len: u64,
) -> TaskAssignment {
    let task = TaskId {
        kind: TaskKind::Map,
        index: 3,
    };
    TaskAssignment {
        submitter: None,
        job: job(),
        task,
        attempt: job().attempt_id(task, 0),
        program,
        reducers,
        partitioner: Partitioner::Hash,
        sort_buffer,
        top: None,
        output: FsPath::parse("/out").unwrap(),
        output_replication: None,
        work: TaskWork::Map {
            split: split(data_len, 0, data_len),
        },
    }
}

pub(crate) fn reduce_assignment(program: JobProgram, top: Option<u32>) -> TaskAssignment {
    let task = TaskId {
        kind: TaskKind::Reduce,
        index: 0,
    };
    TaskAssignment {
        submitter: None,
        job: job(),
        task,
        attempt: job().attempt_id(task, 0),
        program,
        reducers: 1,
        partitioner: Partitioner::Hash,
        sort_buffer: 1 << 20,
        top,
        output: FsPath::parse("/out").unwrap(),
        output_replication: None,
        work: TaskWork::Reduce {
            map_outputs: Vec::<MapOutputLocation>::new(),
        },
    }
}

pub(crate) fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

/// A reader that fails, for error paths.
pub(crate) struct Failing;

impl Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::other("disk on fire"))
    }
}

/// A whole job run in one process: maps over `split_size` splits of `data`, then each reducer
/// over its partition of every map's output. Returns the part files and the summed counters.
pub(crate) struct LocalJob {
    pub program: JobProgram,
    pub reducers: u32,
    pub partitioner: Partitioner,
    pub sort_buffer: u64,
    pub top: Option<u32>,
    pub split_size: u64,
}

impl LocalJob {
    pub(crate) fn new(program: JobProgram, reducers: u32) -> Self {
        LocalJob {
            program,
            reducers,
            partitioner: Partitioner::Hash,
            sort_buffer: 1 << 20,
            top: None,
            split_size: 64 << 20,
        }
    }

    pub(crate) fn run(&self, data: &[u8]) -> Result<(Vec<Vec<u8>>, TaskCounters), TaskError> {
        let dir = tempfile::tempdir().unwrap();
        let control = TaskControl::default();
        let mut counters = TaskCounters::default();
        let mut map_dirs = Vec::new();
        let mut parts = Vec::new();
        let len = data.len() as u64;
        let mut offset = 0;
        while offset < len || (offset == 0 && len == 0) {
            let length = self.split_size.min(len - offset);
            let mut assignment =
                map_assignment(self.program.clone(), self.reducers, self.sort_buffer, len);
            assignment.partitioner = self.partitioner.clone();
            assignment.work = TaskWork::Map {
                split: split(len, offset, length),
            };
            let work = dir.path().join(format!("map-{offset}"));
            let input = map_input(data, offset, length, Arc::new(AtomicBool::new(false)));
            let (output, map_counters) = run_map(&assignment, input, &work, &control)?;
            counters.add(&map_counters);
            match output {
                MapOutput::Text(path) => parts.push(read(&path)),
                MapOutput::Partitioned => map_dirs.push(work),
            }
            offset += length.max(1);
        }
        for reducer in 0..self.reducers {
            let mut segments = Vec::new();
            for (m, map_dir) in map_dirs.iter().enumerate() {
                let index = MapOutputIndex::load(map_dir)?.partitions[reducer as usize];
                let bytes = read(&map_dir.join(MAP_OUTPUT_FILE));
                let (start, end) = (
                    index.offset as usize,
                    (index.offset + index.length) as usize,
                );
                let run = &bytes[start..end];
                // Every map run by these tests checks the checksums its index recorded.
                assert_eq!(
                    crc32c::crc32c(run),
                    index.crc32c,
                    "map {m} partition {reducer}"
                );
                let path = dir.path().join(format!("r{reducer}-m{m}"));
                std::fs::write(&path, run).unwrap();
                segments.push(SegmentFile {
                    path,
                    crc32c: index.crc32c,
                });
            }
            let mut assignment = reduce_assignment(self.program.clone(), self.top);
            assignment.reducers = self.reducers;
            assignment.task.index = reducer;
            let output = dir.path().join(format!("part-r-{reducer}"));
            counters.add(&run_reduce(&assignment, &segments, &output, &control)?);
            parts.push(read(&output));
        }
        Ok((parts, counters))
    }
}

/// Lines of `bytes`, for comparing text output.
pub(crate) fn lines_of(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::to_string)
        .collect()
}
