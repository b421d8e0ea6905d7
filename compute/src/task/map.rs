//! A map attempt: the split's lines through the program's map into the sort buffer (or the
//! counting table), spilled and merged into one partitioned output; or, for a map-only job,
//! straight into a text file.

use std::fs;
use std::path::Path;

use granary_client::protocol::{
    add_user_counters, InputSplit, JobProgram, TaskAssignment, TaskCounters, TaskWork, UserCounters,
};

use super::builtin::BuiltinMap;
use super::collect::{CollectCounts, SortBuffer, SpillCombiner};
use super::command::CommandSpec;
use super::counting::CountTable;
use super::lines::{for_each_record, LineCounts};
use super::merge::MergeCombine;
use super::partition::KeyPartitioner;
use super::spill::Spills;
use super::streaming::{parse_output, run_mapper, task_env, StreamingCombiner};
use super::text::TextWriter;
use super::{MapInput, MapOutput, TaskControl};
use crate::error::TaskError;

/// A map-only attempt's text output in its work directory.
pub(crate) const MAP_TEXT_FILE: &str = "map.txt";

pub(crate) fn run(
    assignment: &TaskAssignment,
    input: MapInput,
    work_dir: &Path,
    control: &TaskControl,
) -> Result<(MapOutput, TaskCounters), TaskError> {
    let TaskWork::Map { split } = &assignment.work else {
        return Err(TaskError::Invalid(format!(
            "{} is not a map",
            assignment.attempt
        )));
    };
    fs::create_dir_all(work_dir)
        .map_err(|e| TaskError::io(format!("creating {}", work_dir.display()), e))?;
    let mut counters = TaskCounters::default();
    if assignment.reducers == 0 {
        let path = work_dir.join(MAP_TEXT_FILE);
        let (lines, written) =
            map_to_text(assignment, split, input, &path, control, &mut counters.user)?;
        add_lines(&mut counters, lines);
        counters.map_output_records = written;
        return Ok((MapOutput::Text(path), counters));
    }
    let sorted = SortedMap {
        assignment,
        split,
        work_dir,
        control,
        partitioner: KeyPartitioner::new(&assignment.partitioner, assignment.reducers)?,
    };
    let (lines, collected) = match &assignment.program {
        JobProgram::Builtin(builtin) => sorted.builtin(&BuiltinMap::new(builtin)?, input)?,
        JobProgram::Streaming {
            mapper, combiner, ..
        } => sorted.streaming(mapper, combiner.as_deref(), input, &mut counters.user)?,
    };
    add_lines(&mut counters, lines);
    add_collected(&mut counters, collected);
    Ok((MapOutput::Partitioned, counters))
}

/// A map whose output is partitioned and sorted for reducers.
struct SortedMap<'a> {
    assignment: &'a TaskAssignment,
    split: &'a InputSplit,
    work_dir: &'a Path,
    control: &'a TaskControl,
    partitioner: KeyPartitioner,
}

impl SortedMap<'_> {
    fn spills(&self, combine: MergeCombine) -> Spills {
        Spills::new(self.work_dir, self.assignment.reducers, combine)
    }

    fn builtin(
        self,
        map: &BuiltinMap,
        input: MapInput,
    ) -> Result<(LineCounts, CollectCounts), TaskError> {
        let sort_buffer = self.assignment.sort_buffer;
        if map.counts() {
            let spills = self.spills(MergeCombine::SumCounts);
            let mut table = CountTable::new(spills, self.partitioner, sort_buffer);
            let lines = for_each_record(self.split, input, self.control, |line| {
                map.map(line, |key| table.add(key))
            })?;
            return Ok((lines, table.finish(self.control)?));
        }
        let mut buffer = SortBuffer::new(self.spills(MergeCombine::None), sort_buffer, None);
        let lines = for_each_record(self.split, input, self.control, |line| {
            map.map(line, |key| {
                buffer.add(self.partitioner.partition(key), key, b"")
            })
        })?;
        Ok((lines, buffer.finish(self.control)?))
    }

    fn streaming(
        self,
        mapper: &str,
        combiner: Option<&str>,
        input: MapInput,
        user: &mut UserCounters,
    ) -> Result<(LineCounts, CollectCounts), TaskError> {
        let env = task_env(self.assignment);
        let mut combiner = combiner.map(|command| StreamingCombiner {
            spec: CommandSpec { command, env: &env },
            control: self.control,
            counters: UserCounters::new(),
        });
        let mut buffer = SortBuffer::new(
            self.spills(MergeCombine::None),
            self.assignment.sort_buffer,
            combiner.as_mut().map(|c| c as &mut dyn SpillCombiner),
        );
        let spec = CommandSpec {
            command: mapper,
            env: &env,
        };
        let (lines, ()) = run_mapper(&spec, self.split, input, self.control, user, |stdout| {
            parse_output(stdout, |key, value| {
                buffer.add(self.partitioner.partition(key), key, value)
            })
        })?;
        let collected = buffer.finish(self.control)?;
        if let Some(combiner) = combiner {
            add_user_counters(user, &combiner.counters);
        }
        Ok((lines, collected))
    }
}

/// A map-only job's map: text lines in input order. Returns the input lines and lines written.
fn map_to_text(
    assignment: &TaskAssignment,
    split: &InputSplit,
    input: MapInput,
    path: &Path,
    control: &TaskControl,
    user: &mut UserCounters,
) -> Result<(LineCounts, u64), TaskError> {
    let mut text = TextWriter::create(path)?;
    let lines = match &assignment.program {
        JobProgram::Builtin(builtin) => {
            let map = BuiltinMap::new(builtin)?;
            let counts = map.counts();
            for_each_record(split, input, control, |line| {
                map.map(line, |key| {
                    if counts {
                        text.write_count(key, 1)
                    } else {
                        text.write_record(key, b"")
                    }
                })
            })?
        }
        JobProgram::Streaming { mapper, .. } => {
            let env = task_env(assignment);
            let spec = CommandSpec {
                command: mapper,
                env: &env,
            };
            run_mapper(&spec, split, input, control, user, |stdout| {
                text.copy_from(stdout)
            })?
            .0
        }
    };
    Ok((lines, text.finish()?))
}

fn add_lines(counters: &mut TaskCounters, lines: LineCounts) {
    counters.map_input_records = lines.records;
    counters.map_input_bytes = lines.bytes;
}

fn add_collected(counters: &mut TaskCounters, collected: CollectCounts) {
    counters.map_output_records = collected.map_output_records;
    counters.combine_input_records = collected.combine_input_records;
    counters.combine_output_records = collected.combine_output_records;
}

#[cfg(test)]
mod tests;
