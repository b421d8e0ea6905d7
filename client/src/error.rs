//! The one error type that crosses the wire: a stable `kind` plus a human `message`.
//!
//! Servers answer every failed request with an HTTP status derived from the kind and a JSON
//! [`WireError`] body; clients turn that body back into an [`Error`] with the same kind, so a
//! caller can match on `ErrorKind` whichever process the failure happened in.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::DatanodeId;

/// Stable error kinds. The snake_case names are part of the wire protocol and of `--json`
/// output; add new kinds, never rename old ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A path that is not absolute, contains `..`, an empty component, NUL, or is too long.
    InvalidPath,
    /// A request that is malformed or has an argument out of range.
    InvalidArgument,
    NotFound,
    AlreadyExists,
    NotADirectory,
    IsADirectory,
    DirectoryNotEmpty,
    /// The file is still being written, or the caller does not hold its lease.
    UnderConstruction,
    /// The namenode is in safe mode and refuses namespace changes.
    SafeMode,
    /// No live datanode can take a new block.
    NoDatanodes,
    /// A datanode the namenode does not know (for example after a namenode restart).
    UnknownDatanode,
    UnknownBlock,
    /// Stored or received bytes do not match their SHA-256.
    ChecksumMismatch,
    /// A node of a write pipeline failed; `datanode` names it when known.
    PipelineFailed,
    /// `complete` came before enough datanodes reported the file's last blocks; retry it
    /// shortly (HDFS's NotReplicatedYetException).
    NotReplicatedYet,
    /// A writer's claim about a block (its length or digest) disagrees with what the
    /// datanodes holding it reported.
    BlockMismatch,
    /// A datanode id is registered, alive, at another address.
    DatanodeConflict,
    /// A server could not be reached or did not answer in time.
    Unavailable,
    /// A local or remote disk error.
    Io,
    /// A datanode at its limit of concurrent block transfers (`max_transfers`) refused a new
    /// one: try another replica, or the same one again after a back-off (HTTP 503 with
    /// `Retry-After`).
    Busy,
    /// Another live writer holds the file's lease; the message names the holder.
    LeaseHeld,
    /// The caller's lease on the file is gone (recovered by another writer or by the namenode
    /// after the hard limit), or the caller never held it.
    LeaseExpired,
    /// The file's last block is being recovered (after its writer's lease expired, or a
    /// truncate); retry shortly, the file closes by itself (HDFS's
    /// RecoveryInProgressException).
    RecoveryInProgress,
    /// A replica at an older generation than the one asked for: it missed an append, a
    /// recovery or a truncate, and is never served.
    StaleReplica,
    /// The caller lacks the permission the operation needs (HDFS's AccessControlException);
    /// the message names the user, the access and the inode, as HDFS's.
    PermissionDenied,
    /// A bug or an unexpected state on the server.
    Internal,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidPath => "invalid_path",
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::NotADirectory => "not_a_directory",
            ErrorKind::IsADirectory => "is_a_directory",
            ErrorKind::DirectoryNotEmpty => "directory_not_empty",
            ErrorKind::UnderConstruction => "under_construction",
            ErrorKind::SafeMode => "safe_mode",
            ErrorKind::NoDatanodes => "no_datanodes",
            ErrorKind::UnknownDatanode => "unknown_datanode",
            ErrorKind::UnknownBlock => "unknown_block",
            ErrorKind::ChecksumMismatch => "checksum_mismatch",
            ErrorKind::PipelineFailed => "pipeline_failed",
            ErrorKind::NotReplicatedYet => "not_replicated_yet",
            ErrorKind::BlockMismatch => "block_mismatch",
            ErrorKind::DatanodeConflict => "datanode_conflict",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Io => "io",
            ErrorKind::Busy => "busy",
            ErrorKind::LeaseHeld => "lease_held",
            ErrorKind::LeaseExpired => "lease_expired",
            ErrorKind::RecoveryInProgress => "recovery_in_progress",
            ErrorKind::StaleReplica => "stale_replica",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::Internal => "internal",
        }
    }

    /// The HTTP status a server answers with for this kind.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::InvalidPath | ErrorKind::InvalidArgument => 400,
            ErrorKind::NotFound | ErrorKind::UnknownBlock => 404,
            ErrorKind::AlreadyExists
            | ErrorKind::NotADirectory
            | ErrorKind::IsADirectory
            | ErrorKind::DirectoryNotEmpty
            | ErrorKind::UnderConstruction
            | ErrorKind::DatanodeConflict
            | ErrorKind::LeaseHeld
            | ErrorKind::LeaseExpired
            | ErrorKind::StaleReplica => 409,
            ErrorKind::UnknownDatanode => 412,
            ErrorKind::PermissionDenied => 403,
            ErrorKind::ChecksumMismatch | ErrorKind::BlockMismatch => 422,
            ErrorKind::PipelineFailed => 502,
            ErrorKind::SafeMode
            | ErrorKind::NoDatanodes
            | ErrorKind::Unavailable
            | ErrorKind::NotReplicatedYet
            | ErrorKind::RecoveryInProgress
            | ErrorKind::Busy => 503,
            ErrorKind::Io | ErrorKind::Internal => 500,
        }
    }

    /// Whether repeating the same call later may succeed.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::Unavailable
                | ErrorKind::PipelineFailed
                | ErrorKind::Io
                | ErrorKind::NotReplicatedYet
                | ErrorKind::RecoveryInProgress
                | ErrorKind::Busy
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON body of every error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireError {
    pub kind: ErrorKind,
    pub message: String,
    /// For `pipeline_failed` and `checksum_mismatch`: the datanode at fault, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datanode: Option<DatanodeId>,
}

/// The error type of the client library, and the one servers convert into [`WireError`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub datanode: Option<DatanodeId>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            datanode: None,
        }
    }

    pub fn with_datanode(mut self, datanode: DatanodeId) -> Self {
        self.datanode = Some(datanode);
        self
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    pub fn io(context: impl fmt::Display, err: std::io::Error) -> Self {
        Self::new(ErrorKind::Io, format!("{context}: {err}"))
    }

    /// The library error a reader adapter wrapped in an `io::Error` (see
    /// [`crate::FileReader::range_reader`]), or `None` when the error came from elsewhere
    /// (a decoder reading that stream, the local disk).
    pub fn from_io(err: &std::io::Error) -> Option<&Error> {
        err.get_ref()?.downcast_ref::<Error>()
    }

    pub fn to_wire(&self) -> WireError {
        WireError {
            kind: self.kind,
            message: self.message.clone(),
            datanode: self.datanode.clone(),
        }
    }
}

impl From<WireError> for Error {
    fn from(w: WireError) -> Self {
        Error {
            kind: w.kind,
            message: w.message,
            datanode: w.datanode,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialise_as_their_stable_names() {
        for kind in [
            ErrorKind::InvalidPath,
            ErrorKind::SafeMode,
            ErrorKind::PipelineFailed,
            ErrorKind::Busy,
        ] {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
    }

    #[test]
    fn wire_round_trip_keeps_kind_and_datanode() {
        let err = Error::new(ErrorKind::PipelineFailed, "dn down")
            .with_datanode(DatanodeId("dn-1".into()));
        let wire: WireError =
            serde_json::from_str(&serde_json::to_string(&err.to_wire()).unwrap()).unwrap();
        assert_eq!(Error::from(wire), err);
    }
}
