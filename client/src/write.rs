//! The file writer: create → for each block, a pipeline write (rebuilt without a failed node
//! when one fails) → complete; an empty file is one create that completes it.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::checksum::{BlockDigester, Digest, CHUNK_SIZE};
use crate::error::{Error, ErrorKind, Result};
use crate::framing::Frame;
use crate::fs::Granary;
use crate::ids::{BlockId, DatanodeId, InodeId, LeaseHolder, RequestId};
use crate::path::FsPath;
use crate::protocol::*;
use crate::transfer;

/// Attempts at `complete` while the namenode answers `not_replicated_yet`. Each attempt
/// waits up to the namenode's `complete_report_wait` itself, so together they span several
/// seconds to half a minute.
const COMPLETE_RETRIES: u32 = 8;

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

/// A byte range of a local file that a block is sent from, and re-sent from after a failure.
struct BlockSource {
    file: Arc<File>,
    offset: u64,
    length: u64,
}

/// An open file under construction.
struct Writer<'a> {
    fs: &'a Granary,
    path: FsPath,
    file: InodeId,
    block_size: u64,
    committed: Vec<CommittedBlock>,
    min_replicas: usize,
    recoveries: u32,
    progress: Option<Progress>,
    /// Datanodes that failed a pipeline of this file: later blocks avoid them too (as HDFS's
    /// writer does), so a stalled node costs one stall timeout, not one per block.
    excluded: Vec<DatanodeId>,
}

