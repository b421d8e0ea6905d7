//! `granary cluster up|status|down`: a local cluster of real processes, one namenode on
//! 127.0.0.1 and datanode i on 127.0.0.(i+2), recorded in `<dir>/cluster.json`.

pub(crate) mod process;
pub(crate) mod state;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use granary_client::config::DEFAULT_NAMENODE;
use granary_client::protocol::DatanodeState;
use granary_client::size::parse_size;
use granary_client::Granary;
use serde::Serialize;

use crate::output::print_json;
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
    /// Namenode port on 127.0.0.1 (0: any free port). Kept for restarts.
    #[arg(long, default_value_t = 9870)]
    port: u16,
    /// Default block size of a new cluster, e.g. 128M, 1MiB.
    #[arg(long, default_value = "128M", value_parser = parse_size_arg)]
    block_size: u64,
    /// Default replication of a new cluster.
    #[arg(long, default_value_t = 3)]
    replication: u16,
    /// Datanode heartbeat interval of a new cluster.
    #[arg(long, default_value = "3s")]
    heartbeat_interval: humantime::Duration,
    /// Silence after which a datanode is declared dead, for a new cluster.
    #[arg(long, default_value = "30s")]
    dead_after: humantime::Duration,
    /// Spread datanodes over this many racks (`/rack-0`, `/rack-1`, ...); 0: one default rack.
    #[arg(long, default_value_t = 0)]
    racks: u32,
}

fn parse_size_arg(raw: &str) -> Result<u64, String> {
    parse_size(raw).map_err(|e| e.message)
}

pub async fn run(cmd: ClusterCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ClusterCommand::Up(args) => up(args).await?,
        ClusterCommand::Status { dir, json } => status(&cluster_dir(dir)?, json)?,
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
    if args.replication == 0 {
        bail!("--replication must be at least 1");
    }
    let dir = cluster_dir(args.dir.clone())?;
    std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
    let existing = ClusterState::load(&dir)?;
    let is_new = existing.is_none();
    let mut state = existing.unwrap_or_else(|| ClusterState {
        settings: ClusterSettings {
            block_size: args.block_size,
            replication: args.replication,
            heartbeat_interval: args.heartbeat_interval.to_string(),
            dead_after: args.dead_after.to_string(),
            racks: args.racks,
        },
        namenode: NamenodeProcess {
            pid: None,
            addr: None,
            meta_dir: dir.join("namenode"),
            log: dir.join("logs").join("namenode.log"),
        },
        datanodes: Vec::new(),
    });

    let url = ensure_namenode(&dir, &mut state, args.port)?;
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
        started.push((index, child));
        state.save(&dir)?;
    }
    wait_until_registered(&dir, &state, &url, &mut started).await?;
    println!(
        "cluster up: namenode {url}, {} datanodes, directory {}",
        state.datanodes.len(),
        dir.display()
    );
    Ok(())
}

