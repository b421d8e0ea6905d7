//! Block data to and from one datanode: a framed `PUT` for writes, a framed `GET` for reads.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use tokio::sync::{mpsc, watch};
use tokio_util::codec::FramedRead;
use tokio_util::io::StreamReader;

use crate::config::{ClientConfig, ACK_WAIT_FACTOR};
use crate::error::{Error, ErrorKind, Result};
use crate::framing::{Frame, ReadFrameCodec};
use crate::ids::{BlockId, Generation};
use crate::namenode::{decode_response, response_origin, transport_reason, wire_error};
use crate::protocol::{
    routes, DatanodeInfo, ReadBlockQuery, WriteBlockAck, WritePipeline, PIPELINE_HEADER,
};

/// Frames of a block on their way to a pipeline: headers and payloads as separate items, so
/// payloads are never copied. An `Err` aborts the request.
pub type BodySender = mpsc::Sender<std::io::Result<Bytes>>;

/// Frames buffered between the producer and the connection: bounds the memory of one block
/// write to a few chunks.
pub const BODY_CHANNEL_FRAMES: usize = 16;

/// HTTP client for block traffic: no overall timeout, since a block takes as long as it takes.
/// Stalls are caught per frame instead: by readers ([`read_block`]), and for writes by the
/// writer's progress watch (`write::watch`) and each datanode's own. (reqwest's `read_timeout`
/// would also fire while a long upload waits for its ack.)
pub fn data_client(config: &ClientConfig) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(config.connect_timeout)
        .pool_max_idle_per_host(16)
        .tcp_nodelay(true);
    if let Some(ip) = config.local_address {
        builder = builder.local_address(ip);
    }
    builder
        .build()
        .map_err(|e| Error::internal(format!("http client: {e}")))
}

/// How long a sender waits on a pipeline node with `behind` nodes after it: for it to take
/// the next frame, and for its ack once the last frame is sent (the ack follows fsyncs, which
/// show no progress). Each node behind adds half a stall timeout: when a node stalls, every
/// node above it stops taking frames too, and this way the one right above it gives up first
/// and names it.
pub fn pipeline_patience(stall: Duration, behind: usize) -> (Duration, Duration) {
    let extension = stall / 2 * u32::try_from(behind).unwrap_or(u32::MAX);
    (
        stall.saturating_add(extension),
        (stall * ACK_WAIT_FACTOR).saturating_add(extension),
    )
}

/// How far the request body has got, for the stall watch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BodyProgress {
    /// Items taken by the connection so far.
    Sending(u64),
    /// The last frame is taken; the ack is due.
    Sent,
}

/// What a block write writes: a new replica, or a new segment of an existing one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockSegment {
    /// The generation the replicas are finalized at.
    pub generation: Generation,
    /// See [`WritePipeline::append_from`].
    pub append_from: Option<u64>,
}

/// Streams a block to `pipeline[0]`, which forwards it to the rest. Returns the channel to feed
/// with frames and a future that resolves to the pipeline's ack once the sender is dropped.
/// A first node that takes no frame for the stall timeout (see [`pipeline_patience`]), or
/// does not ack in time after the last, fails the write with `pipeline_failed` naming it.
pub fn write_block(
    http: &reqwest::Client,
    pipeline: &[DatanodeInfo],
    block: BlockId,
    segment: BlockSegment,
    stall: Duration,
) -> Result<(
    BodySender,
    impl std::future::Future<Output = Result<WriteBlockAck>>,
)> {
    let first = pipeline
        .first()
        .cloned()
        .ok_or_else(|| Error::new(ErrorKind::NoDatanodes, "empty pipeline"))?;
    let header = serde_json::to_string(&WritePipeline {
        downstream: pipeline[1..].to_vec(),
        generation: segment.generation,
        append_from: segment.append_from,
    })
    .map_err(|e| Error::internal(format!("encoding pipeline: {e}")))?;
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(BODY_CHANNEL_FRAMES * 2);
    // Shared, so the watch never sees the body's end as a closed channel. Time spent waiting
    // for our own producer counts as the peer's too: it reads a local file or spool, which does
    // not stall for seconds.
    let progress = Arc::new(watch::Sender::new(BodyProgress::Sending(0)));
    let watched = Arc::clone(&progress);
    let body = futures_util::stream::unfold(rx, move |mut rx| {
        let progress = Arc::clone(&watched);
        async move {
            let item = rx.recv().await;
            progress.send_modify(|p| {
                *p = match (*p, &item) {
                    (BodyProgress::Sending(n), Some(_)) => BodyProgress::Sending(n + 1),
                    _ => BodyProgress::Sent,
                }
            });
            item.map(|item| (item, rx))
        }
    });
    let (frame_wait, ack_wait) = pipeline_patience(stall, pipeline.len() - 1);
    let request = routes::request::<routes::WriteBlock>(http, first.addr, &block)
        .header(PIPELINE_HEADER, header)
        .body(reqwest::Body::wrap_stream(body));
    let ack = async move {
        let stalled = |reason: String| {
            Error::new(
                ErrorKind::PipelineFailed,
                format!("datanode {} ({}): {reason}", first.id, first.addr),
            )
            .with_datanode(first.id.clone())
        };
        let sent = tokio::select! {
            sent = request.send() => sent,
            reason = watch_progress(progress.subscribe(), frame_wait, ack_wait) => {
                return Err(stalled(reason));
            }
        };
        let response = sent.map_err(|e| {
            Error::new(
                ErrorKind::PipelineFailed,
                format!(
                    "datanode {} ({}): {}",
                    first.id,
                    first.addr,
                    transport_reason(&e)
                ),
            )
            .with_datanode(first.id.clone())
        })?;
        let decoded = tokio::time::timeout(ack_wait, decode_response(response, "datanode")).await;
        let result: Result<WriteBlockAck> = decoded
            .unwrap_or_else(|_| Err(stalled(format!("no whole answer within {ack_wait:?}"))));
        result.map_err(|e| match e.datanode {
            Some(_) => e,
            // An error the first node did not attribute to anyone downstream is its own.
            None => e.with_datanode(first.id.clone()),
        })
    };
    Ok((tx, ack))
}

