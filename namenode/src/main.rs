//! `granary-namenode`: parses flags, sets up logging and runs the namenode until SIGINT or
//! SIGTERM.

use std::io::IsTerminal;

use clap::Parser;
use granary_namenode::NamenodeArgs;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let config = NamenodeArgs::parse().into_config()?;
    for (name, actions) in granary_compute::failpoints::setup_from_env()? {
        tracing::warn!("failpoint {name} armed: {actions}");
    }
    granary_namenode::run(config, granary_client::server::shutdown_signal()).await?;
    Ok(())
}
