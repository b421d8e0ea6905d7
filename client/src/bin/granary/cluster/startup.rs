//! Starting the daemons of `cluster up`: the namenode, up once it has published its address,
//! and the datanodes, up once each is live at the namenode.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;
use granary_client::protocol::DatanodeState;
use granary_client::Granary;

use super::state::{self, ClusterState};
use super::{addr_file, process, EXIT_WAIT, STARTUP_TIMEOUT};

/// Starts the namenode unless it runs; returns its URL and whether it was started.
pub(super) fn ensure_namenode(
    dir: &Path,
    state: &mut ClusterState,
    port: u16,
) -> anyhow::Result<(String, bool)> {
    let nn = &state.namenode;
    if let (Some(pid), Some(url)) = (nn.pid, state.namenode_url()) {
        if process::is_running(pid, &nn.meta_dir) {
            return Ok((url, false));
        }
    }
    if let Some(pid) = nn.pid {
        process::wait_exited(pid, EXIT_WAIT);
    }
    let port = nn.addr.map(|a| a.port()).unwrap_or(port);
    let addr_path = dir.join("namenode.addr");
    let _ = std::fs::remove_file(&addr_path);
    let s = &state.settings;
    let log_start = process::log_len(&nn.log);
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
        let exited = !matches!(child.try_wait(), Ok(None));
        if exited || Instant::now() > deadline {
            // A namenode that never published its address is of no use: stop it.
            let _ = child.kill();
            let _ = child.wait();
            let log = &state.namenode.log;
            let cause = match process::failure_cause(log, log_start) {
                Some(cause) if exited => cause,
                _ if exited => "exited at start".to_string(),
                _ => format!("did not start within {}s", STARTUP_TIMEOUT.as_secs()),
            };
            bail!("namenode: {cause} (log: {})", log.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    state.namenode.addr = Some(addr);
    state.save(dir)?;
    Ok((format!("http://{addr}"), true))
}

/// A datanode `cluster up` started, and where its log was when it did.
pub(super) struct Started {
    pub index: u32,
    pub child: std::process::Child,
    pub log_start: u64,
}

/// Waits until every running datanode of the cluster is live at the namenode. `started` are the
/// datanodes this command started, watched for an early exit; each of them counts only once
/// live at the address it wrote, not at its previous process's.
pub(super) async fn wait_until_registered(
    dir: &Path,
    state: &ClusterState,
    url: &str,
    started: &mut [Started],
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
                    .any(|started| started.index == index)
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
        for started in started.iter_mut() {
            if !matches!(started.child.try_wait(), Ok(None)) {
                let index = started.index;
                let log = state
                    .datanodes
                    .iter()
                    .find(|d| d.index == index)
                    .map(|d| d.log.clone())
                    .unwrap_or_default();
                let cause = process::failure_cause(&log, started.log_start)
                    .unwrap_or_else(|| "exited at start".to_string());
                bail!("datanode {index}: {cause} (log: {})", log.display());
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
