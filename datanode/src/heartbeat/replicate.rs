//! Copying a local replica to other datanodes on the namenode's command: its chunks, each
//! verified against the sidecar as it is read, stream as a framed `PUT` to the first target,
//! which forwards them down the rest of the targets as in a write pipeline. At most a few
//! chunks are in memory at a time, never the whole block.

use std::sync::Arc;

use granary_client::protocol::{DatanodeInfo, WriteBlockAck};
use granary_client::{BlockId, Error};
use tokio::time::Instant;

use crate::downstream::{check_ack, Downstream, Segment};
use crate::read::{read_ahead, READER_IDLE_FACTOR};
use crate::state::AppState;

/// Copies the replica of `block` to `targets` and logs the outcome with the bytes sent. A
/// replica marked corrupt is never sent; one found corrupt while reading is marked so.
pub async fn replicate(
    node: &AppState,
    block: BlockId,
    targets: &[DatanodeInfo],
) -> Result<WriteBlockAck, Error> {
    let started = Instant::now();
    let mut copied = 0;
    let outcome = copy(node, block, targets, &mut copied).await;
    let to: Vec<_> = targets.iter().map(|t| t.id.as_str()).collect();
    match &outcome {
        Ok(ack) => tracing::info!(
            %block, bytes = copied, ?to, persisted_on = ?ack.persisted_on,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "replica copied"
        ),
        Err(e) => tracing::warn!(%block, bytes = copied, ?to, "replica copy failed: {e}"),
    }
    outcome
}

async fn copy(
    node: &AppState,
    block: BlockId,
    targets: &[DatanodeInfo],
    copied: &mut u64,
) -> Result<WriteBlockAck, Error> {
    let (first, rest) = targets
        .split_first()
        .ok_or_else(|| Error::invalid_argument("replication without targets"))?;
    let transfer = node.transfers.admit(&format!("copying {block}"))?;
    let store = Arc::clone(&node.store);
    let reader = tokio::task::spawn_blocking(move || store.open_chunks(block, 0, u64::MAX))
        .await
        .map_err(|e| Error::internal(format!("opening {block}: {e}")))?
        .map_err(|e| local_failure(node, block, e))?;
    let (length, digest) = (reader.block_length(), reader.block_digest());
    // A copy is the replica as it is, at its own generation.
    let segment = Segment {
        generation: reader.generation(),
        append_from: None,
    };
    // The consumer is our own forwarding, which gives up on a stalled target by itself.
    let mut frames = read_ahead(reader, node.stall_timeout * READER_IDLE_FACTOR, transfer);
    let mut downstream =
        Downstream::start(&node.http, block, segment, first, rest, node.stall_timeout);
    while let Some(frame) = frames.recv().await {
        let frame = frame.map_err(|e| local_failure(node, block, e))?;
        downstream.send(&frame).await?;
        *copied += frame.data.len() as u64;
    }
    let ack = downstream.finish().await?;
    check_ack(&first.id, &ack, segment.generation, length, digest)?;
    Ok(ack)
}

/// Reading our own replica failed: a checksum failure marks it corrupt (see
/// [`AppState::note_corruption`]).
fn local_failure(node: &AppState, block: BlockId, e: Error) -> Error {
    node.note_corruption(block, &e);
    e
}
