//! Operator views of the cluster.

use serde::{Deserialize, Serialize};

use crate::protocol::datanode::DatanodeInfo;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatanodeState {
    /// Heartbeating and in service.
    Live,
    /// Silent for `dead_after`, or its process is gone; its replicas do not count.
    Dead,
    /// Being drained: still serves reads, its blocks are copied elsewhere.
    Decommissioning,
    /// Drained: holds no block that lacks its full replica count elsewhere; may be stopped.
    Decommissioned,
    /// Away on purpose within its maintenance window: its blocks are not re-replicated.
    Maintenance,
}

/// One datanode in `admin report`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatanodeReport {
    #[serde(flatten)]
    pub info: DatanodeInfo,
    pub state: DatanodeState,
    pub capacity: u64,
    pub used: u64,
    pub remaining: u64,
    /// Replicas the namenode's block map has on this node.
    pub blocks: u64,
    pub seconds_since_heartbeat: f64,
    /// End of the maintenance window, ms since the Unix epoch, while in maintenance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_until_ms: Option<u64>,
}

/// `GET /v1/health`: the namenode is up and serving.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthResponse {
    /// Always `ok`.
    pub status: String,
}

/// `GET /v1/admin/report`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterReport {
    pub datanodes: Vec<DatanodeReport>,
    pub live_datanodes: u64,
    pub dead_datanodes: u64,
    pub decommissioning_datanodes: u64,
    pub decommissioned_datanodes: u64,
    pub maintenance_datanodes: u64,
    pub files: u64,
    pub directories: u64,
    pub blocks: u64,
    /// Blocks with fewer live replicas than their file's replication (but at least one).
    pub under_replicated_blocks: u64,
    /// Blocks of complete files with no live replica.
    pub missing_blocks: u64,
    /// Blocks with more good live replicas than their file's replication.
    pub over_replicated_blocks: u64,
    /// Blocks whose every remaining replica is corrupt.
    pub corrupt_blocks: u64,
    /// Replica copies ordered and not yet confirmed.
    pub pending_replications: u64,
    /// Bytes copied by re-replication since the namenode started (confirmed copies).
    pub re_replicated_bytes: u64,
    pub safe_mode: bool,
    pub capacity: u64,
    pub used: u64,
    pub remaining: u64,
    pub default_replication: u16,
    pub default_block_size: u64,
}

/// `GET /v1/namespace/server_defaults`: the namenode's settings clients follow (HDFS's
/// `getServerDefaults`); `fs rm` reads the trash interval here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerDefaults {
    pub default_block_size: u64,
    pub default_replication: u16,
    /// How long deleted files stay in the trash (`trash_interval`); 0: `fs rm` deletes at once.
    pub trash_interval_ms: u64,
    /// How often the namenode's trash emptier checkpoints each trash (`trash_checkpoint_interval`,
    /// or `trash_interval` when that is 0 or longer); 0 when the trash is off.
    pub trash_checkpoint_interval_ms: u64,
}