/// Resolves, with the reason, once the body takes no item for `frame_wait`, or no ack follows
/// the last within `ack_wait`.
async fn watch_progress(
    mut progress: watch::Receiver<BodyProgress>,
    frame_wait: Duration,
    ack_wait: Duration,
) -> String {
    loop {
        let sent = *progress.borrow_and_update() == BodyProgress::Sent;
        let wait = if sent { ack_wait } else { frame_wait };
        match tokio::time::timeout(wait, progress.changed()).await {
            Ok(Ok(())) => {}
            // The sender lives as long as the ack future that polls this: not reached.
            Ok(Err(_)) => std::future::pending::<()>().await,
            Err(_) if sent => return format!("no ack within {ack_wait:?} of the last frame"),
            Err(_) => return format!("took no data for {frame_wait:?}"),
        }
    }
}

/// Opens a framed read of `[offset, offset + length)` of a block on `datanode`. The first frame
/// starts at the chunk boundary at or before `offset`. A datanode that does not answer, or
/// then sends no frame, within `stall` fails the read with `unavailable` (a stopped process
/// keeps its connections open, so nothing else would end the wait).
pub async fn read_block(
    http: &reqwest::Client,
    datanode: &DatanodeInfo,
    block: BlockId,
    generation: Generation,
    offset: u64,
    length: u64,
    stall: Duration,
) -> Result<impl Stream<Item = Result<Frame>> + Unpin + Send> {
    let unavailable = |reason: String| {
        Error::new(
            ErrorKind::Unavailable,
            format!("datanode {} ({}): {reason}", datanode.id, datanode.addr),
        )
    };
    let request = routes::request::<routes::ReadBlock>(http, datanode.addr, &block)
        .query(&ReadBlockQuery {
            offset: Some(offset),
            length: Some(length),
            generation: Some(generation),
        })
        .send();
    let response = match tokio::time::timeout(stall, request).await {
        Ok(sent) => sent.map_err(|e| unavailable(transport_reason(&e)))?,
        Err(_) => return Err(unavailable(format!("no answer within {stall:?}"))),
    };
    let status = response.status();
    if !status.is_success() {
        let from = response_origin(response.url());
        let body = match tokio::time::timeout(stall, response.bytes()).await {
            Ok(body) => body.unwrap_or_default(),
            Err(_) => Bytes::new(),
        };
        return Err(wire_error(status, &body, &from, "datanode"));
    }
    let bytes = response
        .bytes_stream()
        .map_err(|e| std::io::Error::other(transport_reason(&e)));
    let frames = FramedRead::new(StreamReader::new(bytes), ReadFrameCodec);
    let stalled = unavailable(format!("sent nothing for {stall:?}"));
    Ok(stall_guarded(frames, stall, stalled).boxed())
}

/// `frames`, ending with `stalled` when the next frame takes longer than `stall`.
fn stall_guarded<S>(
    frames: S,
    stall: Duration,
    stalled: Error,
) -> impl Stream<Item = Result<Frame>> + Send
where
    S: Stream<Item = Result<Frame>> + Unpin + Send,
{
    futures_util::stream::unfold(Some((frames, stalled)), move |state| async move {
        let (mut frames, stalled) = state?;
        match tokio::time::timeout(stall, frames.next()).await {
            Ok(Some(frame)) => Some((frame, Some((frames, stalled)))),
            Ok(None) => None,
            Err(_) => Some((Err(stalled), None)),
        }
    })
}

#[cfg(test)]
#[path = "transfer_tests.rs"]
mod tests;
