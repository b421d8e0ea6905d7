//! A reduce attempt: the maps' segments merged (in passes when there are many), grouped by
//! key, reduced, and written as the part file's text. Every run is read against its CRC32C:
//! the maps' for the fetched segments, the pass's own for intermediate merges.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use granary_client::protocol::{Builtin, JobProgram, TaskAssignment, TaskCounters, TaskWork};

use super::builtin::reduce_counts;
use super::command::CommandSpec;
use super::format::{RecordReader, RecordWriter};
use super::merge::{
    drain, merge_into, Groups, MergeCombine, Merger, MERGE_FACTOR, MERGE_READ_BUFFER,
};
use super::progress::Progress;
use super::streaming::{run_reducer, task_env};
use super::text::TextWriter;
use super::WRITE_BUFFER;
use super::{SegmentFile, TaskControl};
use crate::error::TaskError;

/// What the job's reduce does.
enum Reduce<'a> {
    /// Adds up the counts of each key.
    SumCounts,
    /// One output line per record.
    Identity,
    /// A streaming reducer command.
    Command(&'a str),
}

impl<'a> Reduce<'a> {
    fn of(program: &'a JobProgram) -> Self {
        match program {
            JobProgram::Builtin(Builtin::Wordcount | Builtin::CountField { .. }) => {
                Reduce::SumCounts
            }
            JobProgram::Builtin(Builtin::Grep { .. } | Builtin::Sort) => Reduce::Identity,
            JobProgram::Streaming {
                reducer: Some(command),
                ..
            } => Reduce::Command(command),
            JobProgram::Streaming { reducer: None, .. } => Reduce::Identity,
        }
    }
}

pub(crate) fn run(
    assignment: &TaskAssignment,
    segments: &[SegmentFile],
    output: &Path,
    control: &TaskControl,
) -> Result<TaskCounters, TaskError> {
    if !matches!(assignment.work, TaskWork::Reduce { .. }) {
        return Err(TaskError::Invalid(format!(
            "{} is not a reduce",
            assignment.attempt
        )));
    }
    let reduce = Reduce::of(&assignment.program);
    let combine = match reduce {
        Reduce::SumCounts => MergeCombine::SumCounts,
        Reduce::Identity | Reduce::Command(_) => MergeCombine::None,
    };
    let mut total = 0;
    for segment in segments {
        let path = &segment.path;
        total += fs::metadata(path).map_err(|e| file_err(path, e))?.len();
    }
    let mut progress = Progress::new(control, total);
    let mut temps = MergeTemps::new(output);
    let runs = premerge(segments.to_vec(), &mut temps, combine, control)?;
    let merger = open_merger(&runs)?;
    let mut text = TextWriter::create(output)?;
    let mut counters = TaskCounters::default();
    counters.reduce_input_groups = match reduce {
        Reduce::SumCounts => {
            let mut groups = Groups::new(merger);
            reduce_counts(&mut groups, assignment.top, &mut text, |done| {
                progress.at(done)
            })?
        }
        Reduce::Identity => drain(merger, &mut progress, |key, value| {
            text.write_record(key, value)
        })?,
        Reduce::Command(command) => {
            let env = task_env(assignment);
            let spec = CommandSpec { command, env: &env };
            let consume = |stdout: &mut dyn std::io::Read| text.copy_from(stdout);
            run_reducer(
                &spec,
                merger,
                progress,
                control,
                &mut counters.user,
                consume,
            )?
            .0
        }
    };
    counters.reduce_output_records = text.finish()?;
    control.check()?;
    Ok(counters)
}

fn open_merger(runs: &[SegmentFile]) -> Result<Merger<BufReader<File>>, TaskError> {
    let mut sources = Vec::with_capacity(runs.len());
    for run in runs {
        let path = &run.path;
        let file = File::open(path).map_err(|e| file_err(path, e))?;
        let len = file.metadata().map_err(|e| file_err(path, e))?.len();
        sources.push(RecordReader::checked(
            BufReader::with_capacity(MERGE_READ_BUFFER, file),
            len,
            run.crc32c,
        ));
    }
    Merger::new(sources).map_err(|e| TaskError::io("reading map output", e))
}

/// Merges runs in consecutive groups until at most [`MERGE_FACTOR`] are left; consecutive, so
/// equal keys keep their map order.
fn premerge(
    mut runs: Vec<SegmentFile>,
    temps: &mut MergeTemps,
    combine: MergeCombine,
    control: &TaskControl,
) -> Result<Vec<SegmentFile>, TaskError> {
    let mut inputs_are_temps = false;
    while runs.len() > MERGE_FACTOR {
        let mut merged = Vec::new();
        for group in runs.chunks(MERGE_FACTOR) {
            let path = temps.next_path();
            let file = File::create(&path).map_err(|e| file_err(&path, e))?;
            let mut out = RecordWriter::new(BufWriter::with_capacity(WRITE_BUFFER, file));
            merge_into(open_merger(group)?, combine, control, |key, value| {
                out.write(key, value).map_err(|e| file_err(&path, e))
            })?;
            let crc32c = out.take_crc();
            out.into_inner().flush().map_err(|e| file_err(&path, e))?;
            merged.push(SegmentFile { path, crc32c });
            if inputs_are_temps {
                let done: Vec<PathBuf> = group.iter().map(|run| run.path.clone()).collect();
                temps.remove(&done);
            }
        }
        runs = merged;
        inputs_are_temps = true;
    }
    Ok(runs)
}

/// Intermediate merge files beside the output, removed when the attempt ends.
struct MergeTemps {
    base: PathBuf,
    created: u32,
    files: Vec<PathBuf>,
}

impl MergeTemps {
    fn new(output: &Path) -> Self {
        MergeTemps {
            base: output.to_path_buf(),
            created: 0,
            files: Vec::new(),
        }
    }

    fn next_path(&mut self) -> PathBuf {
        let mut name = self.base.clone().into_os_string();
        name.push(format!(".merge-{}", self.created));
        self.created += 1;
        let path = PathBuf::from(name);
        self.files.push(path.clone());
        path
    }

    /// Removes files that are merged into others already.
    fn remove(&mut self, done: &[PathBuf]) {
        for file in done {
            // Best effort: the executor clears the attempt's directory anyway.
            let _ = fs::remove_file(file);
        }
        self.files.retain(|f| !done.contains(f));
    }
}

impl Drop for MergeTemps {
    fn drop(&mut self) {
        let files = std::mem::take(&mut self.files);
        self.remove(&files);
    }
}

fn file_err(path: &Path, e: std::io::Error) -> TaskError {
    TaskError::io(path.display().to_string(), e)
}

#[cfg(test)]
mod tests;
