//! Writing files: a put creates the file and writes it block by block (each through a
//! pipeline, rebuilt without a failed node when one fails), an append opens an existing file
//! and continues its last block first; both end with `complete`. An empty file is one create
//! that completes it. [`FileWriter`] is the open-ended form, with hflush.
//!
//! - `writer`: the open file (lease, blocks written, the last block), new blocks;
//! - `segment`: bytes continuing the last block in place;
//! - `frames`: one pipeline attempt;
//! - `lease`: renewing the leases of open writers;
//! - `stream`: [`FileWriter`];
//! - `clone`: copies inside the cluster, block by block cloned by the datanodes or streamed.

pub(crate) mod clone;
mod frames;
pub(crate) mod lease;
mod segment;
mod stream;
mod writer;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::error::{Error, ErrorKind, Result};
use crate::fs::Granary;
use crate::ids::{LeaseHolder, RequestId};
use crate::path::FsPath;
use crate::protocol::*;
pub use clone::{CopyOptions, CopySummary};
pub use stream::FileWriter;
use writer::Writer;

/// Options of a put; `None` means the cluster default.
#[derive(Clone, Debug, Default)]
pub struct PutOptions {
    pub replication: Option<u16>,
    pub block_size: Option<u64>,
    /// Replace an existing file.
    pub overwrite: bool,
    /// Create missing parent directories.
    pub create_parents: bool,
}

/// Called with the number of bytes of the file sent so far (it goes back when a block is re-sent).
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// What a put did.
#[derive(Clone, Debug)]
pub struct PutSummary {
    pub status: FileStatus,
    pub blocks: usize,
    /// The fewest replicas any block was acknowledged on (the replication when there are no
    /// blocks).
    pub min_replicas: usize,
    /// Blocks that had to be re-sent on a new pipeline.
    pub pipeline_recoveries: u32,
}

impl PutSummary {
    /// True when some block has fewer replicas than the file's replication.
    pub fn under_replicated(&self) -> bool {
        self.min_replicas < usize::from(self.status.replication)
    }
}

/// A byte range of a local file (the source, or a spool) that a block or segment is sent
/// from, and re-sent from after a failure.
#[derive(Clone)]
pub(crate) struct BlockSource {
    file: Arc<File>,
    offset: u64,
    length: u64,
    /// Where the range starts among the bytes of this write, for progress.
    progress_base: u64,
}

impl BlockSource {
    fn whole(file: Arc<File>, length: u64, progress_base: u64) -> Self {
        BlockSource {
            file,
            offset: 0,
            length,
            progress_base,
        }
    }

    /// The first `n` bytes.
    fn take(&self, n: u64) -> Self {
        BlockSource {
            length: n.min(self.length),
            ..self.clone()
        }
    }

    /// All but the first `n` bytes.
    fn skip(&self, n: u64) -> Self {
        let n = n.min(self.length);
        BlockSource {
            file: self.file.clone(),
            offset: self.offset + n,
            length: self.length - n,
            progress_base: self.progress_base + n,
        }
    }
}

pub(crate) async fn put_file(
    fs: &Granary,
    local: &Path,
    dst: &FsPath,
    opts: &PutOptions,
    progress: Option<Progress>,
) -> Result<PutSummary> {
    let (file, length) = match open_local(local)? {
        Local::Regular(file, length) => (file, length),
        // A pipe, FIFO or device reports no length to plan blocks by: stream it instead.
        Local::Stream(file) => {
            let reader = tokio::fs::File::from_std(file);
            return put_reader(fs, reader, dst, opts, progress).await;
        }
    };
    if length == 0 {
        return put_empty(fs, dst, opts).await;
    }
    let created = fs
        .nn
        .create(&create_request(dst, opts, &fs.holder, false))
        .await?;
    let mut writer = Writer::created(fs, dst, &created, progress);
    let written = writer
        .write_range(BlockSource::whole(file, length, 0))
        .await;
    writer.close(written).await
}

/// Appends a local file to `dst`.
pub(crate) async fn append_file(
    fs: &Granary,
    local: &Path,
    dst: &FsPath,
    progress: Option<Progress>,
) -> Result<PutSummary> {
    let (file, length) = match open_local(local)? {
        Local::Regular(file, length) => (file, length),
        Local::Stream(file) => {
            let reader = tokio::fs::File::from_std(file);
            return append_reader(fs, reader, dst, progress).await;
        }
    };
    let mut writer = Writer::append(fs, dst, progress).await?;
    let written = writer
        .write_range(BlockSource::whole(file, length, 0))
        .await;
    writer.close(written).await
}

/// A local source, opened once (a FIFO's writer may already have sent bytes that a second
/// open would lose).
enum Local {
    /// A regular file and its length.
    Regular(Arc<File>, u64),
    /// A pipe, FIFO or device: read to its end.
    Stream(File),
}

