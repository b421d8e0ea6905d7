//! `fs append`, `fs truncate`, `fs recover-lease`: the commands that change a file that
//! exists, or close one a writer left open.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use granary_client::protocol::DatanodeState;
use granary_client::write::{Progress, PutSummary};
use granary_client::{FsPath, Granary};

use crate::interrupt::{until_signal, Interrupted, CLEANUP_LIMIT};
use crate::output;

/// How long `--wait` and `-w` wait for a file to close before giving up.
const CLOSE_WAIT: Duration = Duration::from_secs(300);

/// Appends each source in turn; every source is checked before anything is appended. One
/// signal watch covers them all, so a Ctrl-C between two sources stops the command too.
pub async fn append(fs: &Granary, sources: &[String], dst: &FsPath) -> anyhow::Result<()> {
    check_local_sources(sources, "append")?;
    if sources.iter().filter(|s| s.as_str() == "-").count() > 1 {
        bail!("stdin (-) can be appended only once");
    }
    let appends = async {
        for src in sources {
            let (bar, progress) = source_progress(src, &format!("append {src} to {dst}"));
            // Cleared also when an interrupt drops this append.
            let bar = bar.with_finish(indicatif::ProgressFinish::AndClear);
            let result = if src == "-" {
                fs.append_reader(tokio::io::stdin(), dst, None).await
            } else {
                fs.append_file(Path::new(src), dst, Some(progress)).await
            };
            bar.finish_and_clear();
            warn_if_under_replicated(fs, dst, &result?).await;
        }
        Ok::<_, anyhow::Error>(())
    };
    match until_signal(appends).await? {
        Some(done) => done,
        None => Err(close_interrupted(fs, dst).await.into()),
    }
}

/// After an interrupted append: closes `dst` at what its datanodes hold if this command still
/// holds it open (its old content stays; the file is not deleted), so the next writer need not
/// wait for the lease to expire.
async fn close_interrupted(fs: &Granary, dst: &FsPath) -> Interrupted {
    let cleanup = async {
        let status = fs.stat(dst).await?;
        if status.lease_holder.as_ref() != Some(fs.lease_holder()) {
            return Ok(false);
        }
        fs.recover_lease(dst).await?;
        Ok::<_, granary_client::Error>(true)
    };
    match tokio::time::timeout(CLEANUP_LIMIT, cleanup).await {
        Ok(Ok(true)) => Interrupted(format!(
            "interrupted: {dst} is being closed at what was appended so far"
        )),
        Ok(Ok(false)) => Interrupted(format!("interrupted: nothing was appended to {dst}")),
        Ok(Err(e)) => Interrupted(format!(
            "interrupted: could not close {dst} (its lease expires on its own): {e}"
        )),
        Err(_) => Interrupted(format!(
            "interrupted: could not close {dst} within {}s (its lease expires on its own)",
            CLEANUP_LIMIT.as_secs()
        )),
    }
}

/// Checks every local source (`-` is stdin) before anything is written: each must exist and
/// not be a directory.
pub fn check_local_sources(sources: &[String], verb: &str) -> anyhow::Result<()> {
    for src in sources.iter().filter(|s| s.as_str() != "-") {
        let meta = std::fs::metadata(src).with_context(|| src.to_string())?;
        if meta.is_dir() {
            bail!("{src}: is a directory ({verb} takes files)");
        }
    }
    Ok(())
}

/// The progress bar of copying local source `src` (hidden for stdin, whose length is
/// unknown), and the callback that moves it.
pub fn source_progress(src: &str, label: &str) -> (indicatif::ProgressBar, Progress) {
    let bar = match src {
        "-" => indicatif::ProgressBar::hidden(),
        _ => {
            let total = std::fs::metadata(src).map(|m| m.len()).unwrap_or(0);
            output::progress_bar(total, label)
        }
    };
    let moved = bar.clone();
    (bar, Arc::new(move |n| moved.set_position(n)))
}

/// Warns, on one line, that a write left `path` with fewer replicas than it asks for, and why:
/// too few datanodes that take new replicas, or one that failed during the write.
pub async fn warn_if_under_replicated(fs: &Granary, path: &FsPath, summary: &PutSummary) {
    if !summary.under_replicated() {
        return;
    }
    let wanted = usize::from(summary.status.replication);
    let reason = match fs.report().await {
        Ok(report) => {
            let count = |state| report.datanodes.iter().filter(|d| d.state == state).count();
            let live = count(DatanodeState::Live);
            let leaving = count(DatanodeState::Decommissioning)
                + count(DatanodeState::Decommissioned)
                + count(DatanodeState::Maintenance);
            if live < wanted && leaving > 0 {
                format!(
                    "only {live} datanodes take new replicas; {leaving} more are being \
                     decommissioned, decommissioned or in maintenance"
                )
            } else if live < wanted {
                format!("not enough live datanodes: {live}")
            } else if summary.pipeline_recoveries > 0 {
                "a datanode failed during the write; the namenode adds the missing replicas"
                    .to_string()
            } else {
                "datanodes refused the block; the namenode adds the missing replicas".to_string()
            }
        }
        Err(_) => "the namenode adds the missing replicas".to_string(),
    };
    eprintln!(
        "granary: warning: {path} is under-replicated: {} of {wanted} replicas ({reason})",
        summary.min_replicas
    );
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
