//! A map attempt around the task runtime: open the input file, hand the split to
//! [`run_map`] on a blocking thread, then leave partitioned output for the shuffle or upload a
//! map-only job's text as its part file. A slowed executor paces the map after each read of
//! its input, and pays what is left before the upload.

use std::path::Path;
use std::sync::Arc;

use granary_client::protocol::{InputSplit, TaskAssignment, TaskCounters};
use tokio::runtime::Handle;

use super::attempt::{blocking, remove_dir, unless_killed, upload_part, AttemptContext};
use super::input::{extents, GranaryRanges, InputFile};
use super::slowdown::Slowdown;
use crate::error::TaskError;
use crate::task::{run_map, MapOutput, TaskControl};

pub(super) async fn run(
    ctx: &AttemptContext,
    assignment: &Arc<TaskAssignment>,
    split: &InputSplit,
    dir: &Path,
    control: &Arc<TaskControl>,
    slowdown: &Arc<Slowdown>,
) -> Result<TaskCounters, TaskError> {
    let file = unless_killed(control, async { Ok(ctx.granary.open(&split.file).await?) }).await?;
    let remote = GranaryRanges::new(file.clone(), Handle::current());
    let input = InputFile::new(extents(&file), Arc::clone(&ctx.blocks), Arc::new(remote));
    let mut map_input = input.map_input(split)?;
    if slowdown.is_on() {
        map_input.head = slowdown.reader(map_input.head, Arc::clone(control));
    }
    let (output, mut counters) = {
        let (assignment, dir, control) = (
            Arc::clone(assignment),
            dir.to_path_buf(),
            Arc::clone(control),
        );
        blocking(move || run_map(&assignment, map_input, &dir, &control)).await?
    };
    (counters.local_bytes_read, counters.remote_bytes_read) = input.bytes_read();
    slowdown.pace(control).await?;
    if let MapOutput::Text(text) = output {
        upload_part(ctx, assignment, &text, control).await?;
        remove_dir(dir.to_path_buf()).await;
    }
    Ok(counters)
}
