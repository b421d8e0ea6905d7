//! Turns a submitted spec into a plan: checks it, finds its input files, makes one map split
//! per block, chooses the reducer count and the partitioner. Nothing is created here, so a job
//! that is refused leaves no trace.

mod inputs;
mod sample;
mod validate;

use granary_client::protocol::{
    Builtin, FileKind, FileStatus, InputSplit, JobProgram, JobSpec, KeyBytes, Partitioner,
};
use granary_client::{Error, ErrorKind};

use crate::tracker::namespace::TrackerNamespace;

pub use validate::{validate, JobSettings};

/// What a job will run: its splits (map `i` reads split `i`), reducers and partitioner.
#[derive(Clone, Debug, PartialEq)]
pub struct JobPlan {
    pub splits: Vec<InputSplit>,
    pub reducers: u32,
    pub partitioner: Partitioner,
    pub settings: JobSettings,
}

/// Plans a validated spec. `live_executors` sets the default reducer count.
pub async fn plan(
    ns: &dyn TrackerNamespace,
    spec: &JobSpec,
    settings: JobSettings,
    live_executors: u32,
) -> Result<JobPlan, Error> {
    if let Some(existing) = ns.try_stat(&spec.output).await? {
        let message = match existing.kind {
            FileKind::Directory => format!("output directory already exists: {}", spec.output),
            FileKind::File => format!("output path already exists as a file: {}", spec.output),
        };
        return Err(Error::new(ErrorKind::AlreadyExists, message));
    }
    let files = inputs::expand(ns, &spec.inputs).await?;
    let mut splits = Vec::new();
    for file in files.iter().filter(|f| f.length > 0) {
        splits.extend(file_splits(ns, file).await?);
    }
    let reducers = default_reducers(spec, live_executors);
    let partitioner = match &spec.program {
        JobProgram::Builtin(Builtin::Sort) => Partitioner::Range {
            boundaries: sort_boundaries(ns, &files, reducers).await?,
        },
        _ => Partitioner::Hash,
    };
    Ok(JobPlan {
        splits,
        reducers,
        partitioner,
        settings,
    })
}

/// The spec's reducer count, else none for `grep` (its output needs no grouping), else one
/// per live executor.
fn default_reducers(spec: &JobSpec, live_executors: u32) -> u32 {
    match (&spec.reducers, &spec.program) {
        (Some(reducers), _) => *reducers,
        (None, JobProgram::Builtin(Builtin::Grep { .. })) => 0,
        (None, _) => live_executors.max(1),
    }
}

/// One split per block, with the datanodes holding it now.
async fn file_splits(
    ns: &dyn TrackerNamespace,
    file: &FileStatus,
) -> Result<Vec<InputSplit>, Error> {
    let located = ns.locate(&file.path).await?;
    Ok(located
        .blocks
        .into_iter()
        .map(|block| InputSplit {
            file: file.path.clone(),
            file_length: located.status.length,
            offset: block.offset,
            length: block.length,
            block: block.id,
            locations: block.locations.into_iter().map(|dn| dn.id).collect(),
        })
        .collect())
}

/// Cut points between the reducers' key ranges; none are needed for one reducer or none.
async fn sort_boundaries(
    ns: &dyn TrackerNamespace,
    files: &[FileStatus],
    reducers: u32,
) -> Result<Vec<KeyBytes>, Error> {
    if reducers <= 1 {
        return Ok(Vec::new());
    }
    let sample = sample::sample_lines(ns, files).await?;
    Ok(crate::task::boundaries_from_sample(sample, reducers))
}

#[cfg(test)]
mod tests {
    use granary_client::FsPath;

    use super::*;

    #[test]
    fn reducers_default_to_the_live_executors_and_grep_is_map_only() {
        let mut spec = JobSpec::new(
            vec!["/in".into()],
            FsPath::parse("/out").unwrap(),
            JobProgram::Builtin(Builtin::Wordcount),
        );
        assert_eq!(default_reducers(&spec, 3), 3);
        assert_eq!(default_reducers(&spec, 0), 1);
        spec.program = JobProgram::Builtin(Builtin::Grep {
            pattern: "x".into(),
        });
        assert_eq!(default_reducers(&spec, 3), 0);
        spec.reducers = Some(2);
        assert_eq!(default_reducers(&spec, 3), 2);
    }
}
