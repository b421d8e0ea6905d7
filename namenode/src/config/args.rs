//! Command-line flags of `granary-namenode`; each overrides the TOML file and can also come from
//! a `GRANARY_*` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use granary_client::size::parse_size;
use humantime_serde::re::humantime;

use super::NamenodeConfig;
use crate::error::NamenodeError;

#[derive(Clone, Debug, Default, Parser)]
#[command(name = "granary-namenode", version, about = "Granary namenode")]
pub struct NamenodeArgs {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE", env = "GRANARY_NAMENODE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", env = "GRANARY_NAMENODE_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Metadata directory.
    #[arg(long, value_name = "DIR", env = "GRANARY_NAMENODE_META_DIR")]
    pub meta_dir: Option<PathBuf>,
    /// Default block size, e.g. 64M, 128MiB, 1G.
    #[arg(long, value_name = "SIZE", env = "GRANARY_BLOCK_SIZE", value_parser = parse_block_size)]
    pub block_size: Option<u64>,
    /// Default replication.
    #[arg(long, value_name = "N", env = "GRANARY_REPLICATION")]
    pub replication: Option<u16>,
    /// Expected datanode heartbeat interval, e.g. 3s, 500ms.
    #[arg(
        long,
        value_name = "DUR",
        env = "GRANARY_HEARTBEAT_INTERVAL",
        value_parser = parse_duration
    )]
    pub heartbeat_interval: Option<Duration>,
    /// Silence after which a datanode is dead, e.g. 30s.
    #[arg(long, value_name = "DUR", env = "GRANARY_DEAD_AFTER", value_parser = parse_duration)]
    pub dead_after: Option<Duration>,
    /// Write the bound address to this file once listening.
    #[arg(long, value_name = "FILE", env = "GRANARY_NAMENODE_ADDR_FILE")]
    pub addr_file: Option<PathBuf>,
    /// Fraction of blocks that must be reported before start-up safe mode ends (0..=1).
    #[arg(long, value_name = "FRACTION", env = "GRANARY_SAFEMODE_THRESHOLD")]
    pub safemode_threshold: Option<f64>,
    /// How often the replication monitor runs, e.g. 100ms.
    #[arg(
        long,
        value_name = "DUR",
        env = "GRANARY_REPLICATION_CHECK_INTERVAL",
        value_parser = parse_duration
    )]
    pub replication_check_interval: Option<Duration>,
    /// Replica copies a datanode may send (and receive) at once.
    #[arg(long, value_name = "N", env = "GRANARY_MAX_REPLICATION_STREAMS")]
    pub max_replication_streams: Option<usize>,
    /// A replica copy not confirmed within this is ordered again elsewhere, e.g. 30s.
    #[arg(
        long,
        value_name = "DUR",
        env = "GRANARY_REPLICATION_TIMEOUT",
        value_parser = parse_duration
    )]
    pub replication_timeout: Option<Duration>,
    /// How long an idle command long-poll is held open, e.g. 10s.
    #[arg(
        long,
        value_name = "DUR",
        env = "GRANARY_COMMAND_POLL_TIMEOUT",
        value_parser = parse_duration
    )]
    pub command_poll_timeout: Option<Duration>,
    /// Timeout of each health probe of a datanode whose lifeline ended, e.g. 500ms.
    #[arg(
        long,
        value_name = "DUR",
        env = "GRANARY_LIFELINE_PROBE_TIMEOUT",
        value_parser = parse_duration
    )]
    pub lifeline_probe_timeout: Option<Duration>,
    /// Longest maintenance window, e.g. 1h.
    #[arg(
        long,
        value_name = "DUR",
        env = "GRANARY_MAX_MAINTENANCE",
        value_parser = parse_duration
    )]
    pub max_maintenance: Option<Duration>,
}

impl NamenodeArgs {
    /// The TOML file (or the defaults) with the flags applied, validated.
    pub fn into_config(self) -> Result<NamenodeConfig, NamenodeError> {
        let mut config = match &self.config {
            Some(path) => NamenodeConfig::from_toml_file(path)?,
            None => NamenodeConfig::default(),
        };
        fn set<T>(field: &mut T, flag: Option<T>) {
            if let Some(value) = flag {
                *field = value;
            }
        }
        set(&mut config.listen, self.listen);
        set(&mut config.meta_dir, self.meta_dir);
        set(&mut config.default_block_size, self.block_size);
        set(&mut config.default_replication, self.replication);
        set(&mut config.heartbeat_interval, self.heartbeat_interval);
        set(&mut config.dead_after, self.dead_after);
        if self.addr_file.is_some() {
            config.addr_file = self.addr_file;
        }
        set(&mut config.safemode_threshold, self.safemode_threshold);
        set(
            &mut config.replication_check_interval,
            self.replication_check_interval,
        );
        set(
            &mut config.max_replication_streams,
            self.max_replication_streams,
        );
        set(&mut config.replication_timeout, self.replication_timeout);
        set(&mut config.command_poll_timeout, self.command_poll_timeout);
        set(
            &mut config.lifeline_probe_timeout,
            self.lifeline_probe_timeout,
        );
        set(&mut config.max_maintenance, self.max_maintenance);
        config.validate()?;
        Ok(config)
    }
}

fn parse_block_size(raw: &str) -> Result<u64, String> {
    parse_size(raw).map_err(|e| e.message)
}

fn parse_duration(raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw).map_err(|e| format!("invalid duration {raw:?}: {e}"))
}
