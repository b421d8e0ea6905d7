//! Datanode ↔ namenode: registration, heartbeats, block reports and the commands the namenode
//! sends back in its replies.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::checksum::Digest;
use crate::ids::{BlockId, DatanodeId, Generation};

/// Rack of a datanode that was not given one.
pub const DEFAULT_RACK: &str = "/default-rack";

/// Where a datanode is and who it is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DatanodeInfo {
    pub id: DatanodeId,
    /// The datanode's HTTP address for block data.
    pub addr: SocketAddr,
    pub rack: String,
}

/// Disk usage of a datanode's data directory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageReport {
    pub capacity: u64,
    /// Bytes held by finalized replicas.
    pub used: u64,
    pub remaining: u64,
    pub blocks: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RegisterRequest {
    pub datanode: DatanodeInfo,
    pub storage: StorageReport,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterResponse {}

/// Sent every heartbeat interval. A namenode that does not know the sender answers
/// `unknown_datanode`; the datanode then registers again and sends a full block report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    pub id: DatanodeId,
    pub storage: StorageReport,
    /// Block reads and writes in progress, a load hint for placement.
    pub active_transfers: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    pub commands: Vec<DatanodeCommand>,
}

/// A finalized replica as a datanode reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReplicaReport {
    pub block: BlockId,
    /// The generation the replica was finalized at; older than the namenode's record means
    /// stale (deleted, never located). Replicas written before generations existed are 0.
    #[serde(default)]
    pub generation: Generation,
    pub length: u64,
    /// The block digest (SHA-256 over the chunk digests) the datanode computed while it
    /// received the replica. Incremental reports of newly written replicas carry it: the
    /// namenode commits a block at the length and digest its datanodes reported, never at the
    /// writer's word. Full reports leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Digest>,
}

/// Every finalized replica a datanode holds; sent at registration and periodically.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BlockReportRequest {
    pub id: DatanodeId,
    pub replicas: Vec<ReplicaReport>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockReportResponse {
    pub commands: Vec<DatanodeCommand>,
}

/// Incremental report: replicas finalized or deleted since the last one.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BlockReceivedRequest {
    pub id: DatanodeId,
    pub received: Vec<ReplicaReport>,
    #[serde(default)]
    pub deleted: Vec<BlockId>,
}

/// Work the namenode hands a datanode in a heartbeat or block-report reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum DatanodeCommand {
    /// Delete these replicas (their files were deleted, or they are excess or corrupt).
    Delete { blocks: Vec<BlockId> },
    /// Copy this replica to the targets, as a write pipeline in that order.
    Replicate {
        block: BlockId,
        targets: Vec<DatanodeInfo>,
    },
    /// Lead the recovery of a file's last block, as its primary (HDFS's
    /// `BlockRecoveryCommand`): ask every replica in `replicas` (this node among them) for
    /// its state, choose the length (`length` when given: a truncate; otherwise the longest
    /// prefix of verified chunks that every reachable replica holds), cut every replica to it
    /// under `generation`, and report the result with `commit_block_sync`. Replicas that do
    /// not answer are left out; a replica at `generation` or newer already is refused.
    Recover {
        block: BlockId,
        generation: Generation,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        length: Option<u64>,
        replicas: Vec<DatanodeInfo>,
    },
}

/// The end of a block recovery, from its primary (HDFS's `commitBlockSynchronization`). The
/// namenode accepts it only for the recovery it started last (the same `generation`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CommitBlockSyncRequest {
    /// The primary.
    pub id: DatanodeId,
    pub block: BlockId,
    pub generation: Generation,
    /// `None`: no replica holds a byte of the block (drop it from the file).
    pub recovered: Option<RecoveredBlock>,
}

/// The block as the recovery left it: every listed node holds it at `generation`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveredBlock {
    pub length: u64,
    pub sha256: Digest,
    pub holders: Vec<DatanodeId>,
}

/// Query string of the lifeline and command long-poll routes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DatanodeQuery {
    pub id: DatanodeId,
}

/// A `Replicate` command that failed, so the namenode re-plans it now instead of waiting for
/// its timeout.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReplicationFailedRequest {
    /// The source datanode that ran the copy.
    pub id: DatanodeId,
    pub block: BlockId,
    /// The targets of the failed copy, in pipeline order.
    pub targets: Vec<DatanodeId>,
    pub reason: String,
}
