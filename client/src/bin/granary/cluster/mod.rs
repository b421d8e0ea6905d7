//! `granary cluster up|status|down`: a local cluster of real processes, one namenode on
//! 127.0.0.1 and datanode i on 127.0.0.(i+2), recorded in `<dir>/cluster.json`.

pub(crate) mod process;
mod startup;
pub(crate) mod state;
mod status;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use granary_client::config::DEFAULT_NAMENODE;
use granary_client::size::parse_size;
use startup::{ensure_namenode, wait_until_registered, Started};
use state::{ClusterSettings, ClusterState, NamenodeProcess};

/// How long `cluster up` waits for the daemons to start and register.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `cluster up` waits for a daemon that was just killed to release its data before
/// starting it again.
const EXIT_WAIT: Duration = Duration::from_secs(5);
/// How long `cluster down` lets a daemon shut down before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

#[derive(Subcommand)]
pub enum ClusterCommand {
    /// Start a namenode and datanodes in the background (only what is not already running).
    Up(UpArgs),
    /// Show the cluster's processes.
    Status {
        #[arg(long, env = "GRANARY_CLUSTER_DIR")]
        dir: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Stop every process of the cluster (SIGTERM, then SIGKILL after 10 s). Data is kept.
    Down {
        #[arg(long, env = "GRANARY_CLUSTER_DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Args)]
pub struct UpArgs {
    /// Datanodes to run. Default 3 for a new cluster; on an existing one, every datanode it had
    /// (a larger number adds datanodes).
    #[arg(long)]
    datanodes: Option<u32>,
    /// Cluster directory (data, logs, cluster.json). Default ~/.granary/cluster.
    #[arg(long, env = "GRANARY_CLUSTER_DIR")]
    dir: Option<PathBuf>,
    /// Namenode port on 127.0.0.1 (0: any free port) [default: 9870]. Kept for restarts.
    #[arg(long)]
    port: Option<u16>,
    /// Default block size of a new cluster, e.g. 128M, 1MiB [default: 128M].
    #[arg(long, value_parser = parse_size_arg)]
    block_size: Option<u64>,
    /// Default replication of a new cluster [default: 3].
    #[arg(long)]
    replication: Option<u16>,
    /// Datanode heartbeat interval of a new cluster [default: 3s].
    #[arg(long)]
    heartbeat_interval: Option<humantime::Duration>,
    /// Silence after which a datanode is declared dead, for a new cluster [default: 30s].
    #[arg(long)]
    dead_after: Option<humantime::Duration>,
    /// Spread datanodes over this many racks (`/rack-0`, `/rack-1`, ...); 0: one default rack
    /// [default: 0]. Only for a new cluster.
    #[arg(long)]
    racks: Option<u32>,
}

impl UpArgs {
    /// The settings of a new cluster: the flags given, defaults for the rest.
    fn settings(&self) -> ClusterSettings {
        let duration = |given: Option<humantime::Duration>, default: &str| {
            given.map_or_else(|| default.to_string(), |d| d.to_string())
        };
        ClusterSettings {
            block_size: self.block_size.unwrap_or(128 << 20),
            replication: self.replication.unwrap_or(3),
            heartbeat_interval: duration(self.heartbeat_interval, "3s"),
            dead_after: duration(self.dead_after, "30s"),
            racks: self.racks.unwrap_or(0),
        }
    }

    /// The flags given that differ from what an existing cluster keeps.
    fn ignored(&self, state: &ClusterState) -> Vec<&'static str> {
        let kept = &state.settings;
        let differs = |given: Option<humantime::Duration>, kept: &str| {
            given.is_some_and(|d| humantime::parse_duration(kept).ok() != Some(*d))
        };
        let kept_port = state.namenode.addr.map(|a| a.port());
        [
            (
                "--port",
                // 0 asks for any port: the one kept is as good.
                self.port
                    .is_some_and(|p| p != 0 && kept_port.is_some_and(|k| k != p)),
            ),
            (
                "--block-size",
                self.block_size.is_some_and(|b| b != kept.block_size),
            ),
            (
                "--replication",
                self.replication.is_some_and(|r| r != kept.replication),
            ),
            (
                "--heartbeat-interval",
                differs(self.heartbeat_interval, &kept.heartbeat_interval),
            ),
            ("--dead-after", differs(self.dead_after, &kept.dead_after)),
            ("--racks", self.racks.is_some_and(|r| r != kept.racks)),
        ]
        .into_iter()
        .filter_map(|(flag, ignored)| ignored.then_some(flag))
        .collect()
    }
}

fn parse_size_arg(raw: &str) -> Result<u64, String> {
    parse_size(raw).map_err(|e| e.message)
}

pub async fn run(cmd: ClusterCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ClusterCommand::Up(args) => up(args).await?,
        ClusterCommand::Status { dir, json } => status::status(&cluster_dir(dir)?, json)?,
        ClusterCommand::Down { dir } => down(&cluster_dir(dir)?)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The default cluster directory: `$GRANARY_CLUSTER_DIR`, else `~/.granary/cluster`.
fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GRANARY_CLUSTER_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".granary").join("cluster")
}

pub(crate) fn cluster_dir(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let dir = flag.unwrap_or_else(default_dir);
    std::path::absolute(&dir).with_context(|| dir.display().to_string())
}

/// The namenode of the default local cluster, if one was started.
pub fn default_namenode_url() -> String {
    ClusterState::load(&default_dir())
        .ok()
        .flatten()
        .and_then(|s| s.namenode_url())
        .unwrap_or_else(|| DEFAULT_NAMENODE.to_string())
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    if args.replication == Some(0) {
        bail!("--replication must be at least 1");
    }
    let dir = cluster_dir(args.dir.clone())?;
    std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
    let existing = ClusterState::load(&dir)?;
    let is_new = existing.is_none();
    if let Some(state) = &existing {
        let ignored = args.ignored(state);
        if !ignored.is_empty() {
            eprintln!(
                "granary: warning: ignoring {}: the cluster in {} keeps the settings it was \
                 created with (use a new --dir for other settings)",
                ignored.join(", "),
                dir.display()
            );
        }
    }
    let mut state = existing.unwrap_or_else(|| ClusterState {
        settings: args.settings(),
        namenode: NamenodeProcess {
            pid: None,
            addr: None,
            meta_dir: dir.join("namenode"),
            log: dir.join("logs").join("namenode.log"),
        },
        datanodes: Vec::new(),
    });

    let port = args.port.unwrap_or(9870);
    let (url, namenode_started) = match ensure_namenode(&dir, &mut state, port) {
        Ok(started) => started,
        Err(e) => {
            // A new cluster whose namenode never came up is forgotten, so the next
            // `cluster up` starts afresh (with its datanodes) instead of restarting this one.
            if is_new {
                let _ = std::fs::remove_file(dir.join(state::STATE_FILE));
            }
            return Err(e);
        }
    };
    let wanted = args
        .datanodes
        .unwrap_or(if is_new { 3 } else { 0 })
        .max(state.datanodes.len() as u32);
    let datanode_bin = process::daemon_binary("granary-datanode")?;
    let mut started = Vec::new();
    for index in 0..wanted {
        let settings = state.settings.clone();
        let slot = state.datanode_slot(&dir, index)?;
        match slot.pid {
            Some(pid) if process::is_running(pid, &slot.data_dir) => continue,
            Some(pid) => process::wait_exited(pid, EXIT_WAIT),
            None => {}
        }
        let listen = SocketAddr::new(slot.ip, 0);
        // The new process writes its address afresh; until it has, it is not up (an entry at
        // the previous process's address may still look live to the namenode).
        let _ = std::fs::remove_file(addr_file(&dir, index));
        let log_start = process::log_len(&slot.log);
        let child = process::spawn(
            &datanode_bin,
            [
                "--listen".into(),
                listen.to_string(),
                "--data-dir".into(),
                slot.data_dir.display().to_string(),
                "--namenode".into(),
                url.clone(),
                "--rack".into(),
                slot.rack.clone(),
                "--heartbeat-interval".into(),
                settings.heartbeat_interval.clone(),
                "--addr-file".into(),
                addr_file(&dir, index).display().to_string(),
            ],
            &slot.log,
        )?;
        slot.pid = Some(child.id());
        started.push(Started {
            index,
            child,
            log_start,
        });
        state.save(&dir)?;
    }
    let nothing_started = started.is_empty() && !namenode_started;
    wait_until_registered(&dir, &state, &url, &mut started).await?;
    let what = if nothing_started {
        "cluster already up"
    } else {
        "cluster up"
    };
    println!(
        "{what}: namenode {url}, {} datanodes, directory {}",
        state.datanodes.len(),
        dir.display()
    );
    Ok(())
}

fn addr_file(dir: &Path, index: u32) -> PathBuf {
    dir.join(format!("datanode-{index}.addr"))
}

fn load_existing(dir: &Path) -> anyhow::Result<ClusterState> {
    ClusterState::load(dir)?.with_context(|| {
        format!(
            "no cluster in {} (start one with `granary cluster up`)",
            dir.display()
        )
    })
}

fn down(dir: &Path) -> anyhow::Result<()> {
    let Some(mut state) = ClusterState::load(dir)? else {
        println!(
            "cluster down: no cluster in {}, nothing to stop",
            dir.display()
        );
        return Ok(());
    };
    // Datanodes first, all at once, so the namenode does not spend the shutdown re-planning.
    let mut stopping = Vec::new();
    for d in &state.datanodes {
        if let Some(pid) = d.pid.filter(|pid| process::is_running(*pid, &d.data_dir)) {
            process::signal(pid, libc::SIGTERM)?;
            stopping.push((pid, d.data_dir.clone()));
        }
    }
    for (pid, marker) in &stopping {
        process::stop(*pid, marker, STOP_GRACE)?;
    }
    let nn = &state.namenode;
    let namenode = nn.pid.filter(|pid| process::is_running(*pid, &nn.meta_dir));
    if let Some(pid) = namenode {
        process::stop(pid, &state.namenode.meta_dir, STOP_GRACE)?;
    }
    state.namenode.pid = None;
    state.datanodes.iter_mut().for_each(|d| d.pid = None);
    state.save(dir)?;
    match (stopping.len(), namenode) {
        (0, None) => println!("cluster down: nothing was running in {}", dir.display()),
        (n, None) => println!("cluster down: stopped {n} datanodes ({})", dir.display()),
        (n, Some(_)) => println!(
            "cluster down: stopped {n} datanodes and the namenode ({})",
            dir.display()
        ),
    }
    Ok(())
}
