//! `granary cluster status`: the cluster's processes, as `cluster.json` records them and
//! `/proc` finds them.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{addr_file, load_existing, process, state};
use crate::output::print_json;

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

pub(super) fn status(dir: &Path, json: bool) -> anyhow::Result<()> {
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
