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
use crate::ids::{BlockId, DatanodeId};
use crate::protocol::datanode::DatanodeInfo;

/// Request header carrying the JSON [`WritePipeline`] of a block write.
pub const PIPELINE_HEADER: &str = "x-granary-pipeline";

/// The rest of a write pipeline, as seen by the node receiving the request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WritePipeline {
    /// Nodes after the receiver, in order; empty at the tail of the pipeline.
    pub downstream: Vec<DatanodeInfo>,
}

/// Answer to a block write: what was persisted, and on which nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteBlockAck {
    pub block: BlockId,
    pub length: u64,
    /// The block digest (SHA-256 over the chunk digests).
    pub sha256: Digest,
    /// This node and every downstream node, in pipeline order.
    pub persisted_on: Vec<DatanodeId>,
}

/// Query string of a block read; absent fields mean "from the start" and "to the end".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadBlockQuery {
    pub offset: Option<u64>,
    pub length: Option<u64>,
}
