//! `DatanodeConfig`: read from TOML, every field optional with the default documented on it.
//! Command-line flags and `GRANARY_*` variables override the file (see `main.rs`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use granary_client::protocol::DEFAULT_RACK;
use granary_client::Error;
use serde::{Deserialize, Deserializer};

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatanodeConfig {
    /// Address the block server binds. Default `127.0.0.1:9864`. Port 0 picks a free port; the
    /// address actually bound is the one registered with the namenode.
    pub listen: SocketAddr,
    /// Where replicas, their sidecars and the datanode id live. Default `./granary-datanode`.
    pub data_dir: PathBuf,
    /// Base URL of the namenode. Default `http://127.0.0.1:9870`.
    pub namenode: String,
    /// Rack reported to the namenode for placement. Default `/default-rack`.
    pub rack: String,
    /// Time between heartbeats. Default `3s`.
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// Time between full block reports. Default `10m`.
    #[serde(with = "humantime_serde")]
    pub block_report_interval: Duration,
    /// Bytes this node offers, as a number or a size such as `"100G"`. Default: none, meaning
    /// the size of the filesystem holding `data_dir`.
    #[serde(deserialize_with = "deserialize_size")]
    pub capacity: Option<u64>,
    /// Time between the bytes of the lifeline, the request kept open to the namenode so it
    /// notices at once when this process dies. Default `1s`.
    #[serde(with = "humantime_serde")]
    pub lifeline_interval: Duration,
    /// Replica copies ordered by the namenode that run at once; more wait their turn, so
    /// healing never starves client traffic. Default `4`.
    pub max_concurrent_replications: usize,
    /// Bytes per second the block scanner may read while re-verifying replicas, as a number or
    /// a size such as `"32M"`. Default `32M` (32 MiB/s).
    #[serde(deserialize_with = "deserialize_rate")]
    pub scan_rate: u64,
    /// How often the block scanner starts a pass over every replica (a pass that takes longer
    /// is followed at once by the next). Default `1h`.
    #[serde(with = "humantime_serde")]
    pub scan_period: Duration,
    /// Task attempts (map or reduce) this node's executor runs at once. Default: the number
    /// of CPUs the process may use.
    pub task_slots: u32,
    /// Time between the executor's polls of the job tracker for work; an attempt that ends
    /// triggers a poll at once. Default `200ms`.
    #[serde(with = "humantime_serde")]
    pub task_poll_interval: Duration,
    /// Fault injection for drills and benchmarks: every task attempt this node runs takes this
    /// many times as long as it would, its pauses spread over its run, as on a machine with a
    /// bad disk (the tracker's speculation should route around it). At least 1.0. Default `1.0`
    /// (off).
    pub task_slowdown: f64,
    /// Block transfers (client reads and writes, pipeline stages, replica copies) this node
    /// runs at once, as HDFS's xceiver limit. Each holds a blocking thread while it runs; past
    /// the limit a new one is refused with `busy` (HTTP 503), and the client tries another
    /// replica or retries after a back-off. The runtime's blocking pool is this plus a fixed
    /// margin: 16 threads for the scanner, store maintenance and replica finalization, and
    /// one per shuffle serve (at most `granary_compute::shuffle::MAX_CONCURRENT_SERVES`, 16,
    /// at once; more wait their turn). Default `64`.
    pub max_transfers: u32,
    /// A peer of a block transfer that makes no progress for this long is given up: a pipeline
    /// stage whose next node takes no frames fails naming it (so the writer retries without
    /// it), the executor's remote map input continues on the next replica, an upstream that
    /// sends nothing for two stall timeouts has its partial replica discarded, and a reader
    /// that takes nothing for twelve has its read ended with an error (freeing its transfer
    /// slot). Nodes further up a pipeline wait a little longer per node below them, so the
    /// stage nearest the stall reports it. Default `5s`.
    #[serde(with = "humantime_serde")]
    pub stall_timeout: Duration,
}

impl Default for DatanodeConfig {
    fn default() -> Self {
        DatanodeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9864)),
            data_dir: PathBuf::from("./granary-datanode"),
            namenode: "http://127.0.0.1:9870".to_string(),
            rack: DEFAULT_RACK.to_string(),
            heartbeat_interval: Duration::from_secs(3),
            block_report_interval: Duration::from_secs(600),
            capacity: None,
            lifeline_interval: Duration::from_secs(1),
            max_concurrent_replications: 4,
            scan_rate: 32 << 20,
            scan_period: Duration::from_secs(3600),
            task_slots: std::thread::available_parallelism()
                .map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX)),
            task_poll_interval: Duration::from_millis(200),
            task_slowdown: 1.0,
            max_transfers: 64,
            stall_timeout: Duration::from_secs(5),
        }
    }
}

