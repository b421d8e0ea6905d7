//! Sending a framed block to another datanode while it is produced: the forwarding half of a
//! write pipeline, and re-replication on the namenode's command. Frames go through a bounded
//! channel into a streaming request body, so at most a few chunks are in memory at a time.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use granary_client::framing::Frame;
use granary_client::protocol::{
    routes, DatanodeInfo, WriteBlockAck, WritePipeline, PIPELINE_HEADER,
};
use granary_client::transfer::pipeline_patience;
use granary_client::{BlockId, DatanodeId, Digest, Error, ErrorKind, Generation, WireError};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Frames queued for the next node before the sender waits (backpressure).
const QUEUE_FRAMES: usize = 8;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The HTTP client for block transfers between datanodes: no overall timeout (blocks are
/// large), no proxies (datanodes talk directly).
pub fn transfer_client() -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .build()
        .map_err(|e| Error::internal(format!("building the HTTP client: {e}")))
}

/// What every node of a pipeline is told about the replica it writes (the pipeline's fields
/// besides `downstream`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    pub generation: Generation,
    /// `Some(n)`: a new segment of an existing replica, from byte `n`.
    pub append_from: Option<u64>,
}

/// A block write in progress to `target`, which forwards to the rest of the pipeline.
/// Dropping it before [`Downstream::finish`] aborts the request body, so the receiver
/// discards its partial replica instead of finalizing a truncated one.
pub struct Downstream {
    target: DatanodeId,
    block: BlockId,
    frames: Option<mpsc::Sender<Bytes>>,
    cancel: CancellationToken,
    /// `None` once the answer has been collected.
    response: Option<JoinHandle<Result<WriteBlockAck, Error>>>,
    finished: bool,
    /// How long the next node may take to take a frame, and to ack once it has the whole
    /// block (its fsync and its own downstream's): see [`pipeline_patience`].
    frame_wait: Duration,
    ack_wait: Duration,
}

impl Downstream {
    /// Starts the `PUT` at once, so connecting overlaps with the first frames arriving.
    /// `stall` is the node's `stall_timeout`.
    pub fn start(
        http: &reqwest::Client,
        block: BlockId,
        segment: Segment,
        target: &DatanodeInfo,
        rest: &[DatanodeInfo],
        stall: Duration,
    ) -> Self {
        let (frame_wait, ack_wait) = pipeline_patience(stall, rest.len());
        let (tx, rx) = mpsc::channel::<Bytes>(2 * QUEUE_FRAMES);
        let cancel = CancellationToken::new();
        let pipeline = WritePipeline {
            generation: segment.generation,
            append_from: segment.append_from,
            downstream: rest.to_vec(),
        };
        let header = serde_json::to_string(&pipeline).unwrap_or_default();
        let request = routes::request::<routes::WriteBlock>(http, target.addr, &block)
            .header(PIPELINE_HEADER, header)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(reqwest::Body::wrap_stream(body_stream(rx, cancel.clone())));
        let response = Some(tokio::spawn(await_ack(request, target.id.clone())));
        Downstream {
            target: target.id.clone(),
            block,
            frames: Some(tx),
            cancel,
            response,
            finished: false,
            frame_wait,
            ack_wait,
        }
    }

    pub fn target(&self) -> &DatanodeId {
        &self.target
    }

    /// Queues one frame (header and payload, no copy). If the next node has already failed,
    /// returns its error; if it takes nothing for the stall timeout, it has stalled.
    pub async fn send(&mut self, frame: &Frame) -> Result<(), Error> {
        let Some(frames) = &self.frames else {
            return Err(Error::internal("send after finish"));
        };
        let queued = tokio::time::timeout(self.frame_wait, async {
            frames.send(frame.write_header()).await.is_ok()
                && frames.send(frame.data.clone()).await.is_ok()
        })
        .await;
        match queued {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(_) => {
                self.frames = None;
                // The next node may have answered meanwhile (say, `busy`): its answer is the
                // reason, and a busy node must not be reported as failed.
                if self.response.as_ref().is_some_and(JoinHandle::is_finished) {
                    self.outcome().await?;
                }
                return Err(self.failed(format!(
                    "{} took no data of {} for {:?}",
                    self.target, self.block, self.frame_wait
                )));
            }
        }
        self.frames = None;
        Err(match self.outcome().await {
            Err(e) => e,
            Ok(_) => self.failed(format!(
                "{} answered before the end of {}",
                self.target, self.block
            )),
        })
    }

