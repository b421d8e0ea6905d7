//! Granary's datanode: stores block replicas on local disk with checksum sidecars, receives
//! and forwards blocks in write pipelines, serves verified reads, re-verifies its replicas in
//! the background, keeps the namenode informed through heartbeats, block reports and a
//! lifeline, runs the namenode's commands, and leads block recoveries.

pub mod api;
pub mod clone;
pub mod compute;
pub mod config;
pub mod downstream;
#[cfg(test)]
mod fake_namenode;
pub mod heartbeat;
pub mod pipeline;
pub mod read;
pub mod recovery;
pub mod scanner;
pub mod server;
pub mod state;
pub mod store;
#[cfg(test)]
mod test_support;

pub use config::DatanodeConfig;
pub use server::{run, Datanode};
pub use store::{BlockStore, VerifiedRead};
