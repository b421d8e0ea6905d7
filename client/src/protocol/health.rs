//! Cluster health and administration: fsck, safe mode, decommission, maintenance.

use serde::{Deserialize, Serialize};

use crate::ids::{BlockId, DatanodeId, LeaseHolder};
use crate::path::FsPath;

/// Query string of `GET /v1/admin/fsck`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FsckQuery {
    pub path: FsPath,
    /// Also list the files open for writing (`fsck -openforwrite`).
    #[serde(default)]
    pub open_for_write: bool,
}

/// A file open for writing, as `fsck -openforwrite` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenFileReport {
    pub path: FsPath,
    pub holder: LeaseHolder,
    /// Time since the holder last renewed its lease (since the namenode started, if it has not
    /// renewed since).
    pub lease_age_ms: u64,
    /// What readers see now.
    pub length: u64,
    /// Its last block is being recovered.
    pub recovering: bool,
}

/// `HEALTHY` when no block below the path is missing or corrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HealthStatus {
    Healthy,
    Corrupt,
}

/// One block that is not as it should be, and the file it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockHealth {
    pub block: BlockId,
    pub file: FsPath,
    /// Replicas on live datanodes that are not known to be corrupt.
    pub live_replicas: u16,
    /// The file's replication.
    pub expected_replicas: u16,
    /// Replicas known to be corrupt, not yet deleted.
    pub corrupt_replicas: u16,
}

/// `granary admin fsck`: every block below `path` checked against the block map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsckReport {
    pub path: FsPath,
    pub status: HealthStatus,
    pub files: u64,
    pub directories: u64,
    pub blocks: u64,
    pub bytes: u64,
    /// Fewer good replicas than expected, but at least one.
    pub under_replicated: Vec<BlockHealth>,
    /// More good replicas than expected (trimmed shortly).
    pub over_replicated: Vec<BlockHealth>,
    /// No replica at all.
    pub missing: Vec<BlockHealth>,
    /// Replicas exist, but every one of them is corrupt.
    pub corrupt: Vec<BlockHealth>,
    /// Files open for writing, when asked for (`FsckQuery::open_for_write`).
    #[serde(default)]
    pub open_files: Vec<OpenFileReport>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SafeModeAction {
    Get,
    Enter,
    Leave,
}

/// `POST /v1/admin/safemode`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SafeModeRequest {
    pub action: SafeModeAction,
}

/// Whether the namespace is read-only, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SafeModeStatus {
    pub on: bool,
    /// Entered by an operator: only an operator leaves it.
    pub manual: bool,
    /// Blocks of complete files with at least one reported replica.
    pub reported_blocks: u64,
    pub total_blocks: u64,
    /// Fraction of blocks that must be reported before safe mode ends by itself.
    pub threshold: f64,
    pub message: String,
}

/// `POST /v1/admin/decommission` and `/v1/admin/recommission`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DatanodeAdminRequest {
    pub datanode: DatanodeId,
}

/// `POST /v1/admin/maintenance`: the datanode is about to be restarted on purpose; its replicas
/// are not re-replicated while it is away, up to `duration_ms` (default: the namenode's
/// `max_maintenance`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MaintenanceRequest {
    pub datanode: DatanodeId,
    pub duration_ms: Option<u64>,
}

/// `POST /v1/namespace/set_replication`: a new replication for a file; the cluster converges.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SetReplicationRequest {
    pub path: FsPath,
    pub replication: u16,
    pub request_id: crate::ids::RequestId,
}
