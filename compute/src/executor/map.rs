//! A map attempt around the task runtime: open the input file, hand the split to
//! [`run_map`] on a blocking thread, then leave partitioned output for the shuffle or upload a
//! map-only job's text as its part file. A slowed executor paces the map after each read of
//! its input, and pays what is left before the upload.

use std::path::Path;
use std::sync::Arc;

use granary_client::protocol::{InputSplit, TaskAssignment, TaskCounters};
use tokio::runtime::Handle;

use super::attempt::{blocking, remove_dir, upload_part, AttemptContext, AttemptControl};
use super::input::{extents, GranaryRanges, InputFile};
use crate::error::TaskError;
use crate::task::{run_map, MapOutput};

pub(super) async fn run(
    ctx: &AttemptContext,
    assignment: &Arc<TaskAssignment>,
    split: &InputSplit,
    dir: &Path,
    control: &AttemptControl,
) -> Result<TaskCounters, TaskError> {
    let file = control
        .unless_killed(async { Ok(ctx.granary.open(&split.file).await?) })
        .await?;
    let remote = GranaryRanges::new(file.clone(), Handle::current());
    let input = InputFile::new(extents(&file), Arc::clone(&ctx.blocks), Arc::new(remote));
    let mut map_input = input.map_input(split)?;
    map_input.head = control.input(map_input.head);
    let (output, mut counters) = {
        let (assignment, dir, control) = (
            Arc::clone(assignment),
            dir.to_path_buf(),
            Arc::clone(&control.task),
        );
        blocking(move || run_map(&assignment, map_input, &dir, &control)).await?
    };
    (counters.local_bytes_read, counters.remote_bytes_read) = input.bytes_read();
    control.pace().await?;
    if let MapOutput::Text(text) = output {
        upload_part(ctx, assignment, &text, control).await?;
        remove_dir(dir.to_path_buf()).await;
    }
    Ok(counters)
}
