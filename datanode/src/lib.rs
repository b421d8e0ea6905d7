//! Granary's datanode: stores block replicas on local disk with checksum sidecars, receives
//! and forwards blocks in write pipelines, serves verified reads, and keeps the namenode
//! informed through heartbeats and block reports.

pub mod api;
pub mod config;
pub mod downstream;
pub mod frame_stream;
pub mod heartbeat;
pub mod pipeline;
pub mod read;
pub mod server;
pub mod store;
#[cfg(test)]
mod test_support;

pub use config::DatanodeConfig;
pub use server::{run, Datanode};
pub use store::{BlockStore, VerifiedRead};
