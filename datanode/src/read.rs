//! `GET /v1/blocks/{id}?offset=&length=`: the framed chunks covering the range, each verified
//! against its sidecar digest before it is sent. A blocking thread reads ahead a few chunks;
//! it holds the read's transfer slot, and gives both up when the reader takes nothing for
//! [`READER_IDLE_FACTOR`] stall timeouts (a stopped client keeps its connection open, and a
//! paused one, such as a pager, may resume: it then finds the stream cut and reads on from
//! another replica).
//!
//! A replica older than the generation the reader located is `stale_replica`: it missed a
//! segment, a recovery or a cut.
//!
//! A corrupt first chunk is a `422 checksum_mismatch` answer; a corrupt later chunk ends the
//! body with an error, so the client sees a broken stream, never bad bytes.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use granary_client::framing::Frame;
use granary_client::protocol::{routes, ReadBlockQuery};
use granary_client::server::{ApiError, ApiQuery, Params};
use granary_client::{BlockId, Error, ErrorKind};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::SendTimeoutError;

use crate::state::{AppState, TransferGuard};
use crate::store::ChunkReader;

/// Chunks read ahead of the network.
const READ_AHEAD_FRAMES: usize = 4;
/// A reader that takes no chunk for this many stall timeouts (1 min by default) is given up.
pub const READER_IDLE_FACTOR: u32 = 12;

pub async fn get_block(
    State(state): State<Arc<AppState>>,
    Params(block): Params<routes::ReadBlock>,
    ApiQuery(query): ApiQuery<ReadBlockQuery>,
) -> Result<Response, ApiError> {
    let transfer = state.transfers.admit(&format!("reading {block}"))?;
    let store = Arc::clone(&state.store);
    let (offset, length) = (query.offset.unwrap_or(0), query.length.unwrap_or(u64::MAX));
    let reader = tokio::task::spawn_blocking(move || store.open_chunks(block, offset, length))
        .await
        .map_err(|e| Error::internal(format!("opening {block}: {e}")))??;
    if let Some(wanted) = query.generation.filter(|&g| reader.generation() < g) {
        return Err(Error::new(
            ErrorKind::StaleReplica,
            format!(
                "replica {block} on {} is at {}, older than the {wanted} asked for",
                state.store.id(),
                reader.generation()
            ),
        )
        .with_datanode(state.store.id().clone())
        .into());
    }
    let wire_len = reader.remaining_wire_len();
    let mut frames = read_ahead(reader, state.stall_timeout * READER_IDLE_FACTOR, transfer);
    let first = match frames.recv().await {
        Some(Err(e)) => {
            state.note_corruption(block, &e);
            return Err(e.into());
        }
        Some(Ok(frame)) => Some(frame),
        None => None,
    };
    let body = BodyState {
        next: first,
        payload: None,
        frames,
        failed: false,
        state: Arc::clone(&state),
        block,
    };
    let stream = futures_util::stream::unfold(body, BodyState::next_piece);
    Ok((
        [
            (CONTENT_TYPE, "application/octet-stream".to_string()),
            (CONTENT_LENGTH, wire_len.to_string()),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Reads the chunks on a blocking thread, at most [`READ_AHEAD_FRAMES`] ahead of the consumer,
/// holding `transfer` until it stops. The channel ends after the last chunk or right after
/// the first error; it stops reading when the receiver is dropped, or takes nothing for
/// `idle` (the channel then ends with an `unavailable` error after the frames queued, so the
/// stream breaks rather than looks complete).
pub fn read_ahead(
    reader: ChunkReader,
    idle: Duration,
    transfer: TransferGuard,
) -> mpsc::Receiver<Result<Frame, Error>> {
    // One slot more than the read-ahead, kept for the error that ends a given-up read.
    let (tx, rx) = mpsc::channel(READ_AHEAD_FRAMES + 1);
    let runtime = Handle::current();
    tokio::task::spawn_blocking(move || {
        let _transfer = transfer;
        let block = reader.block();
        let Ok(give_up) = tx.clone().try_reserve_owned() else {
            return;
        };
        for item in reader {
            let failed = item.is_err();
            match runtime.block_on(tx.send_timeout(item, idle)) {
                Ok(()) if !failed => {}
                Ok(()) | Err(SendTimeoutError::Closed(_)) => break,
                Err(SendTimeoutError::Timeout(_)) => {
                    tracing::warn!(%block, "the reader took nothing for {idle:?}; giving it up");
                    give_up.send(Err(Error::new(
                        ErrorKind::Unavailable,
                        format!("read of {block} given up: the reader took nothing for {idle:?}"),
                    )));
                    break;
                }
            }
        }
    });
    rx
}

/// The response body: each frame's header, then its payload.
struct BodyState {
    next: Option<Frame>,
    payload: Option<Bytes>,
    frames: mpsc::Receiver<Result<Frame, Error>>,
    failed: bool,
    state: Arc<AppState>,
    block: BlockId,
}

impl BodyState {
    async fn next_piece(mut self) -> Option<(Result<Bytes, io::Error>, Self)> {
        if let Some(payload) = self.payload.take() {
            return Some((Ok(payload), self));
        }
        if self.failed {
            return None;
        }
        let frame = match self.next.take() {
            Some(frame) => frame,
            None => match self.frames.recv().await? {
                Ok(frame) => frame,
                Err(e) => {
                    self.state.note_corruption(self.block, &e);
                    // Erroring the body aborts the response, so the client never takes the
                    // stream for a complete one.
                    self.failed = true;
                    return Some((Err(io::Error::other(e.message)), self));
                }
            },
        };
        let header = frame.read_header();
        self.payload = Some(frame.data);
        Some((Ok(header), self))
    }
}

#[cfg(test)]
#[path = "read_tests.rs"]
mod tests;
