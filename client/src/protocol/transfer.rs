//! Block data transfer between clients and datanodes, and between datanodes.
//!
//! `PUT /v1/blocks/{id}` with a framed body writes a replica. The [`PIPELINE_HEADER`] carries a
//! JSON [`WritePipeline`] naming the datanodes after this one; the receiver forwards every frame
//! to the next while it writes its own copy, and answers with a [`WriteBlockAck`] only once its
//! replica is fsynced and the downstream answered with theirs.
//!
//! `GET /v1/blocks/{id}?offset=&length=` answers with the framed chunks covering the range,
//! starting at the chunk boundary at or before `offset`; the client trims to the range.

use serde::{Deserialize, Serialize};

use crate::checksum::Digest;
use crate::ids::{BlockId, DatanodeId, Generation};
use crate::protocol::datanode::DatanodeInfo;

/// Request header carrying the JSON [`WritePipeline`] of a block write.
pub const PIPELINE_HEADER: &str = "x-granary-pipeline";

/// The rest of a write pipeline, as seen by the node receiving the request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WritePipeline {
    /// Nodes after the receiver, in order; empty at the tail of the pipeline.
    pub downstream: Vec<DatanodeInfo>,
    /// The generation the replica is finalized at.
    #[serde(default)]
    pub generation: Generation,
    /// `Some(n)`: a new segment of an existing replica. Each node reopens its finalized replica
    /// of the block (which must hold at least `n` bytes at an older generation), cuts it to `n`
    /// bytes if it holds more, and the frames continue it from byte `n`: the first frame fills
    /// the chunk `n` falls inside (`CHUNK_SIZE - n % CHUNK_SIZE` bytes when `n` is not a chunk
    /// boundary), the rest keep to the chunk grid. Until the segment is finalized the replica
    /// serves, and reports, its old state, so a crash at any point leaves either the old
    /// or the new state, never a damaged replica. `None`: a new replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub append_from: Option<u64>,
}

/// Answer to a block write: what was persisted, and on which nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteBlockAck {
    pub block: BlockId,
    #[serde(default)]
    pub generation: Generation,
    /// The replica's whole length (for a segment: including the bytes before it).
    pub length: u64,
    /// The block digest (SHA-256 over the chunk digests) of the whole replica.
    pub sha256: Digest,
    /// This node and every downstream node, in pipeline order.
    pub persisted_on: Vec<DatanodeId>,
}

/// Body of `POST /v1/blocks/{target}/clone`: make a new replica of the block `target` from
/// this node's finalized replica of `source`, which must be at `source_generation` and hold
/// exactly `length` bytes. The data file is copied locally and the new sidecar keeps the
/// source's chunk digests under `generation`. Answered with a [`WriteBlockAck`] naming this
/// node once the clone is durable and reported to the namenode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloneReplicaRequest {
    pub source: BlockId,
    pub source_generation: Generation,
    pub generation: Generation,
    pub length: u64,
}

/// Query string of a block read; absent fields mean "from the start" and "to the end".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadBlockQuery {
    pub offset: Option<u64>,
    pub length: Option<u64>,
    /// The generation the reader located (`LocatedBlock::generation`); a replica older than
    /// it answers `stale_replica`. Absent: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<Generation>,
}

/// Query string of a recovery's state request (`GET /v1/recovery/{id}`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaStateQuery {
    /// Describe the replica as if cut to this many bytes (the chunk it falls inside re-hashed
    /// over its first bytes). Absent: as it is.
    pub at: Option<u64>,
}

/// A finalized replica as a recovery primary sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaState {
    pub block: BlockId,
    pub datanode: DatanodeId,
    pub generation: Generation,
    /// Its length (or `ReplicaStateQuery::at`, if it holds at least that).
    pub length: u64,
    /// One SHA-256 per chunk of those `length` bytes.
    pub chunks: Vec<Digest>,
    /// The block digest over `chunks`.
    pub sha256: Digest,
}

/// `POST /v1/recovery/{id}/cut`: finalize the replica at `length` bytes and `generation`
/// (crash-safe: a new sidecar replaces the old atomically, then the data file is cut).
/// Refused `stale_replica` when the replica is already at `generation` or newer with another
/// length, or holds fewer than `length` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CutReplicaRequest {
    pub generation: Generation,
    pub length: u64,
}
