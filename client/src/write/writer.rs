//! An open file under construction: its lease, the blocks this writer wrote, and the last
//! block when it can take more bytes in place (opened by an append, or written before an
//! hflush). Whole new blocks are written by [`Writer::write_block`], bytes continuing the
//! last block by [`Writer::write_segment`] (in `segment`).

use std::time::Duration;

use super::frames::{self, is_pipeline_fault};
use super::lease::LeaseGuard;
use super::{BlockSource, Progress, PutSummary};
use crate::backoff::Backoff;
use crate::error::{Error, ErrorKind, Result};
use crate::fs::Granary;
use crate::ids::{BlockId, DatanodeId, InodeId, RequestId};
use crate::path::FsPath;
use crate::protocol::*;
use crate::transfer::BlockSegment;

/// Attempts at `complete` or `flush` while the namenode answers `not_replicated_yet`. Each
/// attempt waits up to the namenode's `complete_report_wait` itself, so together they span
/// several seconds to half a minute.
const COMMIT_RETRIES: u32 = 8;

/// How a writer opened its file, which decides what a failure leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Opened {
    /// A new file: a failed write deletes it.
    Created,
    /// An existing file: a failed append closes it at what the datanodes hold durably (the
    /// old content, or what an hflush of this append committed).
    Appended,
}

/// The file's last block, when new bytes continue it.
#[derive(Clone, Debug)]
pub(super) struct Tail {
    pub(super) block: BlockId,
    /// Bytes it holds, acknowledged by its pipeline.
    pub(super) length: u64,
    /// A generation the namenode assigned for the next segment already (an append's).
    pub(super) reopened: Option<OpenBlock>,
    /// Whether it is the last entry of `Writer::committed` (this writer wrote to it).
    pub(super) written: bool,
}

pub(super) struct Writer<'a> {
    pub(super) fs: &'a Granary,
    pub(super) path: FsPath,
    pub(super) file: InodeId,
    pub(super) block_size: u64,
    pub(super) opened: Opened,
    /// The blocks this writer wrote, in file order, as their pipelines acknowledged them.
    pub(super) committed: Vec<CommittedBlock>,
    pub(super) tail: Option<Tail>,
    /// The last block state the namenode was told of by a `flush`.
    flushed: Option<(BlockId, u64)>,
    pub(super) min_replicas: usize,
    pub(super) recoveries: u32,
    pub(super) progress: Option<Progress>,
    /// Datanodes that failed a pipeline of this file: later blocks avoid them too (as HDFS's
    /// writer does), so a stalled node costs one stall timeout, not one per block.
    pub(super) excluded: Vec<DatanodeId>,
    _lease: LeaseGuard,
}

impl<'a> Writer<'a> {
    /// The writer of a file the namenode has just created under construction.
    pub(super) fn created(
        fs: &'a Granary,
        path: &FsPath,
        created: &CreateResponse,
        progress: Option<Progress>,
    ) -> Self {
        let lease = lease_guard(fs, created.lease_soft_limit_ms);
        Writer::new(
            fs,
            path,
            created.file,
            created.block_size,
            Opened::Created,
            lease,
        )
        .with_progress(created.replication, progress)
    }

