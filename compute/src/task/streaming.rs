//! Hadoop Streaming: the mapper, combiner and reducer are shell commands that read records as
//! lines on stdin and write `key<TAB>value` lines on stdout.

use std::io::{BufRead, Read, Write};

use granary_client::protocol::{InputSplit, TaskAssignment, TaskWork, UserCounters};

use super::collect::{RecordArena, SortedRun, SpillCombiner};
use super::command::{self, CommandSpec};
use super::lines::{for_each_record, strip_terminator, LineCounts, LineScanner};
use super::merge::drain;
use super::merge::Merger;
use super::progress::Progress;
use super::{MapInput, TaskControl};
use crate::error::TaskError;

const OUTPUT_BUFFER: usize = 256 << 10;

/// The environment Hadoop gives streaming commands, under the same names.
pub(crate) fn task_env(assignment: &TaskAssignment) -> Vec<(String, String)> {
    let job = &assignment.job.0;
    let digits = job.strip_prefix("job_").unwrap_or(job);
    let mut env = vec![
        ("mapreduce_job_id".to_string(), job.clone()),
        (
            "mapreduce_task_id".to_string(),
            format!("task_{digits}_{}", assignment.task),
        ),
        (
            "mapreduce_task_attempt_id".to_string(),
            assignment.attempt.0.clone(),
        ),
        (
            "mapreduce_task_partition".to_string(),
            assignment.task.index.to_string(),
        ),
    ];
    if let Some(user) = &assignment.submitter {
        env.push(("mapreduce_job_user_name".into(), user.clone()));
    }
    if let TaskWork::Map { split } = &assignment.work {
        env.push(("mapreduce_map_input_file".into(), split.file.to_string()));
        env.push(("mapreduce_map_input_start".into(), split.offset.to_string()));
        env.push((
            "mapreduce_map_input_length".into(),
            split.length.to_string(),
        ));
    }
    env
}

/// A `key<TAB>value` line split at its first tab; without a tab, all key.
pub(crate) fn parse_record(line: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr(b'\t', line) {
        Some(tab) => (&line[..tab], &line[tab + 1..]),
        None => (line, &[]),
    }
}

fn write_record(out: &mut dyn Write, key: &[u8], value: &[u8]) -> std::io::Result<()> {
    out.write_all(key)?;
    if !value.is_empty() {
        out.write_all(b"\t")?;
        out.write_all(value)?;
    }
    out.write_all(b"\n")
}

fn input_err(e: std::io::Error) -> TaskError {
    TaskError::io("writing command input", e)
}

/// Calls `on_record` with each record of a command's output lines.
pub(crate) fn parse_output(
    output: &mut dyn Read,
    mut on_record: impl FnMut(&[u8], &[u8]) -> Result<(), TaskError>,
) -> Result<(), TaskError> {
    let read_err = |e| TaskError::io("reading command output", e);
    let mut scanner = LineScanner::new(output, OUTPUT_BUFFER);
    while let Some(line) = scanner.next_line().map_err(read_err)? {
        let (key, value) = parse_record(strip_terminator(line));
        on_record(key, value)?;
    }
    if !scanner.pending().is_empty() {
        let (key, value) = parse_record(scanner.pending());
        on_record(key, value)?;
    }
    Ok(())
}

/// Runs the mapper over the split. Its output goes to `consume`: parsed into records, or
/// copied as it is for a map-only job.
pub(crate) fn run_mapper<U>(
    spec: &CommandSpec<'_>,
    split: &InputSplit,
    input: MapInput,
    control: &TaskControl,
    counters: &mut UserCounters,
    consume: impl FnOnce(&mut dyn Read) -> Result<U, TaskError>,
) -> Result<(LineCounts, U), TaskError> {
    let feed = |stdin: &mut dyn Write| {
        for_each_record(split, input, control, |record| {
            stdin.write_all(record).map_err(input_err)?;
            stdin.write_all(b"\n").map_err(input_err)
        })
    };
    command::run(spec, control, counters, feed, consume)
}

/// The `--combiner` command, run on each partition of each spill.
pub(crate) struct StreamingCombiner<'a> {
    pub spec: CommandSpec<'a>,
    pub control: &'a TaskControl,
    pub counters: UserCounters,
}

impl SpillCombiner for StreamingCombiner<'_> {
    fn combine(
        &mut self,
        partition: u32,
        run: SortedRun<'_>,
        out: &mut RecordArena,
    ) -> Result<(), TaskError> {
        let feed = |stdin: &mut dyn Write| {
            for (key, value) in run.records() {
                write_record(stdin, key, value).map_err(input_err)?;
            }
            Ok(())
        };
        let consume = |stdout: &mut dyn Read| {
            parse_output(stdout, |key, value| out.push(partition, key, value))
        };
        command::run(&self.spec, self.control, &mut self.counters, feed, consume)?;
        Ok(())
    }
}

/// Feeds the merged records to the reducer as lines, sorted by key; the reducer's output goes
/// to `consume`. Returns the distinct keys fed, and what `consume` returned.
pub(crate) fn run_reducer<R: BufRead + Send, U>(
    spec: &CommandSpec<'_>,
    merger: Merger<R>,
    mut progress: Progress<'_>,
    control: &TaskControl,
    counters: &mut UserCounters,
    consume: impl FnOnce(&mut dyn Read) -> Result<U, TaskError>,
) -> Result<(u64, U), TaskError> {
    let feed = move |stdin: &mut dyn Write| {
        drain(merger, &mut progress, |key, value| {
            write_record(stdin, key, value).map_err(input_err)
        })
    };
    command::run(spec, control, counters, feed, consume)
}

#[cfg(test)]
mod tests;
