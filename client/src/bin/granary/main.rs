//! `granary`: the command-line client of a Granary cluster.

mod admin;
mod cluster;
mod drill;
mod fs;
mod hadoop_args;
mod interrupt;
mod job;
mod output;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use granary_client::{ClientConfig, Granary};

#[derive(Parser)]
#[command(
    name = "granary",
    version,
    about = "Granary: a distributed filesystem with compute on the data"
)]
struct Cli {
    /// Namenode URL. Default: $GRANARY_NAMENODE, else the local cluster started by
    /// `granary cluster up` (in $GRANARY_CLUSTER_DIR or ~/.granary/cluster), else http://127.0.0.1:9870.
    #[arg(long, global = true, env = "GRANARY_NAMENODE")]
    namenode: Option<String>,
    /// Give up on a datanode that makes no progress on a block transfer for this long (a read
    /// goes on from the next replica, a write without it), e.g. 5s.
    #[arg(long, global = true, env = "GRANARY_STALL_TIMEOUT", value_name = "DUR",
          value_parser = humantime::parse_duration)]
    stall_timeout: Option<std::time::Duration>,
    /// Keep retrying a namenode that cannot be reached for this long, e.g. 60s (the default),
    /// so a command rides out a namenode restart; 0s tries once.
    #[arg(long, global = true, env = "GRANARY_NAMENODE_RETRY_WINDOW", value_name = "DUR",
          value_parser = humantime::parse_duration)]
    namenode_retry_window: Option<std::time::Duration>,
    /// Act as this user (HDFS's "simple" mode: the namenode takes the name as given).
    /// Default: $GRANARY_USER, else the OS user ($USER, else the effective uid's name).
    #[arg(long, global = true, env = "GRANARY_USER")]
    user: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// The global flags that shape the client.
struct ClientFlags {
    namenode: Option<String>,
    stall_timeout: Option<std::time::Duration>,
    namenode_retry_window: Option<std::time::Duration>,
    user: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Files and directories, as `hdfs dfs`: put, get, cat, cp, ls, du, find, rm (to the
    /// trash), mv, stat, append, getmerge and more (`granary fs --help` lists them all).
    #[command(subcommand)]
    Fs(fs::FsCommand),
    /// A local cluster of real namenode and datanode processes.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Operator views and controls of a running cluster.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// MapReduce jobs over files in the cluster: run, list, status, kill.
    #[command(subcommand)]
    Job(job::JobCommand),
    /// Failure drill: remove datanodes, check nothing is lost and the cluster heals itself.
    Drill(drill::DrillArgs),
}

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so `granary job list | head -1` would panic on the closed pipe;
    // restore the default and end quietly, as other Unix tools do.
    // SAFETY: called first thing in main, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match parse_cli() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            // A usage mistake keeps clap's whole message: the missing arguments, the allowed
            // values, the "did you mean" tips and the list of commands are in its later lines.
            let _ = e.print();
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GRANARY_LOG")
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("granary: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local_default = cli.namenode.is_none();
    let result = runtime.block_on(run(cli));
    // Not a plain drop, which would wait for a read of stdin blocked on its thread, as after
    // an interrupted `put -`.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) if e.is::<interrupt::Interrupted>() => {
            eprintln!("granary: {}", one_line(&e.to_string()));
            ExitCode::from(130)
        }
        Err(e) => {
            let mut message = one_line(&format!("{e:#}"));
            let unreachable = e
                .downcast_ref::<granary_client::Error>()
                .is_some_and(|e| e.kind == granary_client::ErrorKind::Unavailable);
            if local_default && unreachable && message.contains("cannot reach the namenode") {
                message
                    .push_str(" (no local cluster running? start one with `granary cluster up`)");
            }
            eprintln!("granary: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The command line, where a command group given without its command (`granary`,
/// `granary fs`) shows its help, with the list of commands, as a usage error.
fn parse_cli() -> Result<Cli, clap::Error> {
    let args = hadoop_args::args();
    if let Some(hint) = hadoop_args::habit_hint(&args) {
        return Err(Cli::command().error(clap::error::ErrorKind::UnknownArgument, hint));
    }
    let command = Cli::command()
        .arg_required_else_help(true)
        .mut_subcommands(|group| {
            let has_commands = group.has_subcommands();
            group.arg_required_else_help(has_commands)
        });
    Cli::from_arg_matches(&command.try_get_matches_from(args)?)
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let flags = ClientFlags {
        namenode: cli.namenode,
        stall_timeout: cli.stall_timeout,
        namenode_retry_window: cli.namenode_retry_window,
        user: cli.user,
    };
    match cli.command {
        Command::Fs(cmd) => fs::run(connect(flags)?, cmd).await,
        Command::Admin(cmd) => admin::run(connect(flags)?, cmd).await,
        Command::Cluster(cmd) => cluster::run(cmd).await,
        Command::Job(cmd) => job::run(connect(flags)?, cmd).await,
        Command::Drill(args) => drill::run(connect(flags)?, args).await,
    }
}

/// A client of the namenode named by the flag, the environment, or the default local cluster.
fn connect(flags: ClientFlags) -> anyhow::Result<Granary> {
    let url = match flags.namenode {
        Some(url) => url,
        None => cluster::default_namenode_url(),
    };
    if !url.starts_with("http://") {
        anyhow::bail!("invalid namenode URL {url:?} (expected http://HOST:PORT)");
    }
    let mut config = ClientConfig::new(url);
    if let Some(stall) = flags.stall_timeout {
        if stall.is_zero() {
            anyhow::bail!("the stall timeout must be positive");
        }
        config.stall_timeout = stall;
    }
    if let Some(window) = flags.namenode_retry_window {
        config.namenode_retry_window = window;
    }
    if let Some(user) = flags.user {
        config.user = user;
    }
    Ok(Granary::new(config)?)
}

/// Errors are printed on one line whatever the server put in them.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