    /// Opens `path` for appending: the namenode reopens its last block if it has room.
    /// `recovery_in_progress` (the previous writer's lease is being recovered) is waited out.
    pub(super) async fn append(
        fs: &'a Granary,
        path: &FsPath,
        progress: Option<Progress>,
    ) -> Result<Writer<'a>> {
        let request = AppendRequest {
            path: path.clone(),
            holder: fs.holder.clone(),
            request_id: RequestId::new(),
        };
        // The previous writer's recovery takes a few of its rounds: wait longer than a commit.
        let opened = retry_while(
            ErrorKind::RecoveryInProgress,
            COMMIT_RETRIES * 4,
            path,
            "append",
            || fs.nn.append(&request),
        )
        .await?;
        let lease = lease_guard(fs, opened.lease_soft_limit_ms);
        let mut writer = Writer::new(
            fs,
            path,
            opened.file,
            opened.block_size,
            Opened::Appended,
            lease,
        )
        .with_progress(opened.replication, progress);
        writer.tail = opened.last_block.map(|block| Tail {
            block: block.block,
            length: block.length,
            reopened: Some(block),
            written: false,
        });
        Ok(writer)
    }

    fn new(
        fs: &'a Granary,
        path: &FsPath,
        file: InodeId,
        block_size: u64,
        opened: Opened,
        lease: LeaseGuard,
    ) -> Self {
        Writer {
            fs,
            path: path.clone(),
            file,
            block_size,
            opened,
            committed: Vec::new(),
            tail: None,
            flushed: None,
            min_replicas: usize::MAX,
            recoveries: 0,
            progress: None,
            excluded: Vec::new(),
            _lease: lease,
        }
    }

    fn with_progress(mut self, replication: u16, progress: Option<Progress>) -> Self {
        self.min_replicas = usize::from(replication);
        self.progress = progress;
        self
    }

    /// Bytes the file's current last block can still take in place: what the next write
    /// should fill before a new block starts.
    pub(super) fn room(&self) -> u64 {
        match &self.tail {
            Some(tail) if tail.length < self.block_size => self.block_size - tail.length,
            _ => self.block_size,
        }
    }

    /// Writes all of `source`: first into the last block while it has room, then in new
    /// blocks.
    pub(super) async fn write_range(&mut self, mut source: BlockSource) -> Result<()> {
        while source.length > 0 {
            let continues_tail = self
                .tail
                .as_ref()
                .is_some_and(|tail| tail.length < self.block_size);
            let n = source.length.min(self.room());
            if continues_tail {
                self.write_segment(source.take(n)).await?;
            } else {
                self.write_block(source.take(n)).await?;
            }
            source = source.skip(n);
        }
        Ok(())
    }

    /// Writes one new block, rebuilding the pipeline without the failed node until it
    /// succeeds or `pipeline_attempts` pipelines have failed. A node that answered `busy` is no
    /// failure: it is avoided while others remain, and once none is left the busy ones are
    /// tried again after a back-off, for up to `busy_retries` rounds (as a read retries busy
    /// replicas).
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
            let segment = BlockSegment {
                generation: allocation.generation,
                append_from: None,
            };
            match self
                .send(&allocation.pipeline, allocation.block, segment, &source)
                .await
            {
                Ok(()) => return Ok(()),
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
                self.path, source.progress_base, e.message
            ),
        ))
    }

    /// One pipeline attempt at `segment` of `block` (a new block, or bytes continuing the
    /// tail), recorded as the file's last block once acknowledged.
    pub(super) async fn send(
        &mut self,
        pipeline: &[DatanodeInfo],
        block: BlockId,
        segment: BlockSegment,
        source: &BlockSource,
    ) -> Result<()> {
        let progress = self.progress.clone();
        let ack = frames::send(self.fs, pipeline, block, segment, source, progress).await?;
        self.acknowledged(ack, segment.append_from.is_some());
        Ok(())
    }

    /// Records a pipeline's ack of the last block: a new block (`continues_tail` false) or a
    /// new segment of the tail.
    fn acknowledged(&mut self, ack: WriteBlockAck, continues_tail: bool) {
        self.min_replicas = self.min_replicas.min(ack.persisted_on.len());
        let block = CommittedBlock {
            id: ack.block,
            generation: ack.generation,
            length: ack.length,
            sha256: ack.sha256,
            persisted_on: ack.persisted_on,
        };
        let replaces_last = continues_tail && self.tail.as_ref().is_some_and(|t| t.written);
        if replaces_last {
            if let Some(last) = self.committed.last_mut() {
                *last = block;
            }
        } else {
            self.committed.push(block);
        }
        self.tail = Some(Tail {
            block: ack.block,
            length: ack.length,
            reopened: None,
            written: true,
        });
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

    pub(super) async fn abandon(&self, block: BlockId) {
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

    /// Makes everything acknowledged so far visible to new readers (the namenode's `flush`),
    /// unless it already is.
    pub(super) async fn flush(&mut self) -> Result<()> {
        let Some(last) = self.committed.last().cloned() else {
            return Ok(());
        };
        if self.flushed == Some((last.id, last.length)) {
            return Ok(());
        }
        let request = FlushRequest {
            path: self.path.clone(),
            file: self.file,
            block: last.clone(),
            holder: self.fs.holder.clone(),
            request_id: RequestId::new(),
        };
        commit_with_retries(&self.path, "flush", || self.fs.nn.flush(&request)).await?;
        self.flushed = Some((last.id, last.length));
        Ok(())
    }

    /// Closes the file after its bytes were `written`: completes it (releasing the lease), or
    /// cleans up after a failure of either.
    pub(super) async fn close(&mut self, written: Result<()>) -> Result<PutSummary> {
        let result = match written {
            Ok(()) => self.complete().await,
            Err(e) => Err(e),
        };
        self.abort_on_error(result).await
    }

    /// Completes the file and releases the lease.
    async fn complete(&mut self) -> Result<PutSummary> {
        let request = CompleteRequest {
            path: self.path.clone(),
            file: self.file,
            blocks: self.committed.clone(),
            holder: self.fs.holder.clone(),
            request_id: RequestId::new(),
        };
        let response =
            commit_with_retries(&self.path, "complete", || self.fs.nn.complete(&request)).await?;
        Ok(PutSummary {
            min_replicas: self
                .min_replicas
                .min(usize::from(response.status.replication)),
            status: response.status,
            blocks: self.committed.len(),
            pipeline_recoveries: self.recoveries,
        })
    }

    /// A failed put leaves nothing behind: the file under construction is deleted. A failed
    /// append closes the file at once, at what its datanodes hold (a recovery), rather than
    /// leaving it open until the lease runs out.
    async fn abort_on_error(&self, result: Result<PutSummary>) -> Result<PutSummary> {
        if result.is_err() {
            let cleanup = match self.opened {
                Opened::Created => {
                    let req = DeleteRequest {
                        path: self.path.clone(),
                        recursive: false,
                        request_id: RequestId::new(),
                    };
                    self.fs.nn.delete(&req).await.map(drop)
                }
                Opened::Appended => self.fs.recover_lease(&self.path).await.map(drop),
            };
            if let Err(e) = cleanup {
                tracing::warn!("cleaning up {} after a failed write: {e}", self.path);
            }
        }
        result
    }
}

fn lease_guard(fs: &Granary, soft_limit_ms: u64) -> LeaseGuard {
    fs.leases
        .hold(&fs.nn, &fs.holder, Duration::from_millis(soft_limit_ms))
}

/// A `complete` or `flush`, retried with back-off while the namenode has not heard from the
/// datanodes yet (`not_replicated_yet`, as HDFS's client retries `complete`), for at most
/// [`COMMIT_RETRIES`] attempts.
async fn commit_with_retries<T, F, Fut>(path: &FsPath, what: &str, call: F) -> Result<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    retry_while(
        ErrorKind::NotReplicatedYet,
        COMMIT_RETRIES,
        path,
        what,
        call,
    )
    .await
}

/// `call`, repeated with back-off while it answers `kind`, for at most `attempts` tries. The
/// request (and its id) stays the same across tries.
async fn retry_while<T, F, Fut>(
    kind: ErrorKind,
    attempts: u32,
    path: &FsPath,
    what: &str,
    call: F,
) -> Result<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(2));
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e) if e.kind == kind && attempt < attempts => {
                tracing::debug!("{what} {path}: {e}; retry {attempt}");
                backoff.wait().await;
                attempt += 1;
            }
            result => return result,
        }
    }
}
