//! Namenode configuration: a TOML file, overridden by command-line flags, each of which can also
//! come from a `GRANARY_*` environment variable. Every default is documented on its field.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use granary_client::size::parse_size;
use granary_client::CHUNK_SIZE;
use humantime_serde::re::humantime;
use serde::Deserialize;

use crate::error::NamenodeError;

/// Smallest block size a file may use: one checksum chunk.
pub const MIN_BLOCK_SIZE: u64 = CHUNK_SIZE as u64;
/// Largest block size a file may use; a replica must fit comfortably on one disk.
pub const MAX_BLOCK_SIZE: u64 = 64 << 30;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NamenodeConfig {
    /// HTTP address for clients and datanodes. Default `127.0.0.1:9870` (HDFS's namenode web
    /// port); loopback so that a default start never exposes the namespace.
    pub listen: SocketAddr,
    /// Directory of the sled metadata database. Default `./granary-namenode`.
    pub meta_dir: PathBuf,
    /// Block size of files whose writer does not choose one. Default 128 MiB (as HDFS): large
    /// enough that the namenode holds few blocks per byte stored.
    pub default_block_size: u64,
    /// Replica count of files whose writer does not choose one. Default 3 (as HDFS): survives
    /// the loss of any two datanodes.
    pub default_replication: u16,
    /// How often datanodes are expected to heartbeat. Default 3 s (as HDFS).
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// A datanode silent this long is dead and its replicas leave the block map. Default 30 s,
    /// far shorter than HDFS's 10.5 min because our clusters are small and re-replication is
    /// cheap; can be set down to about a second for tests.
    #[serde(with = "humantime_serde")]
    pub dead_after: Duration,
    /// How long a mutation's response stays in the retry cache. Default 10 min: far longer than
    /// any client's retry loop, short enough to keep the cache small.
    #[serde(with = "humantime_serde")]
    pub retry_cache_ttl: Duration,
    /// Highest replication a writer may ask for. Default 32: more copies than that is a mistake.
    pub max_replication: u16,
    /// After binding, write the bound address (e.g. `127.0.0.1:40123`) to this file, so a
    /// launcher that asked for port 0 can find the namenode. Default: none.
    pub addr_file: Option<PathBuf>,
}

impl Default for NamenodeConfig {
    fn default() -> Self {
        NamenodeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9870)),
            meta_dir: PathBuf::from("./granary-namenode"),
            default_block_size: 128 << 20,
            default_replication: 3,
            heartbeat_interval: Duration::from_secs(3),
            dead_after: Duration::from_secs(30),
            retry_cache_ttl: Duration::from_secs(600),
            max_replication: 32,
            addr_file: None,
        }
    }
}

impl NamenodeConfig {
    /// Reads a TOML file; missing fields take their defaults.
    pub fn from_toml_file(path: &Path) -> Result<Self, NamenodeError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| NamenodeError::Config(format!("cannot read {}: {e}", path.display())))?;
        toml::from_str(&text)
            .map_err(|e| NamenodeError::Config(format!("{}: {}", path.display(), e.message())))
    }

    pub fn from_toml_str(text: &str) -> Result<Self, NamenodeError> {
        toml::from_str(text).map_err(|e| NamenodeError::Config(e.message().to_string()))
    }

    /// Checks the ranges the rest of the namenode relies on.
    pub fn validate(&self) -> Result<(), NamenodeError> {
        let fail = |msg: String| Err(NamenodeError::Config(msg));
        if self.max_replication == 0 {
            return fail("max_replication must be at least 1".into());
        }
        if self.default_replication == 0 || self.default_replication > self.max_replication {
            return fail(format!(
                "replication must be between 1 and {} (got {})",
                self.max_replication, self.default_replication
            ));
        }
        if !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&self.default_block_size) {
            return fail(format!(
                "block size must be between 64 KiB and 64 GiB (got {} bytes)",
                self.default_block_size
            ));
        }
        if self.heartbeat_interval.is_zero() {
            return fail("heartbeat_interval must be positive".into());
        }
        if self.dead_after <= self.heartbeat_interval {
            return fail(format!(
                "dead_after ({}) must be longer than heartbeat_interval ({})",
                humantime::format_duration(self.dead_after),
                humantime::format_duration(self.heartbeat_interval)
            ));
        }
        if self.retry_cache_ttl.is_zero() {
            return fail("retry_cache_ttl must be positive".into());
        }
        Ok(())
    }
}

/// Command-line flags of `granary-namenode`. Each overrides the TOML file.
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
}

impl NamenodeArgs {
    /// The TOML file (or the defaults) with the flags applied, validated.
    pub fn into_config(self) -> Result<NamenodeConfig, NamenodeError> {
        let mut config = match &self.config {
            Some(path) => NamenodeConfig::from_toml_file(path)?,
            None => NamenodeConfig::default(),
        };
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(dir) = self.meta_dir {
            config.meta_dir = dir;
        }
        if let Some(size) = self.block_size {
            config.default_block_size = size;
        }
        if let Some(n) = self.replication {
            config.default_replication = n;
        }
        if let Some(d) = self.heartbeat_interval {
            config.heartbeat_interval = d;
        }
        if let Some(d) = self.dead_after {
            config.dead_after = d;
        }
        if self.addr_file.is_some() {
            config.addr_file = self.addr_file;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_toml_gives_defaults() {
        assert_eq!(
            NamenodeConfig::from_toml_str("").unwrap(),
            NamenodeConfig::default()
        );
        NamenodeConfig::default().validate().unwrap();
    }

    #[test]
    fn toml_fields_and_durations_parse() {
        let text =
            "listen = \"127.0.0.1:0\"\ndead_after = \"2s\"\nheartbeat_interval = \"500ms\"\n\
                    default_block_size = 1048576\ndefault_replication = 2\n";
        let config = NamenodeConfig::from_toml_str(text).unwrap();
        assert_eq!(config.dead_after, Duration::from_secs(2));
        assert_eq!(config.heartbeat_interval, Duration::from_millis(500));
        assert_eq!(config.default_replication, 2);
        assert_eq!(config.listen.port(), 0);
        assert!(NamenodeConfig::from_toml_str("bogus = 1").is_err());
    }

    #[test]
    fn flags_override_and_validate() {
        let args = NamenodeArgs::try_parse_from([
            "granary-namenode",
            "--block-size",
            "64M",
            "--replication",
            "1",
            "--dead-after",
            "1s",
            "--heartbeat-interval",
            "200ms",
        ])
        .unwrap();
        let config = args.into_config().unwrap();
        assert_eq!(config.default_block_size, 64 << 20);
        assert_eq!(config.default_replication, 1);
        assert_eq!(config.dead_after, Duration::from_secs(1));

        let zero = NamenodeArgs {
            replication: Some(0),
            ..Default::default()
        };
        assert!(zero
            .into_config()
            .unwrap_err()
            .to_string()
            .contains("replication"));
        let tiny = NamenodeArgs {
            block_size: Some(4096),
            ..Default::default()
        };
        assert!(tiny
            .into_config()
            .unwrap_err()
            .to_string()
            .contains("block size"));
    }
}