pub(crate) async fn put_file(
    fs: &Granary,
    local: &Path,
    dst: &FsPath,
    opts: &PutOptions,
    progress: Option<Progress>,
) -> Result<PutSummary> {
    let file = File::open(local).map_err(|e| Error::io(local.display(), e))?;
    let meta = file.metadata().map_err(|e| Error::io(local.display(), e))?;
    if meta.is_dir() {
        return Err(Error::new(
            ErrorKind::IsADirectory,
            format!("{}: is a directory", local.display()),
        ));
    }
    if !meta.is_file() {
        // A pipe, FIFO or device reports no length to plan blocks by: stream it instead.
        return put_reader(fs, tokio::fs::File::from_std(file), dst, opts, progress).await;
    }
    let file = Arc::new(file);
    let length = meta.len();
    if length == 0 {
        return put_empty(fs, dst, opts).await;
    }
    let mut writer = Writer::create(fs, dst, opts, progress).await?;
    let result = async {
        let mut offset = 0;
        while offset < length {
            let block_len = writer.block_size.min(length - offset);
            writer
                .write_block(BlockSource {
                    file: file.clone(),
                    offset,
                    length: block_len,
                })
                .await?;
            offset += block_len;
        }
        writer.complete().await
    }
    .await;
    writer.abort_on_error(result).await
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
    let mut reader = (&head[..n]).chain(reader);
    let mut writer = Writer::create(fs, dst, opts, progress).await?;
    let result = async {
        let spool =
            Arc::new(tempfile::tempfile().map_err(|e| Error::io("creating spool file", e))?);
        loop {
            let spooled = spool_block(&mut reader, &spool, writer.block_size).await?;
            if spooled == 0 {
                break;
            }
            writer
                .write_block(BlockSource {
                    file: spool.clone(),
                    offset: 0,
                    length: spooled,
                })
                .await?;
            if spooled < writer.block_size {
                break;
            }
        }
        writer.complete().await
    }
    .await;
    writer.abort_on_error(result).await
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
            let mut writer = Writer::opened(fs, dst, &created, None);
            let result = writer.complete().await;
            writer.abort_on_error(result).await
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

impl<'a> Writer<'a> {
    async fn create(
        fs: &'a Granary,
        path: &FsPath,
        opts: &PutOptions,
        progress: Option<Progress>,
    ) -> Result<Self> {
        let created = fs
            .nn
            .create(&create_request(path, opts, &fs.holder, false))
            .await?;
        Ok(Writer::opened(fs, path, &created, progress))
    }

    /// The writer of a file the namenode has just created under construction.
    fn opened(
        fs: &'a Granary,
        path: &FsPath,
        created: &CreateResponse,
        progress: Option<Progress>,
    ) -> Self {
        Writer {
            fs,
            path: path.clone(),
            file: created.file,
            block_size: created.block_size,
            committed: Vec::new(),
            min_replicas: usize::from(created.replication),
            recoveries: 0,
            progress,
            excluded: Vec::new(),
        }
    }

    /// Writes one block, rebuilding the pipeline without the failed node until it succeeds or
    /// `pipeline_attempts` pipelines have failed. A node that answered `busy` is no failure:
    /// it is avoided while others remain, and once none is left the busy ones are tried again
    /// after a back-off, for up to `busy_retries` rounds (as a read retries busy replicas).
    async fn write_block(&mut self, source: BlockSource) -> Result<()> {
        let mut busy: Vec<DatanodeId> = Vec::new();
        let mut busy_backoff = Backoff::busy();
        let mut busy_rounds = 0;
        let mut failures = 0;
        let mut last_error = None;
        let mut last_busy = None;
        while failures < self.fs.config.pipeline_attempts {
            let avoided: Vec<DatanodeId> = self.excluded.iter().chain(&busy).cloned().collect();
            let allocation = match self.allocate(&avoided).await {
                Ok(a) => a,
                // Every node left failed a block of this file before: give them a new chance
                // rather than give up.
                Err(e)
                    if e.kind == ErrorKind::NoDatanodes
                        && last_error.is_none()
                        && !self.excluded.is_empty() =>
                {
                    self.excluded.clear();
                    continue;
                }
                Err(e) if e.kind == ErrorKind::NoDatanodes && !busy.is_empty() => {
                    if busy_rounds == self.fs.config.busy_retries {
                        break;
                    }
                    busy_rounds += 1;
                    busy.clear();
                    busy_backoff.wait().await;
                    continue;
                }
                Err(e) if e.kind == ErrorKind::NoDatanodes && last_error.is_some() => break,
                Err(e) => return Err(e),
            };
            match self.send(&allocation, &source).await {
                Ok(ack) => {
                    self.min_replicas = self.min_replicas.min(ack.persisted_on.len());
                    self.committed.push(CommittedBlock {
                        id: allocation.block,
                        generation: ack.generation,
                        length: ack.length,
                        sha256: ack.sha256,
                        persisted_on: ack.persisted_on,
                    });
                    return Ok(());
                }
                Err(e) if is_pipeline_fault(&e) => {
                    let culprit = e
                        .datanode
                        .clone()
                        .unwrap_or_else(|| allocation.pipeline[0].id.clone());
                    self.abandon(allocation.block).await;
                    if e.kind == ErrorKind::Busy {
                        tracing::debug!(
                            "block {} of {}: {culprit} is busy; trying without it",
                            allocation.block,
                            self.path
                        );
                        if busy.contains(&culprit) {
                            // Offered again although avoided: the round is over all the same.
                            if busy_rounds == self.fs.config.busy_retries {
                                last_busy = Some(e);
                                break;
                            }
                            busy_rounds += 1;
                            busy.clear();
                            busy_backoff.wait().await;
                        }
                        busy.push(culprit);
                        last_busy = Some(e);
                        continue;
                    }
                    tracing::warn!(
                        "block {} of {}: pipeline failed at {culprit}: {e}; retrying without it",
                        allocation.block,
                        self.path
                    );
                    self.recoveries += 1;
                    failures += 1;
                    self.excluded.push(culprit);
                    last_error = Some(e);
                }
                Err(e) => {
                    self.abandon(allocation.block).await;
                    return Err(e);
                }
            }
        }
        let e = last_error.or(last_busy).unwrap_or_else(|| {
            Error::new(ErrorKind::NoDatanodes, "no datanode accepted the block")
        });
        Err(Error::new(
            ErrorKind::PipelineFailed,
            format!(
                "{}: could not write block at offset {}: {}",
                self.path, source.offset, e.message
            ),
        ))
    }

    async fn allocate(&self, excluded: &[DatanodeId]) -> Result<AddBlockResponse> {
        self.fs
            .nn
            .add_block(&AddBlockRequest {
                path: self.path.clone(),
                file: self.file,
                excluded: excluded.to_vec(),
                previous: self.committed.last().cloned(),
                holder: self.fs.holder.clone(),
                request_id: RequestId::new(),
            })
            .await
    }

    /// One attempt: frames are read and digested on a blocking thread while the connection
    /// sends them, so disk, hashing and network overlap.
    async fn send(
        &self,
        allocation: &AddBlockResponse,
        source: &BlockSource,
    ) -> Result<WriteBlockAck> {
        let (tx, ack) = transfer::write_block(
            &self.fs.data,
            &allocation.pipeline,
            allocation.block,
            transfer::BlockSegment {
                generation: allocation.generation,
                append_from: None,
            },
            self.fs.config.stall_timeout,
        )?;
        let file = source.file.clone();
        let (offset, length) = (source.offset, source.length);
        let progress = self.progress.clone();
        let given_up = CancellationToken::new();
        let stop = given_up.clone();
        let runtime = tokio::runtime::Handle::current();
        let producer = tokio::task::spawn_blocking(move || {
            let send = |item| send_unless_given_up(&runtime, &tx, item, &stop);
            produce_frames(&file, offset, length, send, progress)
        });
        let ack = ack.await;
        // A connection stuck writing to a stalled peer never takes the producer's next frame.
        if ack.is_err() {
            given_up.cancel();
        }
        let produced = producer
            .await
            .map_err(|e| Error::internal(format!("frame producer: {e}")))?;
        // A local read error explains a failed request better than the request's own error.
        let (sent_len, digest) = produced?;
        let ack = ack?;
        if ack.length != sent_len || ack.sha256 != digest {
            return Err(Error::new(
                ErrorKind::ChecksumMismatch,
                format!(
                    "block {}: pipeline acknowledged {} bytes with a different checksum",
                    allocation.block, ack.length
                ),
            ));
        }
        Ok(ack)
    }

    async fn abandon(&self, block: BlockId) {
        let req = AbandonBlockRequest {
            path: self.path.clone(),
            file: self.file,
            block,
            holder: self.fs.holder.clone(),
        };
        if let Err(e) = self.fs.nn.abandon_block(&req).await {
            tracing::warn!("abandoning {block} of {}: {e}", self.path);
        }
    }

    /// Completes the file, retrying with back-off while the namenode has not heard from the
    /// datanodes yet (`not_replicated_yet`, as HDFS's client retries `complete`), for at most
    /// [`COMPLETE_RETRIES`] attempts. The request id stays the same across attempts.
    async fn complete(&mut self) -> Result<PutSummary> {
        let request = CompleteRequest {
            path: self.path.clone(),
            file: self.file,
            blocks: self.committed.clone(),
            holder: self.fs.holder.clone(),
            request_id: RequestId::new(),
        };
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(2));
        let mut attempt = 1;
        let response = loop {
            match self.fs.nn.complete(&request).await {
                Err(e) if e.kind == ErrorKind::NotReplicatedYet && attempt < COMPLETE_RETRIES => {
                    tracing::debug!("complete {}: {e}; retry {attempt}", self.path);
                    backoff.wait().await;
                    attempt += 1;
                }
                result => break result?,
            }
        };
        Ok(PutSummary {
            status: response.status,
            blocks: self.committed.len(),
            min_replicas: self.min_replicas,
            pipeline_recoveries: self.recoveries,
        })
    }

    /// A failed put leaves nothing behind: the file under construction is deleted.
    async fn abort_on_error(&self, result: Result<PutSummary>) -> Result<PutSummary> {
        if result.is_err() {
            let req = DeleteRequest {
                path: self.path.clone(),
                recursive: false,
                request_id: RequestId::new(),
            };
            if let Err(e) = self.fs.nn.delete(&req).await {
                tracing::warn!("cleaning up {} after a failed put: {e}", self.path);
            }
        }
        result
    }
}

