//! A reduce attempt around the task runtime: fetch this reducer's partition of every map's
//! output into local segment files, merge and reduce them with [`run_reduce`] on a blocking
//! thread, and upload the result as the attempt's part file. A slowed executor paces the
//! reducer after each fetched segment and before the upload (the merge and reduce run inside
//! the task runtime, which has no checkpoint to pause at).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use granary_client::protocol::{
    FetchFailureCause, MapOutputLocation, TaskAssignment, TaskCounters,
};

use super::attempt::{blocking, remove_dir, upload_part, AttemptContext, AttemptControl};
use crate::error::TaskError;
use crate::shuffle::{self, FetchError};
use crate::task::{run_reduce, SegmentFile};

/// Map outputs fetched at once by one reducer.
const PARALLEL_FETCHES: usize = 4;

pub(super) async fn run(
    ctx: &AttemptContext,
    assignment: &Arc<TaskAssignment>,
    map_outputs: &[MapOutputLocation],
    dir: &Path,
    control: &AttemptControl,
) -> Result<TaskCounters, TaskError> {
    let fetched = fetch_all(ctx, assignment, map_outputs, dir, control);
    let (segments, shuffle_bytes) = control.unless_killed(fetched).await?;
    let part = dir.join("part");
    let mut counters = {
        let (assignment, part, control) = (
            Arc::clone(assignment),
            part.clone(),
            Arc::clone(&control.task),
        );
        blocking(move || run_reduce(&assignment, &segments, &part, &control)).await?
    };
    counters.shuffle_bytes = shuffle_bytes;
    control.pace().await?;
    upload_part(ctx, assignment, &part, control).await?;
    remove_dir(dir.to_path_buf()).await;
    Ok(counters)
}

/// Fetches every map's partition, [`PARALLEL_FETCHES`] at a time. Returns the segment files in
/// map order, with the CRC32C each was checked against, and the bytes fetched; stops at the
/// first map whose output cannot be had. A slowed reducer fetches one segment at a time and
/// pauses between them: a fetch left unpolled in flight through a pause longer than the stall
/// timeout would count as stalled.
async fn fetch_all(
    ctx: &AttemptContext,
    assignment: &TaskAssignment,
    map_outputs: &[MapOutputLocation],
    dir: &Path,
    control: &AttemptControl,
) -> Result<(Vec<SegmentFile>, u64), TaskError> {
    let mut sources: Vec<&MapOutputLocation> = map_outputs.iter().collect();
    sources.sort_by_key(|source| source.map);
    let segments: Vec<PathBuf> = sources
        .iter()
        .map(|source| dir.join(format!("map-{:06}.segment", source.map)))
        .collect();
    // Built up front: a stream `map` closure over borrowed items trips the compiler's
    // higher-ranked lifetime check when the attempt's future must be `Send`.
    let fetches: Vec<_> = sources
        .iter()
        .zip(&segments)
        .enumerate()
        .map(|(i, (source, segment))| async move {
            fetch(ctx, assignment, source, segment)
                .await
                .map(|f| (i, f))
        })
        .collect();
    let parallel = if control.is_slowed() {
        1
    } else {
        PARALLEL_FETCHES
    };
    let mut fetches = futures_util::stream::iter(fetches).buffer_unordered(parallel);
    let mut crcs = vec![0; segments.len()];
    let mut fetched = 0;
    while let Some(result) = fetches.next().await {
        let (i, segment) = result?;
        fetched += segment.bytes;
        crcs[i] = segment.crc32c;
        control.pace().await?;
    }
    drop(fetches);
    let segments = segments
        .into_iter()
        .zip(crcs)
        .map(|(path, crc32c)| SegmentFile { path, crc32c })
        .collect();
    Ok((segments, fetched))
}

async fn fetch(
    ctx: &AttemptContext,
    assignment: &TaskAssignment,
    source: &MapOutputLocation,
    segment: &Path,
) -> Result<shuffle::Fetched, TaskError> {
    let partition = assignment.task.index;
    shuffle::fetch_partition(
        &ctx.shuffle,
        source.addr,
        &assignment.job,
        &source.attempt,
        partition,
        segment,
        ctx.stall_timeout,
    )
    .await
    .map_err(|e| match e {
        FetchError::Local { path, source: e } => {
            TaskError::io(format!("writing {}", path.display()), e)
        }
        remote => {
            let cause = match remote {
                FetchError::ChecksumMismatch { .. } => FetchFailureCause::ChecksumMismatch,
                _ => FetchFailureCause::Unavailable,
            };
            TaskError::FetchFailed {
                map: source.map,
                attempt: source.attempt.clone(),
                message: format!("{} ({}): {remote}", source.datanode, source.addr),
                cause,
            }
        }
    })
}