fn open_local(local: &Path) -> Result<Local> {
    let file = File::open(local).map_err(|e| Error::io(local.display(), e))?;
    let meta = file.metadata().map_err(|e| Error::io(local.display(), e))?;
    if meta.is_dir() {
        return Err(Error::new(
            ErrorKind::IsADirectory,
            format!("{}: is a directory", local.display()),
        ));
    }
    Ok(if meta.is_file() {
        Local::Regular(Arc::new(file), meta.len())
    } else {
        Local::Stream(file)
    })
}

/// Puts a stream. Each block is spooled to a local temporary file first, so a block can be
/// re-sent after a pipeline failure without holding it in memory.
pub(crate) async fn put_reader<R: AsyncRead + Unpin>(
    fs: &Granary,
    mut reader: R,
    dst: &FsPath,
    opts: &PutOptions,
    progress: Option<Progress>,
) -> Result<PutSummary> {
    // A first read tells an empty stream, which needs no writer at all; what it read goes
    // first into the spool.
    let mut head = vec![0u8; 8192];
    let n = reader
        .read(&mut head)
        .await
        .map_err(|e| Error::io("reading input", e))?;
    if n == 0 {
        return put_empty(fs, dst, opts).await;
    }
    let reader = (&head[..n]).chain(reader);
    let created = fs
        .nn
        .create(&create_request(dst, opts, &fs.holder, false))
        .await?;
    let writer = Writer::created(fs, dst, &created, progress);
    write_stream(writer, reader).await
}

/// Appends a stream to `dst`, spooled as [`put_reader`] does.
pub(crate) async fn append_reader<R: AsyncRead + Unpin>(
    fs: &Granary,
    reader: R,
    dst: &FsPath,
    progress: Option<Progress>,
) -> Result<PutSummary> {
    let writer = Writer::append(fs, dst, progress).await?;
    write_stream(writer, reader).await
}

/// Writes a stream through an open writer, one block's room at a time, and closes the file.
async fn write_stream<R: AsyncRead + Unpin>(
    mut writer: Writer<'_>,
    mut reader: R,
) -> Result<PutSummary> {
    let written = spool_through(&mut writer, &mut reader).await;
    writer.close(written).await
}

async fn spool_through<R: AsyncRead + Unpin>(
    writer: &mut Writer<'_>,
    reader: &mut R,
) -> Result<()> {
    let spool = Arc::new(tempfile::tempfile().map_err(|e| Error::io("creating spool file", e))?);
    let mut written = 0;
    loop {
        let room = writer.room();
        let spooled = spool_block(reader, &spool, room).await?;
        if spooled == 0 {
            return Ok(());
        }
        writer
            .write_range(BlockSource::whole(spool.clone(), spooled, written))
            .await?;
        written += spooled;
        if spooled < room {
            return Ok(());
        }
    }
}

/// Creates `dst` empty and complete in one namenode call.
async fn put_empty(fs: &Granary, dst: &FsPath, opts: &PutOptions) -> Result<PutSummary> {
    let created = fs
        .nn
        .create(&create_request(dst, opts, &fs.holder, true))
        .await?;
    match created.status {
        Some(status) => Ok(PutSummary {
            min_replicas: usize::from(status.replication),
            status,
            blocks: 0,
            pipeline_recoveries: 0,
        }),
        // A namenode older than `CreateRequest::complete` started it under construction.
        None => {
            let mut writer = Writer::created(fs, dst, &created, None);
            writer.close(Ok(())).await
        }
    }
}

fn create_request(
    path: &FsPath,
    opts: &PutOptions,
    holder: &LeaseHolder,
    complete: bool,
) -> CreateRequest {
    CreateRequest {
        path: path.clone(),
        replication: opts.replication,
        block_size: opts.block_size,
        overwrite: opts.overwrite,
        create_parents: opts.create_parents,
        complete,
        permission: None,
        holder: holder.clone(),
        request_id: RequestId::new(),
    }
}

/// Copies up to `limit` bytes of `reader` into `spool` (from its start); returns how many.
async fn spool_block<R: AsyncRead + Unpin>(
    reader: &mut R,
    spool: &Arc<File>,
    limit: u64,
) -> Result<u64> {
    let mut written = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    while written < limit {
        let want = buf.len().min((limit - written) as usize);
        let n = reader
            .read(&mut buf[..want])
            .await
            .map_err(|e| Error::io("reading input", e))?;
        if n == 0 {
            break;
        }
        spool
            .write_all_at(&buf[..n], written)
            .map_err(|e| Error::io("writing spool file", e))?;
        written += n as u64;
    }
    Ok(written)
}

#[cfg(test)]
mod tests;
