//! `granary admin ...`: operator views and controls.

use std::process::ExitCode;

use clap::Subcommand;
use granary_client::protocol::{
    BlockHealth, ClusterReport, FsckReport, HealthStatus, SafeModeAction,
};
use granary_client::{DatanodeId, FsPath, Granary};

use crate::output::{bytes, print_json};

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Datanodes (live, dead, decommissioning, decommissioned, in maintenance) with capacity,
    /// usage, block count and heartbeat age; cluster totals.
    Report {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check every block below PATH: under-, over-replicated, missing and corrupt blocks.
    /// Exits non-zero when anything is missing or corrupt.
    Fsck {
        #[arg(default_value = "/")]
        path: String,
        /// Also list the files open for writing, with their lease holder and the lease's age.
        #[arg(long = "openforwrite")]
        open_for_write: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Safe mode: the namespace is read-only (entered at namenode start until blocks are reported).
    Safemode {
        #[arg(value_enum)]
        action: SafeModeArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Drain a datanode: every block it holds gets its full replica count elsewhere.
    Decommission {
        /// The datanode's id (as `admin report` lists it).
        datanode: DatanodeId,
    },
    /// Return a decommissioned (or decommissioning) datanode to service.
    Recommission {
        /// The datanode's id (as `admin report` lists it).
        datanode: DatanodeId,
    },
    /// A datanode about to be restarted on purpose: its blocks are not re-replicated while it is
    /// away, for at most DURATION.
    Maintenance {
        /// The datanode's id (as `admin report` lists it).
        datanode: DatanodeId,
        /// e.g. 10m, 1h (default: the namenode's bound).
        #[arg(long = "for")]
        duration: Option<humantime::Duration>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum SafeModeArg {
    Get,
    Enter,
    Leave,
}

pub async fn run(fs: Granary, cmd: AdminCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AdminCommand::Report { json } => {
            let report = fs.report().await?;
            if json {
                print_json(&report)?;
            } else {
                print_report(&fs, &report);
            }
        }
        AdminCommand::Fsck {
            path,
            open_for_write,
            json,
        } => {
            let report = fs.fsck(&FsPath::parse(&path)?, open_for_write).await?;
            if json {
                print_json(&report)?;
            } else {
                print_fsck(&report, open_for_write);
            }
            if report.status != HealthStatus::Healthy {
                return Ok(ExitCode::FAILURE);
            }
        }
        AdminCommand::Safemode { action, json } => {
            let action = match action {
                SafeModeArg::Get => SafeModeAction::Get,
                SafeModeArg::Enter => SafeModeAction::Enter,
                SafeModeArg::Leave => SafeModeAction::Leave,
            };
            let status = fs.safe_mode(action).await?;
            if json {
                print_json(&status)?;
            } else {
                // The namenode's message says whether safe mode is on, and why.
                println!("{}", status.message);
            }
        }
        AdminCommand::Decommission { datanode } => {
            let dn = fs.decommission(&datanode).await?;
            println!("{}: {}", dn.info.id, state_name(&dn.state));
        }
        AdminCommand::Recommission { datanode } => {
            let dn = fs.recommission(&datanode).await?;
            println!("{}: {}", dn.info.id, state_name(&dn.state));
        }
        AdminCommand::Maintenance { datanode, duration } => {
            let dn = fs.maintenance(&datanode, duration.map(Into::into)).await?;
            println!("{}: {}", dn.info.id, state_name(&dn.state));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn state_name<T: serde::Serialize>(state: &T) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn print_report(fs: &Granary, report: &ClusterReport) {
    println!("namenode:               {}", fs.namenode_url());
    println!("live datanodes:         {}", report.live_datanodes);
    println!("dead datanodes:         {}", report.dead_datanodes);
    println!(
        "files / directories:    {} / {}",
        report.files, report.directories
    );
    println!("blocks:                 {}", report.blocks);
    println!("under-replicated:       {}", report.under_replicated_blocks);
    println!("missing:                {}", report.missing_blocks);
    println!(
        "capacity / used / free: {} / {} / {}",
        bytes(report.capacity),
        bytes(report.used),
        bytes(report.remaining)
    );
    println!();
    println!(
        "{:<36} {:<22} {:<14} {:<15} {:>10} {:>10} {:>7} {:>9}",
        "datanode", "address", "rack", "state", "used", "free", "blocks", "last hb"
    );
    for d in &report.datanodes {
        println!(
            "{:<36} {:<22} {:<14} {:<15} {:>10} {:>10} {:>7} {:>8.1}s",
            d.info.id.0,
            d.info.addr.to_string(),
            d.info.rack,
            state_name(&d.state),
            bytes(d.used),
            bytes(d.remaining),
            d.blocks,
            d.seconds_since_heartbeat
        );
    }
}

fn print_fsck(report: &FsckReport, open_for_write: bool) {
    let section = |title: &str, blocks: &[BlockHealth]| {
        println!("{title}: {}", blocks.len());
        for b in blocks {
            println!(
                "  {} of {}: {} of {} replicas{}",
                b.block,
                b.file,
                b.live_replicas,
                b.expected_replicas,
                if b.corrupt_replicas > 0 {
                    format!(", {} corrupt", b.corrupt_replicas)
                } else {
                    String::new()
                }
            );
        }
    };
    println!("path:        {}", report.path);
    println!("files:       {}", report.files);
    println!("directories: {}", report.directories);
    println!("blocks:      {} ({})", report.blocks, bytes(report.bytes));
    section("under-replicated blocks", &report.under_replicated);
    section("over-replicated blocks", &report.over_replicated);
    section("missing blocks", &report.missing);
    section("corrupt blocks", &report.corrupt);
    if open_for_write {
        println!("open files: {}", report.open_files.len());
        for open in &report.open_files {
            println!(
                "  {} ({}): open by {}, lease renewed {} ago{}",
                open.path,
                bytes(open.length),
                open.holder,
                humantime::format_duration(std::time::Duration::from_secs(
                    open.lease_age_ms / 1000
                )),
                if open.recovering { ", recovering" } else { "" }
            );
        }
    }
    println!("status:      {}", state_name(&report.status));
}
