//! `granary admin ...`: operator views.

use std::process::ExitCode;

use clap::Subcommand;
use granary_client::Granary;

use crate::output::{bytes, print_json};

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Datanodes with capacity, usage and heartbeat age; cluster totals.
    Report {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(fs: Granary, cmd: AdminCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AdminCommand::Report { json } => {
            let report = fs.report().await?;
            if json {
                print_json(&report)?;
                return Ok(ExitCode::SUCCESS);
            }
            println!("namenode:              {}", fs.namenode_url());
            println!("live datanodes:        {}", report.live_datanodes);
            println!("dead datanodes:        {}", report.dead_datanodes);
            println!(
                "files / directories:   {} / {}",
                report.files, report.directories
            );
            println!("blocks:                {}", report.blocks);
            println!("under-replicated:      {}", report.under_replicated_blocks);
            println!("missing:               {}", report.missing_blocks);
            println!(
                "capacity / used / free: {} / {} / {}",
                bytes(report.capacity),
                bytes(report.used),
                bytes(report.remaining)
            );
            println!();
            println!(
                "{:<36} {:<22} {:<14} {:<6} {:>10} {:>10} {:>7} {:>9}",
                "datanode", "address", "rack", "state", "used", "free", "blocks", "last hb"
            );
            for d in &report.datanodes {
                println!(
                    "{:<36} {:<22} {:<14} {:<6} {:>10} {:>10} {:>7} {:>8.1}s",
                    d.info.id.0,
                    d.info.addr.to_string(),
                    d.info.rack,
                    format!("{:?}", d.state).to_lowercase(),
                    bytes(d.used),
                    bytes(d.remaining),
                    d.blocks,
                    d.seconds_since_heartbeat
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