impl DatanodeConfig {
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        toml::from_str(text)
            .map_err(|e| Error::invalid_argument(format!("bad datanode configuration: {e}")))
    }

    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), e))?;
        Self::from_toml(&text)
            .map_err(|e| Error::invalid_argument(format!("{}: {}", path.display(), e.message)))
    }

    /// Checks what serde cannot: a usable namenode URL, non-zero intervals, rates and limits.
    pub fn validate(&self) -> Result<(), Error> {
        if !(self.namenode.starts_with("http://") || self.namenode.starts_with("https://")) {
            return Err(Error::invalid_argument(format!(
                "namenode URL {:?} must start with http://",
                self.namenode
            )));
        }
        if [
            self.heartbeat_interval,
            self.block_report_interval,
            self.lifeline_interval,
            self.scan_period,
            self.task_poll_interval,
            self.stall_timeout,
        ]
        .iter()
        .any(Duration::is_zero)
        {
            return Err(Error::invalid_argument(
                "heartbeat, block report, lifeline, scan and task poll intervals and the stall timeout must be positive",
            ));
        }
        if self.max_concurrent_replications == 0
            || self.scan_rate == 0
            || self.task_slots == 0
            || self.max_transfers == 0
        {
            return Err(Error::invalid_argument(
                "max_concurrent_replications, scan_rate, task_slots and max_transfers must be positive",
            ));
        }
        if !(self.task_slowdown.is_finite() && self.task_slowdown >= 1.0) {
            return Err(Error::invalid_argument(format!(
                "task_slowdown must be a finite number of at least 1.0, not {}",
                self.task_slowdown
            )));
        }
        if self.rack.is_empty() {
            return Err(Error::invalid_argument("rack must not be empty"));
        }
        Ok(())
    }
}

fn deserialize_rate<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    deserialize_size(deserializer)?.ok_or_else(|| serde::de::Error::custom("a rate is required"))
}

fn deserialize_size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }
    match Option::<Size>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Size::Bytes(n)) => Ok(Some(n)),
        Some(Size::Text(s)) => granary_client::size::parse_size(&s)
            .map(Some)
            .map_err(|e| serde::de::Error::custom(e.message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_the_defaults() {
        assert_eq!(
            DatanodeConfig::from_toml("").unwrap(),
            DatanodeConfig::default()
        );
    }

    #[test]
    fn fields_parse_with_human_units() {
        let config = DatanodeConfig::from_toml(
            "listen = \"127.0.0.2:0\"\nheartbeat_interval = \"200ms\"\nblock_report_interval = \"1m\"\n\
             capacity = \"2G\"\nrack = \"/r1\"",
        )
        .unwrap();
        assert_eq!(config.listen.port(), 0);
        assert_eq!(config.heartbeat_interval, Duration::from_millis(200));
        assert_eq!(config.block_report_interval, Duration::from_secs(60));
        assert_eq!(config.capacity, Some(2 << 30));
        let config = DatanodeConfig::from_toml(
            "lifeline_interval = \"250ms\"\nmax_concurrent_replications = 1\n\
             scan_rate = \"1M\"\nscan_period = \"2h\"",
        )
        .unwrap();
        assert_eq!(config.lifeline_interval, Duration::from_millis(250));
        assert_eq!(config.max_concurrent_replications, 1);
        assert_eq!(config.scan_rate, 1 << 20);
        assert_eq!(config.scan_period, Duration::from_secs(7200));
        let config =
            DatanodeConfig::from_toml("task_slots = 3\ntask_poll_interval = \"50ms\"").unwrap();
        assert_eq!(config.task_slots, 3);
        assert_eq!(config.task_poll_interval, Duration::from_millis(50));
        let config = DatanodeConfig::from_toml("task_slowdown = 2.5").unwrap();
        assert_eq!(config.task_slowdown, 2.5);
        let config =
            DatanodeConfig::from_toml("max_transfers = 3\nstall_timeout = \"750ms\"").unwrap();
        assert_eq!(config.max_transfers, 3);
        assert_eq!(config.stall_timeout, Duration::from_millis(750));
        assert_eq!(
            DatanodeConfig::from_toml("scan_rate = 1000")
                .unwrap()
                .scan_rate,
            1000
        );
        assert_eq!(
            DatanodeConfig::from_toml("capacity = 4096")
                .unwrap()
                .capacity,
            Some(4096)
        );
    }

    #[test]
    fn unknown_fields_and_bad_values_are_rejected() {
        assert!(DatanodeConfig::from_toml("colour = 1").is_err());
        assert!(DatanodeConfig::from_toml("capacity = \"lots\"").is_err());
        let bad_url = DatanodeConfig {
            namenode: "localhost:9870".into(),
            ..Default::default()
        };
        assert!(bad_url.validate().is_err());
        for bad in [
            DatanodeConfig {
                lifeline_interval: Duration::ZERO,
                ..Default::default()
            },
            DatanodeConfig {
                scan_period: Duration::ZERO,
                ..Default::default()
            },
            DatanodeConfig {
                scan_rate: 0,
                ..Default::default()
            },
            DatanodeConfig {
                max_concurrent_replications: 0,
                ..Default::default()
            },
            DatanodeConfig {
                task_slots: 0,
                ..Default::default()
            },
            DatanodeConfig {
                task_poll_interval: Duration::ZERO,
                ..Default::default()
            },
            DatanodeConfig {
                max_transfers: 0,
                ..Default::default()
            },
            DatanodeConfig {
                stall_timeout: Duration::ZERO,
                ..Default::default()
            },
            DatanodeConfig {
                task_slowdown: 0.5,
                ..Default::default()
            },
            DatanodeConfig {
                task_slowdown: f64::NAN,
                ..Default::default()
            },
            DatanodeConfig {
                task_slowdown: f64::INFINITY,
                ..Default::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        assert!(DatanodeConfig::default().validate().is_ok());
    }
}
