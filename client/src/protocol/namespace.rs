//! Client ↔ namenode: the namespace and the block allocation for writers.

use serde::{Deserialize, Serialize};

use crate::checksum::Digest;
use crate::ids::{BlockId, DatanodeId, Generation, InodeId, LeaseHolder, RequestId};
use crate::path::FsPath;
use crate::permission::Permission;
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
    /// Set while the file is open for writing (created or appended, not yet closed): who
    /// holds its lease. `length` is then what readers can read: the closed blocks plus the
    /// last block up to its last hflush.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_holder: Option<LeaseHolder>,
    /// Owner, group, permission and access time, flattened into the entry's JSON.
    #[serde(flatten)]
    pub attrs: FileAttrs,
}

/// Who owns an entry and who may do what with it, as HDFS's (and WebHDFS's) `FileStatus`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileAttrs {
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub group: String,
    /// Octal, as WebHDFS: `"755"`, `"1777"`.
    #[serde(default = "default_permission")]
    pub permission: Permission,
    /// Last read (open or locate), milliseconds since the Unix epoch, at the namenode's
    /// `access_time_precision`; 0 when never recorded.
    #[serde(default)]
    pub accessed_ms: u64,
}

fn default_permission() -> Permission {
    Permission::new(0o755)
}

/// What an answer without these fields (or a test's fixture) carries: no owner or group,
/// mode 755.
impl Default for FileAttrs {
    fn default() -> Self {
        FileAttrs {
            owner: String::new(),
            group: String::new(),
            permission: default_permission(),
            accessed_ms: 0,
        }
    }
}

/// Starts a write and takes the file's lease for `holder`. Until `complete` the file is listed
/// as open (with its holder) and reads see only what its writer hflushed; created complete
/// (and empty) at once, it takes no lease. An `overwrite` of a file another live writer holds
/// is refused `lease_held`; once that lease is past the soft limit the file is recovered first
/// (`recovery_in_progress`, retry).
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
    /// The new file's mode before the namenode's umask; `None`: 666 (so 644 under umask 022).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<Permission>,
    pub holder: LeaseHolder,
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
    /// The namenode's `lease_soft_limit`: the writer renews its lease every half of it.
    pub lease_soft_limit_ms: u64,
}

/// Allocates the next block of a file under construction and its write pipeline.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AddBlockRequest {
    pub path: FsPath,
    pub file: InodeId,
    /// Datanodes that failed for this writer; never chosen again for this block.
    pub excluded: Vec<DatanodeId>,
    /// The writer's previous block as its pipeline acknowledged it (HDFS's `addBlock`
    /// commits the previous block): a lease recovery keeps it whatever happens to the writer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<CommittedBlock>,
    pub holder: LeaseHolder,
    pub request_id: RequestId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddBlockResponse {
    pub block: BlockId,
    /// The generation the pipeline writes the new block at.
    pub generation: Generation,
    /// The ordered pipeline: the client streams to the first, which forwards to the rest.
    /// Shorter than the file's replication when fewer datanodes are live.
    pub pipeline: Vec<DatanodeInfo>,
}

/// Allocates the next block of a file under construction as a clone of `source`, a committed
/// block of another file: its replicas are made by the datanodes holding `source`, each
/// copying its own replica locally (`CloneReplica`), so no byte passes through the client.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AddClonedBlockRequest {
    pub path: FsPath,
    pub file: InodeId,
    pub source: BlockId,
    /// The generation the client located `source` at: a block changed since is refused
    /// (`stale_replica`), so the clone is of the bytes the client saw.
    pub source_generation: Generation,
    /// As [`AddBlockRequest::previous`]: the writer's previous block, committed now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<CommittedBlock>,
    pub holder: LeaseHolder,
    pub request_id: RequestId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddClonedBlockResponse {
    pub block: BlockId,
    /// The generation the clones are finalized at.
    pub generation: Generation,
    /// The source's committed length and digest, which the clones keep.
    pub length: u64,
    pub sha256: Digest,
    /// The live datanodes holding `source` at its committed generation: the ones to ask.
    pub holders: Vec<DatanodeInfo>,
}

/// Gives up a block whose pipeline failed; its partial replicas are deleted later.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AbandonBlockRequest {
    pub path: FsPath,
    pub file: InodeId,
    pub block: BlockId,
    pub holder: LeaseHolder,
}

/// A block as its writer finished it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedBlock {
    pub id: BlockId,
    /// The generation the pipeline acknowledged the block at.
    pub generation: Generation,
    pub length: u64,
    pub sha256: Digest,
    /// The datanodes whose acks the writer received. A claim only: the namenode locates
    /// replicas from the datanodes' own reports, and names claimed nodes that never reported
    /// in its `not_replicated_yet` answer.
    pub persisted_on: Vec<DatanodeId>,
}

