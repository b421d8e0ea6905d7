//! Client ↔ namenode: the namespace and the block allocation for writers.

use serde::{Deserialize, Serialize};

use crate::checksum::Digest;
use crate::ids::{BlockId, DatanodeId, InodeId, RequestId};
use crate::path::FsPath;
use crate::protocol::datanode::DatanodeInfo;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    File,
    Directory,
}

/// One entry of the namespace as clients see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStatus {
    pub path: FsPath,
    #[serde(rename = "type")]
    pub kind: FileKind,
    /// Bytes in the file; 0 for directories.
    pub length: u64,
    /// Target replica count; 0 for directories.
    pub replication: u16,
    /// Block size the file was written with; 0 for directories.
    pub block_size: u64,
    /// Last modification, milliseconds since the Unix epoch.
    pub modified_ms: u64,
}

/// Starts a write. The file stays invisible to readers and listings until `complete`, unless
/// it is created complete (and empty) at once.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateRequest {
    pub path: FsPath,
    /// `None`: the cluster default.
    pub replication: Option<u16>,
    /// `None`: the cluster default.
    pub block_size: Option<u64>,
    /// Replace an existing file (never a directory).
    pub overwrite: bool,
    /// Create missing parent directories.
    pub create_parents: bool,
    /// Create the file empty and already complete, in this one call instead of create then
    /// complete: what a put of no bytes (a `_SUCCESS` marker, an empty output) needs.
    #[serde(default)]
    pub complete: bool,
    pub request_id: RequestId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateResponse {
    pub file: InodeId,
    pub replication: u16,
    pub block_size: u64,
    /// The file's status when it was created complete (`CreateRequest::complete`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<FileStatus>,
}

/// Allocates the next block of a file under construction and its write pipeline.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AddBlockRequest {
    pub path: FsPath,
    pub file: InodeId,
    /// Datanodes that failed for this writer; never chosen again for this block.
    pub excluded: Vec<DatanodeId>,
    pub request_id: RequestId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddBlockResponse {
    pub block: BlockId,
    /// The ordered pipeline: the client streams to the first, which forwards to the rest.
    /// Shorter than the file's replication when fewer datanodes are live.
    pub pipeline: Vec<DatanodeInfo>,
}

/// Gives up a block whose pipeline failed; its partial replicas are deleted later.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AbandonBlockRequest {
    pub path: FsPath,
    pub file: InodeId,
    pub block: BlockId,
}

/// A block as its writer finished it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedBlock {
    pub id: BlockId,
    pub length: u64,
    pub sha256: Digest,
    /// The datanodes whose acks the writer received. A claim only: the namenode locates
    /// replicas from the datanodes' own reports, and names claimed nodes that never reported
    /// in its `not_replicated_yet` answer.
    pub persisted_on: Vec<DatanodeId>,
}

/// Makes the file visible, atomically, with exactly these blocks in this order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CompleteRequest {
    pub path: FsPath,
    pub file: InodeId,
    pub blocks: Vec<CommittedBlock>,
    pub request_id: RequestId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompleteResponse {
    pub status: FileStatus,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MkdirRequest {
    pub path: FsPath,
    /// Create missing parents and succeed if the directory exists (`mkdir -p`).
    pub parents: bool,
    pub request_id: RequestId,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeleteRequest {
    pub path: FsPath,
    /// Required to delete a non-empty directory.
    pub recursive: bool,
    pub request_id: RequestId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteResponse {
    /// Files removed (0 for an empty directory).
    pub files: u64,
    /// Blocks whose replicas are now scheduled for deletion.
    pub blocks: u64,
}

/// Renames `src` to `dst`; `dst` must not exist and its parent must be a directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RenameRequest {
    pub src: FsPath,
    pub dst: FsPath,
    pub request_id: RequestId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenameResponse {
    pub status: FileStatus,
}

/// Query string of `stat` and `locate`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PathQuery {
    pub path: FsPath,
}

/// Query string of `list`: one page of a directory's children. Recursive listings are walks
/// the caller makes, one directory page at a time (as HDFS's `getListing`). Unknown keys
/// are refused, so a client still asking for the removed `recursive` learns it at once
/// instead of silently getting one level.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub path: FsPath,
    /// Start after the child of this name (the previous page's `next_start_after`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_after: Option<String>,
    /// Most entries wanted; the namenode answers at most its `ls_limit` (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListResponse {
    /// Children of a directory (or the file itself), in name order.
    pub entries: Vec<FileStatus>,
    /// Where the next page starts: pass it as `start_after`. `None`: nothing is left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_start_after: Option<String>,
}

/// A block of a file with where its replicas are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocatedBlock {
    pub id: BlockId,
    /// Offset of the block's first byte in the file.
    pub offset: u64,
    pub length: u64,
    pub sha256: Digest,
    /// Live replicas, the requester's own datanode first, then the rest in an order that
    /// spreads reads over the cluster.
    pub locations: Vec<DatanodeInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocatedFile {
    pub status: FileStatus,
    pub blocks: Vec<LocatedBlock>,
}

/// A reader found a replica whose bytes do not match their checksum.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReportBadReplicaRequest {
    pub block: BlockId,
    pub datanode: DatanodeId,
    pub reason: String,
}
