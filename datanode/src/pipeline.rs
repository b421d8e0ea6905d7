//! `PUT /v1/blocks/{id}`: receive a framed block, verify every chunk, write it to a temporary
//! file (or, for a new segment of an existing replica, continue that replica in place) and
//! forward it downstream while it arrives; at the end fsync, wait for the downstream ack,
//! finalize, report, and ack upstream. A recovery of the block stops the write at any point
//! before it is finalized (its writer lost its lease).
//!
//! Three things overlap: this task decodes frames and queues them, a blocking thread verifies
//! and writes them to disk, and the forwarding request streams them to the next node.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use granary_client::framing::{Frame, WriteFrameStream};
use granary_client::protocol::{
    routes, ReplicaReport, WriteBlockAck, WritePipeline, PIPELINE_HEADER,
};
use granary_client::server::{ApiError, Params};
use granary_client::{BlockId, Error, ErrorKind};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::downstream::{Downstream, Segment};
use crate::state::AppState;
use crate::store::{stopped, BlockWriter, FrameGrid, PreparedReplica};

/// Frames queued for the disk writer before the receiver waits.
const DISK_QUEUE_FRAMES: usize = 8;
/// A writer that sends nothing for this many stall timeouts is gone; its partial replica is
/// discarded.
const UPSTREAM_IDLE_FACTOR: u32 = 2;

pub async fn put_block(
    State(state): State<Arc<AppState>>,
    Params(block): Params<routes::WriteBlock>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<WriteBlockAck>, ApiError> {
    let pipeline = parse_pipeline(&headers)?;
    if pipeline
        .downstream
        .iter()
        .any(|node| &node.id == state.store.id())
    {
        return Err(Error::invalid_argument(
            "the pipeline lists this datanode downstream of itself",
        )
        .into());
    }
    let _transfer = state.transfers.admit(&format!("writing {block}"))?;
    let segment = Segment {
        generation: pipeline.generation,
        append_from: pipeline.append_from,
    };
    let writer = begin(&state, block, segment).await?;
    let cancel = writer.cancellation();
    let mut disk = Some(DiskWriter::spawn(writer));
    let mut downstream = pipeline.downstream.split_first().map(|(next, rest)| {
        Downstream::start(&state.http, block, segment, next, rest, state.stall_timeout)
    });
    // Only cleanup hangs on this: a stalled upstream is blamed by the node above it.
    let idle_timeout = state.stall_timeout * UPSTREAM_IDLE_FACTOR;
    let grid = FrameGrid::from_offset(segment.append_from.unwrap_or(0));
    let received = tokio::select! {
        received = receive(block, body, grid, &mut disk, &mut downstream, idle_timeout) => received,
        () = cancel.cancelled() => Err(stopped(block)),
    };
    if let Err(e) = received {
        // Dropping the downstream aborts its body; the writer is waited for so the temporary
        // file and the "being written" mark are gone before we answer.
        drop(downstream);
        if let Some(disk) = disk {
            disk.abort().await;
        }
        return Err(e.into());
    }
    let disk = disk.ok_or_else(|| Error::internal("disk writer missing"))?;

    let finished = tokio::select! {
        finished = async {
            tokio::join!(disk.finish(), async {
                match downstream {
                    Some(next) => Some((next.target().clone(), next.finish().await)),
                    None => None,
                }
            })
        } => finished,
        // Dropping the writer thread's queue discards the segment.
        () = cancel.cancelled() => return Err(stopped(block).into()),
    };
    let (local, remote) = finished;
    let prepared = local?;
    let (length, digest) = (prepared.length(), prepared.digest());
    let mut persisted_on = vec![state.store.id().clone()];
    if let Some((target, ack)) = remote {
        let ack = ack?;
        crate::downstream::check_ack(&target, &ack, segment.generation, length, digest)?;
        persisted_on.extend(ack.persisted_on);
    }

    let finalize_state = Arc::clone(&state);
    tokio::task::spawn_blocking(move || {
        finalize_state.store.commit(prepared)?;
        finalize_state.reports.received(ReplicaReport {
            generation: segment.generation,
            block,
            length,
            sha256: Some(digest),
        });
        Ok::<_, Error>(())
    })
    .await
    .map_err(|e| Error::internal(format!("finalizing {block}: {e}")))??;
    tracing::debug!(%block, length, generation = %segment.generation, replicas = persisted_on.len(), "block written");
    fail::fail_point!("pipeline::ack");
    Ok(Json(WriteBlockAck {
        generation: segment.generation,
        block,
        length,
        sha256: digest,
        persisted_on,
    }))
}

/// A writer of a new replica, or of a new segment of the existing one (blocking I/O: it may
/// cut the replica and reads back its partial last chunk).
async fn begin(state: &AppState, block: BlockId, segment: Segment) -> Result<BlockWriter, Error> {
    let store = Arc::clone(&state.store);
    match segment.append_from {
        None => store.begin_write(block, segment.generation),
        Some(from) => {
            tokio::task::spawn_blocking(move || store.begin_append(block, segment.generation, from))
                .await
                .map_err(|e| Error::internal(format!("reopening {block}: {e}")))?
        }
    }
}

/// Decodes the body's frames and hands each to the downstream and the disk writer. After a
/// failure it reads (and discards) the rest of the body, so the client gets our answer rather
/// than a reset connection; a body that cannot be decoded ends it at once.
async fn receive(
    block: BlockId,
    body: Body,
    mut grid: FrameGrid,
    disk: &mut Option<DiskWriter>,
    downstream: &mut Option<Downstream>,
    idle_timeout: Duration,
) -> Result<(), Error> {
    let mut frames = WriteFrameStream::new(body.into_data_stream());
    let mut failure: Option<Error> = None;
    loop {
        let frame = match tokio::time::timeout(idle_timeout, frames.next()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(failure.unwrap_or(e)),
            Err(_) => {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!("no data from upstream for {idle_timeout:?}"),
                ))
            }
        };
        if failure.is_some() {
            continue;
        }
        grid.check(frame.data.len())?;
        let sent = match downstream.as_mut() {
            Some(next) => next.send(&frame).await,
            None => Ok(()),
        };
        let written = match (sent, disk.as_mut()) {
            (Ok(()), Some(writer)) => writer.write(frame).await,
            (Err(e), _) => Err(e),
            (Ok(()), None) => Err(Error::internal("disk writer missing")),
        };
        if let Err(e) = written {
            tracing::warn!(%block, "block write failed: {}", e.message);
            failure = Some(e);
            *downstream = None;
            if let Some(disk) = disk.take() {
                disk.abort().await;
            }
        }
    }
    failure.map_or(Ok(()), Err)
}