/// Closes the file and releases the lease, atomically. `blocks` are the blocks this writer
/// wrote, in order: after the blocks the file had when it was opened (for an append, starting
/// with the reopened last block if the append filled it). The namenode commits each at the
/// generation, length and digest its datanodes reported, never at the writer's word.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CompleteRequest {
    pub path: FsPath,
    pub file: InodeId,
    pub blocks: Vec<CommittedBlock>,
    pub holder: LeaseHolder,
    pub request_id: RequestId,
}

/// Opens a complete file for appending and takes its lease for `holder` (HDFS's `append`).
/// Refused `lease_held` while another live writer holds it; past that writer's soft limit the
/// file is recovered first (`recovery_in_progress`: retry until it is closed).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AppendRequest {
    pub path: FsPath,
    pub holder: LeaseHolder,
    pub request_id: RequestId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendResponse {
    pub file: InodeId,
    pub replication: u16,
    pub block_size: u64,
    /// The file's length when opened: where the appended bytes start.
    pub length: u64,
    /// As [`CreateResponse::lease_soft_limit_ms`].
    pub lease_soft_limit_ms: u64,
    /// The file's last block when it has room (holds fewer than `block_size` bytes): the
    /// append fills it first, under a new generation, on the datanodes that hold it. `None`:
    /// the append starts a new block (`add_block`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_block: Option<OpenBlock>,
}

/// The last block of a file open for writing, reopened for a new segment of writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenBlock {
    pub block: BlockId,
    /// The new generation the segment is written at.
    pub generation: Generation,
    /// Bytes the block holds (and readers see) now: where the segment starts.
    pub length: u64,
    /// The pipeline, in order: the live datanodes holding the block at `length`.
    pub pipeline: Vec<DatanodeInfo>,
}

/// Reopens the last block of a file open for writing for a new segment: after an hflush
/// (the next bytes go to the same block), or to rebuild a failed pipeline of an append or of a
/// flushed block from the survivors (HDFS's `updateBlockForPipeline` and `updatePipeline` in
/// one). The block gets a new generation, so replicas that missed the segment go stale.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReopenBlockRequest {
    pub path: FsPath,
    pub file: InodeId,
    pub block: BlockId,
    /// Datanodes that failed for this writer; left out of the pipeline.
    pub excluded: Vec<DatanodeId>,
    pub holder: LeaseHolder,
    pub request_id: RequestId,
}

/// Makes the last block's bytes up to `block.length` visible to new readers (HDFS's `fsync`
/// after an hflush or hsync): the pipeline has acknowledged them at `block.generation`. The
/// namenode journals the new length, so readers see it after a restart too.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FlushRequest {
    pub path: FsPath,
    pub file: InodeId,
    pub block: CommittedBlock,
    pub holder: LeaseHolder,
    pub request_id: RequestId,
}

/// Keeps every lease of `holder` alive; the client library sends it every
/// `lease_soft_limit / 2` while it has a file open.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RenewLeaseRequest {
    pub holder: LeaseHolder,
}

/// Closes a file whose writer went away, now, whatever the age of its lease (HDFS's
/// `recoverLease`, `hdfs debug recoverLease`). Answers at once; call again to see whether the
/// file is closed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecoverLeaseRequest {
    pub path: FsPath,
    pub request_id: RequestId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoverLeaseResponse {
    /// The file is closed: it was not open, or its recovery has finished.
    pub closed: bool,
    pub status: FileStatus,
}

/// Shortens a complete file to `length` bytes (HDFS's `truncate`). Whole blocks past it are
/// dropped at once; the block `length` falls inside is cut on its datanodes under a new
/// generation, and the file stays open (leased to `holder`) until that is done.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TruncateRequest {
    pub path: FsPath,
    pub length: u64,
    pub holder: LeaseHolder,
    pub request_id: RequestId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruncateResponse {
    /// The file is closed at its new length (the cut fell on a block boundary); `false` while
    /// its last block is being cut.
    pub closed: bool,
    pub status: FileStatus,
}

/// Moves the blocks of `sources` onto the end of `target`, in order, without copying data,
/// and deletes the sources (HDFS's `concat`). All must be complete files in one directory,
/// none of them `target` or repeated.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConcatRequest {
    pub target: FsPath,
    pub sources: Vec<FsPath>,
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
    /// The new directories' mode before the namenode's umask; `None`: 777 (so 755 under
    /// umask 022).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<Permission>,
    pub request_id: RequestId,
}

/// Sets the mode of `path` (HDFS's `setPermission`): its owner or the superuser.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SetPermissionRequest {
    pub path: FsPath,
    pub permission: Permission,
    pub request_id: RequestId,
}

/// Sets the owner and/or group of `path` (HDFS's `setOwner`): only the superuser may change
/// the owner; the owner may change the group to one it belongs to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SetOwnerRequest {
    pub path: FsPath,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
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
    /// The generation readers ask the datanodes for: older replicas are refused.
    pub generation: Generation,
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
