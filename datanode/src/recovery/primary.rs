//! Leading the recovery of one block (the design's steps 1–5): ask every replica for its
//! state, choose the length (the truncate's, or the longest prefix of verified chunks every
//! answering replica holds), cut every answering replica to it at the recovery's generation,
//! and commit the result to the namenode with the replicas that agree.

use std::time::Duration;

use futures_util::future::join_all;
use granary_client::checksum::CHUNK_SIZE;
use granary_client::protocol::{
    CommitBlockSyncRequest, CutReplicaRequest, DatanodeInfo, RecoveredBlock, ReplicaState,
};
use granary_client::{BlockId, Digest, Error, Generation};

use super::calls;
use crate::heartbeat::NamenodeLink;
use crate::state::AppState;

/// Attempts of the namenode call on transient errors, doubling the pause from the first.
const COMMIT_ATTEMPTS: u32 = 6;
const FIRST_PAUSE: Duration = Duration::from_millis(200);

/// A `DatanodeCommand::Recover`.
#[derive(Clone, Debug)]
pub struct Recovery {
    pub block: BlockId,
    pub generation: Generation,
    /// A truncate's cut; `None`: the common prefix.
    pub length: Option<u64>,
    pub replicas: Vec<DatanodeInfo>,
}

/// How a recovery ended, for logs and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No replica answered (or none could be cut): nothing committed; the namenode picks
    /// another primary after its `recovery_timeout`.
    NoReplica,
    /// Committed with this result (`None`: the block holds no byte).
    Committed(Option<RecoveredBlock>),
}

/// Runs the recovery and logs how it ended.
pub async fn lead(node: &AppState, namenode: Option<&NamenodeLink>, recovery: &Recovery) {
    let block = recovery.block;
    tracing::info!(%block, generation = %recovery.generation, length = ?recovery.length, replicas = recovery.replicas.len(), "leading a block recovery");
    match recover(node, namenode, recovery).await {
        Ok(Outcome::NoReplica) => {
            tracing::warn!(%block, "no replica could be recovered; leaving it to the namenode")
        }
        Ok(Outcome::Committed(result)) => {
            tracing::info!(%block, ?result, "block recovery committed")
        }
        Err(e) => tracing::warn!(%block, "block recovery failed: {e}"),
    }
}

pub async fn recover(
    node: &AppState,
    namenode: Option<&NamenodeLink>,
    recovery: &Recovery,
) -> Result<Outcome, Error> {
    let (block, generation) = (recovery.block, recovery.generation);
    let states = ask(node, recovery, &recovery.replicas, None).await;
    let (length, holders) = match recovery.length {
        Some(length) => {
            let longer = states.into_iter().filter(|(_, s)| s.length >= length);
            (length, longer.map(|(node, _)| node).collect())
        }
        None => match states.iter().map(|(_, s)| s.length).min() {
            None => (0, Vec::new()),
            Some(shortest) => {
                let nodes: Vec<_> = states.into_iter().map(|(node, _)| node).collect();
                let at = ask(node, recovery, &nodes, Some(shortest)).await;
                let agreeing: Vec<_> = at.iter().filter(|(_, s)| s.length == shortest).collect();
                let length = common_prefix(agreeing.iter().map(|(_, s)| s), shortest);
                (
                    length,
                    agreeing.into_iter().map(|(node, _)| node.clone()).collect(),
                )
            }
        },
    };
    if holders.is_empty() {
        return Ok(Outcome::NoReplica);
    }
    if length == 0 {
        commit(node, namenode, block, generation, None).await?;
        return Ok(Outcome::Committed(None));
    }
    let request = CutReplicaRequest { generation, length };
    let cuts = join_all(
        holders
            .iter()
            .map(|target| calls::cut(node, target, block, request)),
    )
    .await;
    let mut cut = Vec::new();
    for (target, result) in holders.iter().zip(cuts) {
        match result {
            Ok(state) if state.length == length && state.generation == generation => {
                cut.push((target.id.clone(), state.sha256))
            }
            Ok(state) => {
                tracing::warn!(%block, node = %target.id, "cut to {} bytes at {}, not as asked; left out", state.length, state.generation)
            }
            Err(e) => tracing::warn!(%block, node = %target.id, "cut failed; left out: {e}"),
        }
    }
    let Some(sha256) = majority(cut.iter().map(|(_, digest)| *digest)) else {
        return Ok(Outcome::NoReplica);
    };
    let recovered = RecoveredBlock {
        length,
        sha256,
        holders: cut
            .into_iter()
            .filter(|(_, digest)| *digest == sha256)
            .map(|(id, _)| id)
            .collect(),
    };
    commit(node, namenode, block, generation, Some(recovered.clone())).await?;
    Ok(Outcome::Committed(Some(recovered)))
}