/// The `x-granary-pipeline` header; absent means this node is the last of the pipeline.
fn parse_pipeline(headers: &HeaderMap) -> Result<WritePipeline, Error> {
    match headers.get(PIPELINE_HEADER) {
        None => Ok(WritePipeline::default()),
        Some(value) => serde_json::from_slice(value.as_bytes()).map_err(|e| {
            Error::invalid_argument(format!("malformed {PIPELINE_HEADER} header: {e}"))
        }),
    }
}

enum DiskOp {
    Append(Frame),
    Finish,
}

type DiskTask = JoinHandle<Result<Option<PreparedReplica>, Error>>;

/// A [`BlockWriter`] on a blocking thread, fed through a bounded queue. Dropping it without
/// [`DiskWriter::finish`] closes the queue, and the thread discards the partial replica.
struct DiskWriter {
    ops: mpsc::Sender<DiskOp>,
    /// `None` once the thread's result has been collected.
    task: Option<DiskTask>,
}

impl DiskWriter {
    fn spawn(mut writer: BlockWriter) -> Self {
        let (ops, mut rx) = mpsc::channel(DISK_QUEUE_FRAMES);
        let task = tokio::task::spawn_blocking(move || {
            while let Some(op) = rx.blocking_recv() {
                match op {
                    DiskOp::Append(frame) => writer.append(&frame)?,
                    DiskOp::Finish => return writer.prepare().map(Some),
                }
            }
            Ok(None)
        });
        DiskWriter {
            ops,
            task: Some(task),
        }
    }

    /// Queues a frame; if the writer already failed, returns its error.
    async fn write(&mut self, frame: Frame) -> Result<(), Error> {
        if self.ops.send(DiskOp::Append(frame)).await.is_ok() {
            return Ok(());
        }
        Err(match self.join().await {
            Ok(_) => Error::internal("disk writer stopped early"),
            Err(e) => e,
        })
    }

    /// Stops the writer and waits until it has removed its temporary file.
    async fn abort(self) {
        let DiskWriter { ops, task } = self;
        drop(ops);
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// Waits for every queued frame to be written, then fsyncs data and sidecar.
    async fn finish(mut self) -> Result<PreparedReplica, Error> {
        // If the send fails the writer has already stopped; its result says why.
        let _ = self.ops.send(DiskOp::Finish).await;
        self.join()
            .await?
            .ok_or_else(|| Error::internal("disk writer stopped early"))
    }

    async fn join(&mut self) -> Result<Option<PreparedReplica>, Error> {
        let task = self
            .task
            .take()
            .ok_or_else(|| Error::internal("disk writer already stopped"))?;
        task.await
            .map_err(|e| Error::internal(format!("disk writer failed: {e}")))?
    }
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
