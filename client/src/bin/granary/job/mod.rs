//! `granary job ...`: run MapReduce jobs on the cluster and look at them.

mod progress;
mod run;
mod show;

use std::process::ExitCode;

use clap::Subcommand;
use granary_client::protocol::JobId;
use granary_client::Granary;

use crate::output::print_json;

pub use run::RunArgs;

#[derive(Subcommand)]
pub enum JobCommand {
    /// Run a job over files in the cluster and wait for it: live progress, then where the result
    /// is and the job's counters.
    Run(Box<RunArgs>),
    /// Jobs known to the cluster, newest first.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One job's state, progress and counters.
    Status {
        /// The job's id (as `job list` and `job run` print it).
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Stop a running job; its partial output is removed.
    Kill {
        /// The job's id (as `job list` and `job run` print it).
        id: String,
    },
}

pub async fn run(fs: Granary, cmd: JobCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        JobCommand::Run(args) => run::run(&fs, *args).await,
        JobCommand::List { json } => {
            let list = fs.list_jobs().await?;
            if json {
                print_json(&list)?;
            } else {
                show::print_list(&list.jobs);
            }
            Ok(ExitCode::SUCCESS)
        }
        JobCommand::Status { id, json } => {
            let status = fs.job_status(&job_id(&id)?).await?;
            if json {
                print_json(&status)?;
            } else {
                show::print_status(&status);
            }
            Ok(ExitCode::SUCCESS)
        }
        JobCommand::Kill { id } => {
            let before = fs.job_status(&job_id(&id)?).await?;
            let status = fs.kill_job(&before.id).await?;
            if before.state.is_finished() {
                println!("{} had already {}", status.id, status.state.as_str());
            } else {
                println!("killed {}", status.id);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn job_id(raw: &str) -> anyhow::Result<JobId> {
    JobId::parse(raw).map_err(|e| anyhow::anyhow!(e))
}