/// Starts the namenode unless it runs; returns its URL.
fn ensure_namenode(dir: &Path, state: &mut ClusterState, port: u16) -> anyhow::Result<String> {
    let nn = &state.namenode;
    if let (Some(pid), Some(url)) = (nn.pid, state.namenode_url()) {
        if process::is_running(pid, &nn.meta_dir) {
            return Ok(url);
        }
    }
    if let Some(pid) = nn.pid {
        process::wait_exited(pid, EXIT_WAIT);
    }
    let port = nn.addr.map(|a| a.port()).unwrap_or(port);
    let addr_path = dir.join("namenode.addr");
    let _ = std::fs::remove_file(&addr_path);
    let s = &state.settings;
    let mut child = process::spawn(
        &process::daemon_binary("granary-namenode")?,
        [
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--meta-dir".into(),
            nn.meta_dir.display().to_string(),
            "--addr-file".into(),
            addr_path.display().to_string(),
            "--block-size".into(),
            s.block_size.to_string(),
            "--replication".into(),
            s.replication.to_string(),
            "--heartbeat-interval".into(),
            s.heartbeat_interval.clone(),
            "--dead-after".into(),
            s.dead_after.clone(),
        ],
        &nn.log,
    )?;
    // Recorded at once, so `cluster down` can stop it whatever happens next.
    state.namenode.pid = Some(child.id());
    state.save(dir)?;
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let addr: SocketAddr = loop {
        if let Some(addr) = std::fs::read_to_string(&addr_path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            break addr;
        }
        if !matches!(child.try_wait(), Ok(None)) || Instant::now() > deadline {
            // A namenode that never published its address is of no use: stop it.
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "the namenode did not start: {}",
                process::log_tail(&state.namenode.log, 3)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    state.namenode.addr = Some(addr);
    state.save(dir)?;
    Ok(format!("http://{addr}"))
}

fn addr_file(dir: &Path, index: u32) -> PathBuf {
    dir.join(format!("datanode-{index}.addr"))
}

/// Waits until every running datanode of the cluster is live at the namenode. `started` are the
/// datanodes this command started, watched for an early exit; each of them counts only once
/// live at the address it wrote, not at its previous process's.
async fn wait_until_registered(
    dir: &Path,
    state: &ClusterState,
    url: &str,
    started: &mut [(u32, std::process::Child)],
) -> anyhow::Result<()> {
    let fs = Granary::connect(url)?;
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        let ids: Vec<(u32, Option<String>)> = state
            .datanodes
            .iter()
            .map(|d| (d.index, state::datanode_id(&d.data_dir)))
            .collect();
        if let (true, Ok(report)) = (ids.iter().all(|(_, id)| id.is_some()), fs.report().await) {
            // Registered and not dead: a decommissioned or in-maintenance node keeps that
            // state when it comes back, and is up all the same.
            let registered = |index: u32, id: &String| {
                let fresh = started
                    .iter()
                    .any(|(started, _)| *started == index)
                    .then(|| std::fs::read_to_string(addr_file(dir, index)));
                let wanted_addr = match fresh {
                    None => None,
                    Some(Ok(addr)) => match addr.trim().parse::<SocketAddr>() {
                        Ok(addr) => Some(addr),
                        Err(_) => return false,
                    },
                    Some(Err(_)) => return false,
                };
                // The namenode records the host a registration came from: only a bound host
                // (not a wildcard) can be compared.
                let at_wanted = |got: SocketAddr| {
                    wanted_addr.is_none_or(|want| {
                        got.port() == want.port()
                            && (want.ip().is_unspecified() || got.ip() == want.ip())
                    })
                };
                report.datanodes.iter().any(|d| {
                    d.info.id.0 == *id && d.state != DatanodeState::Dead && at_wanted(d.info.addr)
                })
            };
            let all_up = ids
                .iter()
                .all(|(index, id)| id.as_ref().is_some_and(|id| registered(*index, id)));
            if all_up {
                return Ok(());
            }
        }
        for (index, child) in started.iter_mut() {
            if !matches!(child.try_wait(), Ok(None)) {
                let log = state
                    .datanodes
                    .iter()
                    .find(|d| d.index == *index)
                    .map(|d| d.log.clone())
                    .unwrap_or_default();
                bail!("datanode {index} exited: {}", process::log_tail(&log, 3));
            }
        }
        if Instant::now() > deadline {
            bail!(
                "datanodes did not register within {}s (logs in {})",
                STARTUP_TIMEOUT.as_secs(),
                dir.join("logs").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
    let mut state = load_existing(dir)?;
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
    if let Some(pid) = state.namenode.pid {
        process::stop(pid, &state.namenode.meta_dir, STOP_GRACE)?;
    }
    state.namenode.pid = None;
    state.datanodes.iter_mut().for_each(|d| d.pid = None);
    state.save(dir)?;
    println!(
        "cluster down: stopped {} datanodes and the namenode ({})",
        stopping.len(),
        dir.display()
    );
    Ok(())
}

#[derive(Serialize)]
struct StatusOutput {
    dir: PathBuf,
    namenode: NamenodeStatus,
    datanodes: Vec<DatanodeStatus>,
}

#[derive(Serialize)]
struct NamenodeStatus {
    url: Option<String>,
    pid: Option<u32>,
    running: bool,
    meta_dir: PathBuf,
    log: PathBuf,
}

#[derive(Serialize)]
struct DatanodeStatus {
    index: u32,
    id: Option<String>,
    address: Option<String>,
    pid: Option<u32>,
    running: bool,
    data_dir: PathBuf,
    rack: String,
    log: PathBuf,
}

fn status(dir: &Path, json: bool) -> anyhow::Result<()> {
    let state = load_existing(dir)?;
    let nn = &state.namenode;
    let out = StatusOutput {
        dir: dir.to_path_buf(),
        namenode: NamenodeStatus {
            url: state.namenode_url(),
            pid: nn.pid,
            running: nn
                .pid
                .is_some_and(|pid| process::is_running(pid, &nn.meta_dir)),
            meta_dir: nn.meta_dir.clone(),
            log: nn.log.clone(),
        },
        datanodes: state
            .datanodes
            .iter()
            .map(|d| DatanodeStatus {
                index: d.index,
                id: state::datanode_id(&d.data_dir),
                address: std::fs::read_to_string(addr_file(dir, d.index))
                    .ok()
                    .map(|s| s.trim().to_string()),
                pid: d.pid,
                running: d
                    .pid
                    .is_some_and(|pid| process::is_running(pid, &d.data_dir)),
                data_dir: d.data_dir.clone(),
                rack: d.rack.clone(),
                log: d.log.clone(),
            })
            .collect(),
    };
    if json {
        return print_json(&out);
    }
    let pid = |p: Option<u32>, running: bool| match (p, running) {
        (Some(p), true) => p.to_string(),
        _ => "stopped".to_string(),
    };
    println!("directory: {}", out.dir.display());
    println!(
        "namenode:  {} (pid {})",
        out.namenode.url.as_deref().unwrap_or("-"),
        pid(out.namenode.pid, out.namenode.running)
    );
    for d in &out.datanodes {
        println!(
            "datanode {}: {} {} pid {} rack {} data {}",
            d.index,
            d.id.as_deref().unwrap_or("-"),
            d.address.as_deref().unwrap_or("-"),
            pid(d.pid, d.running),
            d.rack,
            d.data_dir.display()
        );
    }
    Ok(())
}