/// Asks each of `nodes` for its state (`at`, if given); keeps those that answer at a
/// generation older than the recovery's.
async fn ask(
    node: &AppState,
    recovery: &Recovery,
    nodes: &[DatanodeInfo],
    at: Option<u64>,
) -> Vec<(DatanodeInfo, ReplicaState)> {
    let block = recovery.block;
    let answers = join_all(
        nodes
            .iter()
            .map(|target| calls::state(node, target, block, at)),
    )
    .await;
    let mut states = Vec::new();
    for (target, answer) in nodes.iter().zip(answers) {
        match answer {
            Ok(state) if state.generation >= recovery.generation => {
                tracing::info!(%block, node = %target.id, "replica already at {}; left out", state.generation)
            }
            Ok(state) => states.push((target.clone(), state)),
            Err(e) => tracing::info!(%block, node = %target.id, "no state; left out: {e}"),
        }
    }
    states
}

/// `length` if every state's chunks agree, else the start of the first chunk where any two
/// differ. Every state describes exactly `length` bytes.
fn common_prefix<'a>(states: impl Iterator<Item = &'a ReplicaState> + Clone, length: u64) -> u64 {
    let mut first = states.clone().map(|s| &s.chunks);
    let Some(reference) = first.next() else {
        return 0;
    };
    let differs =
        (0..reference.len()).find(|&i| states.clone().any(|s| s.chunks.get(i) != reference.get(i)));
    match differs {
        Some(chunk) => (chunk * CHUNK_SIZE) as u64,
        None => length,
    }
}

/// The digest most of the cut replicas have (the first of those tied).
fn majority(digests: impl Iterator<Item = Digest>) -> Option<Digest> {
    let mut counts: Vec<(Digest, usize)> = Vec::new();
    for digest in digests {
        match counts.iter_mut().find(|(d, _)| *d == digest) {
            Some((_, count)) => *count += 1,
            None => counts.push((digest, 1)),
        }
    }
    let best = counts.iter().map(|(_, n)| *n).max()?;
    counts.into_iter().find(|(_, n)| *n == best).map(|(d, _)| d)
}

/// `commit_block_sync`, retried on transient errors with a doubling pause (bounded).
async fn commit(
    node: &AppState,
    namenode: Option<&NamenodeLink>,
    block: BlockId,
    generation: Generation,
    recovered: Option<RecoveredBlock>,
) -> Result<(), Error> {
    let Some(link) = namenode else {
        return Err(Error::internal("no namenode to commit the recovery to"));
    };
    let request = CommitBlockSyncRequest {
        id: node.store.id().clone(),
        block,
        generation,
        recovered,
    };
    let mut pause = FIRST_PAUSE;
    let mut attempt = 1;
    loop {
        match link.commit_block_sync(&request).await {
            Ok(()) => return Ok(()),
            Err(e) if e.kind.is_transient() && attempt < COMMIT_ATTEMPTS => {
                tracing::debug!(%block, attempt, "commit_block_sync failed, retrying: {e}");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(node.stall_timeout.max(FIRST_PAUSE));
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
