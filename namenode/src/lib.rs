//! The Granary namenode: the namespace (in memory, persisted through an edit log in front of
//! sled, with group commit), the block map and datanode manager (soft state), block placement,
//! re-replication, safe mode, fsck and the retry cache, served over HTTP/JSON.

pub mod api;
pub mod blocks;
pub mod config;
pub mod datanodes;
pub mod error;
pub mod fsck;
pub mod leases;
pub mod namespace;
pub mod namesystem;
pub mod placement;
pub mod recovery;
pub mod replication;
pub mod retry_cache;
pub mod safemode;
pub mod server;
pub mod tracker_link;
pub mod trash;
pub mod users;

pub use config::{NamenodeArgs, NamenodeConfig};
pub use error::NamenodeError;
pub use namesystem::Namesystem;
pub use server::{run, NamenodeServer};

/// Wall-clock milliseconds since the Unix epoch, as stored in `modified_ms`.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