/// Errors after which the same block can be re-sent on a pipeline without the culprit.
fn is_pipeline_fault(e: &Error) -> bool {
    matches!(
        e.kind,
        ErrorKind::PipelineFailed
            | ErrorKind::Busy
            | ErrorKind::Unavailable
            | ErrorKind::Io
            | ErrorKind::ChecksumMismatch
            | ErrorKind::Internal
    )
}

/// Queues one item of a request body from a blocking thread; false once the request is gone or
/// the write was given up.
fn send_unless_given_up(
    runtime: &tokio::runtime::Handle,
    tx: &transfer::BodySender,
    item: std::io::Result<Bytes>,
    given_up: &CancellationToken,
) -> bool {
    runtime.block_on(async {
        tokio::select! {
            sent = tx.send(item) => sent.is_ok(),
            () = given_up.cancelled() => false,
        }
    })
}

/// Reads `length` bytes at `offset` of `file` in chunks, seals each into a frame and sends it.
/// Returns the bytes sent and the block digest. Stops quietly if the request went away.
fn produce_frames(
    file: &File,
    offset: u64,
    length: u64,
    send: impl Fn(std::io::Result<Bytes>) -> bool,
    progress: Option<Progress>,
) -> Result<(u64, Digest)> {
    let mut digester = BlockDigester::new();
    let mut sent = 0u64;
    while sent < length {
        let len = CHUNK_SIZE.min((length - sent) as usize);
        let mut chunk = BytesMut::zeroed(len);
        if let Err(e) = file.read_exact_at(&mut chunk, offset + sent) {
            send(Err(std::io::Error::other("local read failed")));
            return Err(Error::io("reading local file", e));
        }
        let frame = Frame::seal(Bytes::from(chunk));
        digester.push(&frame.digest, len);
        if !send(Ok(frame.write_header())) || !send(Ok(frame.data)) {
            break;
        }
        sent += len as u64;
        if let Some(progress) = &progress {
            progress(offset + sent);
        }
    }
    Ok((sent, digester.finish()))
}

#[cfg(test)]
mod tests;
