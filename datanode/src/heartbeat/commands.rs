//! Running the commands the namenode sends back in heartbeat and block-report replies.

use std::sync::Arc;

use granary_client::protocol::{DatanodeCommand, DatanodeInfo, WriteBlockAck};
use granary_client::{BlockId, Error};

use super::Heartbeats;
use crate::api::AppState;
use crate::downstream::Downstream;
use crate::read::read_ahead;

/// Starts every command in the background, so a slow one never delays the next heartbeat.
pub(super) fn run(heartbeats: &Arc<Heartbeats>, commands: Vec<DatanodeCommand>) {
    for command in commands {
        match command {
            DatanodeCommand::Delete { blocks } => {
                let node = Arc::clone(&heartbeats.node);
                tokio::spawn(delete(node, blocks));
            }
            DatanodeCommand::Replicate { block, targets } => {
                let heartbeats = Arc::clone(heartbeats);
                tokio::spawn(async move {
                    let Ok(_permit) = heartbeats.replications.acquire().await else {
                        return;
                    };
                    match replicate(&heartbeats.node, block, &targets).await {
                        Ok(ack) => tracing::info!(%block, to = ?ack.persisted_on, "replica copied"),
                        Err(e) => tracing::warn!(%block, "replication failed: {e}"),
                    }
                });
            }
        }
    }
}

/// Deletes the replicas and reports them deleted (also those we did not have, so the
/// namenode's block map forgets them either way).
async fn delete(node: Arc<AppState>, blocks: Vec<BlockId>) {
    let store = Arc::clone(&node.store);
    let outcome = tokio::task::spawn_blocking(move || {
        blocks
            .into_iter()
            .filter(|&block| match store.delete(block) {
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!(%block, "deleting replica failed: {e}");
                    false
                }
            })
            .collect::<Vec<_>>()
    })
    .await;
    match outcome {
        Ok(deleted) => deleted
            .into_iter()
            .for_each(|block| node.reports.deleted(block)),
        Err(e) => tracing::warn!("deleting replicas: {e}"),
    }
}

/// Copies a local replica, verified chunk by chunk, to `targets` as a write pipeline.
pub async fn replicate(
    node: &AppState,
    block: BlockId,
    targets: &[DatanodeInfo],
) -> Result<WriteBlockAck, Error> {
    let (first, rest) = targets
        .split_first()
        .ok_or_else(|| Error::invalid_argument("replication without targets"))?;
    let _transfer = node.transfers.start();
    let store = Arc::clone(&node.store);
    let reader = tokio::task::spawn_blocking(move || store.open_chunks(block, 0, u64::MAX))
        .await
        .map_err(|e| Error::internal(format!("opening {block}: {e}")))??;
    let (length, digest) = (reader.block_length(), reader.block_digest());
    let mut frames = read_ahead(reader);
    let mut downstream = Downstream::start(&node.http, block, first, rest);
    while let Some(frame) = frames.recv().await {
        downstream.send(&frame?).await?;
    }
    let ack = downstream.finish().await?;
    crate::downstream::check_ack(&first.id, &ack, length, digest)?;
    Ok(ack)
}
