//! Helpers for the lease, append, truncate and concat tests: a writer's calls, datanode
//! reports at a generation, and the commands a datanode was sent.

use granary_client::protocol::*;
use granary_client::{
    BlockId, DatanodeId, Digest, Error, Generation, InodeId, LeaseHolder, RequestId,
};

use super::{block_received, create_req, p, peer_of, rid, Namesystem};

pub(super) fn holder(name: &str) -> LeaseHolder {
    name.parse().unwrap()
}

/// Opens `path` for `writer` (creating parents).
pub(super) async fn open(nn: &Namesystem, path: &str, writer: &str) -> Result<InodeId, Error> {
    let req = CreateRequest {
        permission: None,
        holder: holder(writer),
        ..create_req(path, RequestId::new())
    };
    Ok(nn.create(req).await?.file)
}

pub(super) async fn add(
    nn: &Namesystem,
    path: &str,
    file: InodeId,
    writer: &str,
    previous: Option<CommittedBlock>,
) -> Result<AddBlockResponse, Error> {
    let req = AddBlockRequest {
        path: p(path),
        file,
        excluded: Vec::new(),
        previous,
        holder: holder(writer),
        request_id: RequestId::new(),
    };
    nn.add_block(req, None).await
}

pub(super) async fn append(
    nn: &Namesystem,
    path: &str,
    writer: &str,
) -> Result<AppendResponse, Error> {
    let req = AppendRequest {
        path: p(path),
        holder: holder(writer),
        request_id: RequestId::new(),
    };
    nn.append(req, None).await
}

pub(super) async fn complete(
    nn: &Namesystem,
    path: &str,
    file: InodeId,
    writer: &str,
    blocks: Vec<CommittedBlock>,
) -> Result<FileStatus, Error> {
    let req = CompleteRequest {
        path: p(path),
        file,
        blocks,
        holder: holder(writer),
        request_id: RequestId::new(),
    };
    Ok(nn.complete(req).await?.status)
}

/// Bytes `n` of a block as far as digests go: each state its own digest.
pub(super) fn digest(n: u64) -> Digest {
    Digest::of(&n.to_be_bytes())
}

pub(super) fn block_at(id: BlockId, generation: u64, length: u64) -> CommittedBlock {
    CommittedBlock {
        id,
        generation: Generation(generation),
        length,
        sha256: digest(length),
        persisted_on: Vec::new(),
    }
}

/// Datanode `dn` finalized its replica of `block` at `generation` with `length` bytes.
pub(super) fn report(
    nn: &Namesystem,
    dn: &DatanodeId,
    block: BlockId,
    generation: u64,
    length: u64,
) {
    let req = BlockReceivedRequest {
        id: dn.clone(),
        received: vec![ReplicaReport {
            block,
            generation: Generation(generation),
            length,
            sha256: Some(digest(length)),
        }],
        deleted: Vec::new(),
    };
    block_received(nn, req).unwrap();
}

pub(super) fn ids(pipeline: &[DatanodeInfo]) -> Vec<DatanodeId> {
    pipeline.iter().map(|d| d.id.clone()).collect()
}

/// The commands queued for `dn` (taken, as a heartbeat reply would).
pub(super) fn commands(nn: &Namesystem, dn: &DatanodeId) -> Vec<DatanodeCommand> {
    nn.lock().datanodes.take_commands(dn).unwrap()
}

/// The one `Recover` command queued for any of `nodes`: (primary, block, generation,
/// length, replicas).
pub(super) fn recover_command(
    nn: &Namesystem,
    nodes: &[DatanodeId],
) -> (
    DatanodeId,
    BlockId,
    Generation,
    Option<u64>,
    Vec<DatanodeId>,
) {
    let mut found = Vec::new();
    for dn in nodes {
        for command in commands(nn, dn) {
            if let DatanodeCommand::Recover {
                block,
                generation,
                length,
                replicas,
            } = command
            {
                found.push((dn.clone(), block, generation, length, ids(&replicas)));
            }
        }
    }
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

/// The primary's `commit_block_sync`: every node in `holders` cut to `length`.
pub(super) async fn commit_sync(
    nn: &Namesystem,
    primary: &DatanodeId,
    block: BlockId,
    generation: Generation,
    recovered: Option<(u64, Vec<DatanodeId>)>,
) -> Result<(), Error> {
    let req = CommitBlockSyncRequest {
        id: primary.clone(),
        block,
        generation,
        recovered: recovered.map(|(length, holders)| RecoveredBlock {
            length,
            sha256: digest(length),
            holders,
        }),
    };
    nn.commit_block_sync(req, peer_of(nn, primary)).await
}

pub(super) async fn recover_lease(nn: &Namesystem, path: &str) -> RecoverLeaseResponse {
    let req = RecoverLeaseRequest {
        path: p(path),
        request_id: rid("recover"),
    };
    nn.recover_lease(req).await.unwrap()
}
