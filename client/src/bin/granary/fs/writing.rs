//! `fs append`, `fs truncate`, `fs recover-lease`: the commands that change a file that
//! exists, or close one a writer left open.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use granary_client::{FsPath, Granary};

use crate::output;

/// How long `--wait` and `-w` wait for a file to close before giving up.
const CLOSE_WAIT: Duration = Duration::from_secs(300);

/// Appends each source in turn; every source is checked before anything is appended.
pub async fn append(fs: &Granary, sources: &[String], dst: &FsPath) -> anyhow::Result<()> {
    for src in sources.iter().filter(|s| s.as_str() != "-") {
        let meta = std::fs::metadata(src).with_context(|| src.to_string())?;
        if meta.is_dir() {
            bail!("{src}: is a directory (append takes files)");
        }
    }
    if sources.iter().filter(|s| s.as_str() == "-").count() > 1 {
        bail!("stdin (-) can be appended only once");
    }
    for src in sources {
        let summary = if src == "-" {
            fs.append_reader(tokio::io::stdin(), dst, None).await?
        } else {
            let total = std::fs::metadata(src).map(|m| m.len()).unwrap_or(0);
            let bar = output::progress_bar(total, &format!("append {src} to {dst}"));
            let progress_bar = bar.clone();
            let summary = fs
                .append_file(
                    Path::new(src),
                    dst,
                    Some(Arc::new(move |n| progress_bar.set_position(n))),
                )
                .await;
            bar.finish_and_clear();
            summary?
        };
        if summary.under_replicated() {
            eprintln!(
                "granary: warning: {dst} is under-replicated: {} of {} replicas (not enough live datanodes)",
                summary.min_replicas, summary.status.replication
            );
        }
    }
    Ok(())
}

pub async fn truncate(fs: &Granary, path: &FsPath, length: u64, wait: bool) -> anyhow::Result<()> {
    let answer = fs.truncate(path, length).await?;
    if answer.closed {
        println!("{path}: truncated to {length} bytes");
        return Ok(());
    }
    if !wait {
        println!(
            "{path}: truncating to {length} bytes; its last block is being cut (wait with -w \
             before appending to it)"
        );
        return Ok(());
    }
    let status = fs.wait_closed(path, CLOSE_WAIT).await?;
    println!("{path}: truncated to {} bytes", status.length);
    Ok(())
}

/// Exits non-zero when the file is not closed (at once, or within the wait), as
/// `hdfs debug recoverLease` does.
pub async fn recover_lease(fs: &Granary, path: &FsPath, wait: bool) -> anyhow::Result<ExitCode> {
    let answer = fs.recover_lease(path).await?;
    let status = if answer.closed || !wait {
        answer.status
    } else {
        fs.wait_closed(path, CLOSE_WAIT).await?
    };
    if status.lease_holder.is_none() {
        println!("{path}: closed, {} bytes", status.length);
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "{path}: recovery started, not closed yet ({} bytes readable); use --wait to wait",
            status.length
        );
        Ok(ExitCode::FAILURE)
    }
}