    /// Ends the body cleanly and waits for the next node's ack.
    pub async fn finish(mut self) -> Result<WriteBlockAck, Error> {
        self.finished = true;
        self.frames = None;
        let ack = self.outcome().await?;
        if ack.block != self.block {
            return Err(self.failed(format!(
                "{} acked {} instead of {}",
                self.target, ack.block, self.block
            )));
        }
        Ok(ack)
    }

    async fn outcome(&mut self) -> Result<WriteBlockAck, Error> {
        let Some(response) = self.response.take() else {
            return Err(self.failed(format!("{} already failed", self.target)));
        };
        match tokio::time::timeout(self.ack_wait, response).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => {
                Err(self.failed(format!("forwarding to {} stopped: {join}", self.target)))
            }
            Err(_) => Err(self.failed(format!(
                "{} did not acknowledge {} in time",
                self.target, self.block
            ))),
        }
    }

    fn failed(&self, message: String) -> Error {
        pipeline_failed(&self.target, message)
    }
}

impl Drop for Downstream {
    fn drop(&mut self) {
        if !self.finished {
            self.cancel.cancel();
            // The request too: a stalled peer would keep it waiting for the ack forever.
            if let Some(response) = &self.response {
                response.abort();
            }
        }
    }
}

/// Checks an ack from `target` against the generation, length and digest we expect.
pub fn check_ack(
    target: &DatanodeId,
    ack: &WriteBlockAck,
    generation: Generation,
    length: u64,
    digest: Digest,
) -> Result<(), Error> {
    if ack.generation != generation {
        return Err(pipeline_failed(
            target,
            format!("{target} stored {} instead of {generation}", ack.generation),
        ));
    }
    if ack.length != length || ack.sha256 != digest {
        return Err(pipeline_failed(
            target,
            format!(
                "{target} stored {} bytes with digest {}, expected {length} bytes with digest {digest}",
                ack.length, ack.sha256
            ),
        ));
    }
    Ok(())
}

fn pipeline_failed(datanode: &DatanodeId, message: String) -> Error {
    Error::new(ErrorKind::PipelineFailed, message).with_datanode(datanode.clone())
}

/// The request body: queued frames until the sender finishes, or an error (which aborts the
/// request on the wire) if it was cancelled. A closed queue after a cancellation is an error
/// too, never a clean end.
fn body_stream(
    rx: mpsc::Receiver<Bytes>,
    cancel: CancellationToken,
) -> impl futures_util::Stream<Item = Result<Bytes, io::Error>> + Send + 'static {
    let aborted = || io::Error::other("block write aborted upstream");
    futures_util::stream::unfold(Some((rx, cancel)), move |state| async move {
        let (mut rx, cancel) = state?;
        let next = tokio::select! {
            biased;
            _ = cancel.cancelled() => None,
            next = rx.recv() => next,
        };
        match next {
            Some(bytes) => Some((Ok(bytes), Some((rx, cancel)))),
            None if cancel.is_cancelled() => Some((Err(aborted()), None)),
            None => None,
        }
    })
}

/// Sends the request and turns the answer into an ack or a `pipeline_failed` error naming the
/// node at fault: `target`, unless its own error already names a node further down.
async fn await_ack(
    request: reqwest::RequestBuilder,
    target: DatanodeId,
) -> Result<WriteBlockAck, Error> {
    let response = request
        .send()
        .await
        .map_err(|e| pipeline_failed(&target, format!("sending to {target}: {}", describe(&e))))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| {
        pipeline_failed(
            &target,
            format!("reading {target}'s answer: {}", describe(&e)),
        )
    })?;
    if status == reqwest::StatusCode::OK {
        return serde_json::from_slice::<WriteBlockAck>(&body)
            .map_err(|e| pipeline_failed(&target, format!("{target} sent a malformed ack: {e}")));
    }
    match serde_json::from_slice::<WireError>(&body) {
        Ok(wire) => {
            let culprit = wire.datanode.clone().unwrap_or_else(|| target.clone());
            let message = format!(
                "{target} answered {status}: {} ({})",
                wire.message, wire.kind
            );
            // A busy node stays `busy`, so the writer retries it later rather than for good.
            if wire.kind == ErrorKind::Busy {
                return Err(Error::new(ErrorKind::Busy, message).with_datanode(culprit));
            }
            Err(pipeline_failed(&culprit, message))
        }
        Err(_) => Err(pipeline_failed(
            &target,
            format!("{target} answered {status}"),
        )),
    }
}

/// An error with its chain of causes, which for a connection error is where the reason is.
pub fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
