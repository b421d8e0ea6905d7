//! Client configuration: where the namenode is and how patient to be.

use std::net::IpAddr;
use std::time::Duration;

/// Namenode URL used when nothing else names one.
pub const DEFAULT_NAMENODE: &str = "http://127.0.0.1:9870";

#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Base URL of the namenode, e.g. `http://127.0.0.1:9870`.
    pub namenode: String,
    /// Source address for outgoing connections. The namenode recognises a writer or reader that
    /// runs on a datanode by this address and puts that datanode first. Default: chosen by the OS.
    pub local_address: Option<IpAddr>,
    /// Time allowed to open a TCP connection. Default 5 s.
    pub connect_timeout: Duration,
    /// Time allowed for one namespace call. Default 60 s.
    pub request_timeout: Duration,
    /// How long a namenode call keeps being retried, with back-off, while the namenode cannot
    /// be reached (each try with the same request id, so none is applied twice; the retry
    /// cache answers a repeat). Long enough to ride out a namenode restart: once a call has
    /// seen the namenode unreachable, its `safe_mode` answers (a namenode still starting up)
    /// are retried too. `Duration::ZERO`: one try. Default 60 s.
    pub namenode_retry_window: Duration,
    /// Pipelines tried per block before a put gives up. Default 5.
    pub pipeline_attempts: u32,
    /// A datanode that makes no progress on a block transfer for this long is given up: a read
    /// continues from the same offset on the next replica, a write is retried on a pipeline
    /// without it. (A write allows a little more per node behind the first, so the datanode
    /// nearest a stall reports it; the ack after the last frame, which waits for fsyncs, gets
    /// [`ACK_WAIT_FACTOR`] times as long.) Default 5 s.
    pub stall_timeout: Duration,
    /// Further tries of the replicas of a block that answered `busy` when no other replica
    /// served it, after a back-off doubling from [`BUSY_BACKOFF_FIRST`]. Default 5.
    pub busy_retries: u32,
    /// Who the calls are made as (HDFS's "simple" mode: sent with every namenode call, and
    /// the namenode takes it as given). Default: the OS user (`$USER`, else the effective
    /// uid's name); `granary --user` / `GRANARY_USER` set it.
    pub user: String,
}

/// How many stall timeouts a writer waits for a pipeline's ack after its last frame.
pub const ACK_WAIT_FACTOR: u32 = 4;
/// The first back-off before a block's `busy` replicas are tried again (and, for a write,
/// before busy datanodes are given a new pipeline).
pub const BUSY_BACKOFF_FIRST: Duration = Duration::from_millis(200);

impl ClientConfig {
    pub fn new(namenode: impl Into<String>) -> Self {
        ClientConfig {
            namenode: namenode.into().trim_end_matches('/').to_string(),
            local_address: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
            namenode_retry_window: Duration::from_secs(60),
            pipeline_attempts: 5,
            stall_timeout: Duration::from_secs(5),
            busy_retries: 5,
            user: crate::user::local_user().unwrap_or_else(|_| "dr.who".to_string()),
        }
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self::new(DEFAULT_NAMENODE)
    }
}
