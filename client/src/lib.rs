//! Granary's client side: the wire protocol every process shares, and the client library that
//! the `granary` CLI, the compute engine and the tests use to talk to a cluster.

pub mod backoff;
pub mod checksum;
pub mod config;
pub mod error;
pub mod framing;
pub mod fs;
pub mod glob;
pub mod ids;
pub mod jobs;
pub mod local_file;
pub mod namenode;
pub mod path;
pub mod permission;
pub mod protocol;
pub mod read;
pub mod size;
pub mod sync;
pub mod transfer;
pub mod trash;
pub mod user;
pub mod walk;
pub mod write;

#[cfg(feature = "server")]
pub mod server;

pub use checksum::{Digest, FileChecksum, CHUNK_SIZE};
pub use config::ClientConfig;
pub use error::{Error, ErrorKind, Result, WireError};
pub use fs::Granary;
pub use ids::{BlockId, DatanodeId, Generation, InodeId, LeaseHolder, RequestId};
pub use jobs::KeyCount;
pub use local_file::PartialFile;
pub use path::FsPath;
pub use permission::{Access, Permission};
pub use read::FileReader;
pub use write::{CopyOptions, CopySummary, PutOptions, PutSummary};
