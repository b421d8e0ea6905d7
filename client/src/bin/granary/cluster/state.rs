//! `cluster.json`: what `granary cluster up` started in a cluster directory, so later commands
//! can find, restart and stop the same processes.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

pub const STATE_FILE: &str = "cluster.json";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClusterState {
    pub settings: ClusterSettings,
    pub namenode: NamenodeProcess,
    pub datanodes: Vec<DatanodeProcess>,
}

/// Chosen at the first `cluster up` of a directory and kept for every restart.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClusterSettings {
    pub block_size: u64,
    pub replication: u16,
    /// humantime strings, passed to the daemons as given.
    pub heartbeat_interval: String,
    pub dead_after: String,
    /// Datanode i is on rack `/rack-{i % racks}`; 0 means no racks.
    pub racks: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NamenodeProcess {
    pub pid: Option<u32>,
    /// The bound address; a restarted namenode comes back on the same one, since every
    /// datanode is configured with it.
    pub addr: Option<SocketAddr>,
    pub meta_dir: PathBuf,
    pub log: PathBuf,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DatanodeProcess {
    pub index: u32,
    pub ip: IpAddr,
    pub pid: Option<u32>,
    pub data_dir: PathBuf,
    pub rack: String,
    pub log: PathBuf,
}

impl ClusterState {
    pub fn load(dir: &Path) -> anyhow::Result<Option<ClusterState>> {
        let path = dir.join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(
                serde_json::from_slice(&bytes)
                    .with_context(|| format!("{}: corrupt", path.display()))?,
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| path.display().to_string()),
        }
    }

    /// Written through a temporary file and a rename, so a crash never leaves half a file.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let path = dir.join(STATE_FILE);
        let tmp = dir.join(format!("{STATE_FILE}.tmp"));
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)
            .with_context(|| tmp.display().to_string())?;
        std::fs::rename(&tmp, &path).with_context(|| path.display().to_string())?;
        Ok(())
    }

    pub fn namenode_url(&self) -> Option<String> {
        self.namenode.addr.map(|a| format!("http://{a}"))
    }

    /// The record of datanode `index`, created (with its own loopback address) if new.
    pub fn datanode_slot(
        &mut self,
        dir: &Path,
        index: u32,
    ) -> anyhow::Result<&mut DatanodeProcess> {
        if let Some(pos) = self.datanodes.iter().position(|d| d.index == index) {
            return Ok(&mut self.datanodes[pos]);
        }
        let host = u8::try_from(index + 2)
            .ok()
            .filter(|h| *h < 255)
            .context("at most 252 local datanodes")?;
        let rack = match self.settings.racks {
            0 => granary_client::protocol::DEFAULT_RACK.to_string(),
            racks => format!("/rack-{}", index % racks),
        };
        self.datanodes.push(DatanodeProcess {
            index,
            ip: IpAddr::V4(Ipv4Addr::new(127, 0, 0, host)),
            pid: None,
            data_dir: dir.join(format!("datanode-{index}")),
            rack,
            log: dir.join("logs").join(format!("datanode-{index}.log")),
        });
        Ok(self.datanodes.last_mut().expect("just pushed"))
    }
}

/// The datanode id kept in a data directory, once the datanode has started there.
pub fn datanode_id(data_dir: &Path) -> Option<String> {
    std::fs::read_to_string(data_dir.join("datanode_id"))
        .ok()
        .map(|s| s.trim().to_string())
}
