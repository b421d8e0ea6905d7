//! `GET /v1/shuffle/{job}/{attempt}/{partition}`: one partition of a finished map attempt's
//! output, streamed from disk with its exact `Content-Length`, a buffer at a time, and the
//! CRC32C its index recorded in [`SEGMENT_CRC32C_HEADER`]. The server does not check the bytes
//! itself: the reducer does, as they arrive, so the check spans disk, server and network.
//!
//! At most [`MAX_CONCURRENT_SERVES`] partitions are served at once (more wait their turn):
//! each reads through the runtime's blocking pool, which a datanode sizes for them.

use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{HeaderName, CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::StreamExt;
use granary_client::protocol::{routes, SEGMENT_CRC32C_HEADER};
use granary_client::server::{ApiError, Params, RouterExt};
use granary_client::{Error, ErrorKind};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::Semaphore;
use tokio_util::io::ReaderStream;

use crate::task::{MapOutputIndex, Segment, MAP_INDEX_FILE, MAP_OUTPUT_FILE};

/// Checked when compiled: `from_static` is evaluated here in a constant.
const CRC32C_HEADER: HeaderName = HeaderName::from_static(SEGMENT_CRC32C_HEADER);

/// Bytes read from disk per body chunk.
const READ_BUFFER: usize = 64 * 1024;

/// Partitions served at once. A serve has at most one blocking-pool read in flight
/// (`tokio::fs`), so this bounds the blocking threads the shuffle takes.
pub const MAX_CONCURRENT_SERVES: usize = 16;

struct Shuffle {
    work_dir: PathBuf,
    serves: Arc<Semaphore>,
}

/// Where one partition lies in an attempt's output file.
struct PartitionRange {
    /// `map.out`, opened and sized once.
    file: std::fs::File,
    offset: u64,
    length: u64,
    crc32c: u32,
}

/// The shuffle's route, serving the map output under `work_dir` (`<work_dir>/<job>/<attempt>/`).
pub fn router(work_dir: PathBuf) -> Router {
    Router::new()
        .endpoint(routes::ShufflePartition, serve_partition)
        .with_state(Arc::new(Shuffle {
            work_dir,
            serves: Arc::new(Semaphore::new(MAX_CONCURRENT_SERVES)),
        }))
}

async fn serve_partition(
    State(shuffle): State<Arc<Shuffle>>,
    // Both ids become path components: `Params` has parsed them before they touch the
    // filesystem.
    Params((job, attempt, partition)): Params<routes::ShufflePartition>,
) -> Result<Response, ApiError> {
    // Held until the body is sent or dropped.
    let serve = Arc::clone(&shuffle.serves)
        .acquire_owned()
        .await
        .map_err(|e| Error::internal(format!("shuffle serves: {e}")))?;
    let dir = shuffle.work_dir.join(&job.0).join(&attempt.0);
    let range = tokio::task::spawn_blocking(move || locate(&dir, partition))
        .await
        .map_err(|e| Error::internal(format!("locating a partition: {e}")))??;
    let mut file = tokio::fs::File::from_std(range.file);
    file.seek(SeekFrom::Start(range.offset))
        .await
        .map_err(|e| Error::io(format!("reading the output of {attempt}"), e))?;
    tracing::debug!(%attempt, partition, bytes = range.length, "serving a map output partition");
    let body =
        ReaderStream::with_capacity(file.take(range.length), READ_BUFFER).map(move |chunk| {
            let _serve = &serve;
            chunk
        });
    Ok((
        [
            (CONTENT_TYPE, "application/octet-stream".to_string()),
            (CONTENT_LENGTH, range.length.to_string()),
            (CRC32C_HEADER, range.crc32c.to_string()),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// The byte range of `partition` in the attempt's output, checked against the file's size.
fn locate(dir: &Path, partition: u32) -> Result<PartitionRange, Error> {
    let unknown = || {
        Error::not_found(format!(
            "no finished map output in {}",
            dir.file_name().unwrap_or_default().to_string_lossy()
        ))
    };
    // No index: the attempt has not finished (or never ran here).
    if !dir.join(MAP_INDEX_FILE).is_file() {
        return Err(unknown());
    }
    let index = MapOutputIndex::load(dir).map_err(|e| Error::new(ErrorKind::Io, e.to_string()))?;
    let &Segment {
        offset,
        length,
        crc32c,
    } = usize::try_from(partition)
        .ok()
        .and_then(|p| index.partitions.get(p))
        .ok_or_else(|| {
            Error::not_found(format!(
                "no partition {partition} (the map output has {})",
                index.partitions.len()
            ))
        })?;
    let path = dir.join(MAP_OUTPUT_FILE);
    // The output can go away at any time (its job ended): missing is unknown, as above.
    let file = std::fs::File::open(&path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => unknown(),
        _ => Error::io(path.display(), e),
    })?;
    let size = file
        .metadata()
        .map_err(|e| Error::io(path.display(), e))?
        .len();
    if offset.saturating_add(length) > size {
        return Err(Error::new(
            ErrorKind::Io,
            format!(
                "{} has {size} bytes; partition {partition} needs {offset}+{length}",
                path.display()
            ),
        ));
    }
    Ok(PartitionRange {
        file,
        offset,
        length,
        crc32c,
    })
}
