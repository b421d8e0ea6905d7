//! `fs cp`: copies inside the cluster (as `hdfs dfs -cp`), server-side where the blocks allow
//! (the datanodes clone their replicas), streamed through this client otherwise. Several
//! sources copy into an existing directory; one source into DST/name when DST is a directory,
//! else to DST; directories are copied with everything below them. Ctrl-C deletes the file
//! being copied, as an interrupted put does.

use std::sync::Mutex;

use anyhow::bail;
use granary_client::protocol::{FileKind, FileStatus};
use granary_client::{CopyOptions, CopySummary, ErrorKind, FsPath, Granary};
use serde::Serialize;

use super::copying::abandon;
use crate::interrupt::until_signal;
use crate::output::print_json;

/// How `cp` reports what it did.
#[derive(Clone, Copy)]
struct Report {
    json: bool,
    verbose: bool,
}

/// One copied file, as `--json` lists it.
#[derive(Serialize)]
struct Copied {
    src: FsPath,
    dst: FsPath,
    length: u64,
    blocks_cloned: usize,
    blocks_streamed: usize,
}

/// `fs cp [-f] [-v] [--json] SRC... DST`: `paths` are the sources, then the destination.
pub async fn run(
    fs: &Granary,
    mut paths: Vec<String>,
    force: bool,
    verbose: bool,
    json: bool,
) -> anyhow::Result<()> {
    let raw_dst = paths.pop().unwrap_or_default();
    let sources = super::paths::expand(fs, &paths).await?;
    let dst = super::paths::destination(fs, &raw_dst).await?;
    // The path parser drops a trailing `/`, which means "a directory" to the user.
    let must_be_dir = raw_dst.ends_with('/');
    cp(
        fs,
        &sources,
        &dst,
        must_be_dir,
        force,
        Report { json, verbose },
    )
    .await
}

async fn cp(
    fs: &Granary,
    sources: &[FsPath],
    dst: &FsPath,
    must_be_dir: bool,
    force: bool,
    report: Report,
) -> anyhow::Result<()> {
    let dst_is_dir = matches!(fs.try_stat(dst).await?, Some(s) if s.kind == FileKind::Directory);
    if must_be_dir && !dst_is_dir {
        bail!(
            "{}/: no such directory (a destination ending in / must be an existing directory)",
            dst.as_str().trim_end_matches('/')
        );
    }
    if sources.len() > 1 && !dst_is_dir {
        bail!("{dst}: not an existing directory (needed to copy several sources)");
    }
    // Every source is checked before anything is copied, so bad input changes nothing.
    let mut plan = Vec::with_capacity(sources.len());
    for src in sources {
        let status = fs.stat(src).await?;
        let target = if dst_is_dir {
            match src.file_name() {
                Some(name) => dst.join(name)?,
                None => bail!("/: cannot copy the root directory"),
            }
        } else {
            dst.clone()
        };
        if status.kind == FileKind::Directory && target.starts_with(src) {
            bail!("{src}: cannot copy a directory into itself ({target})");
        }
        if &target == src {
            bail!("{src}: source and destination are the same file");
        }
        plan.push((status, target));
    }
    let opts = CopyOptions {
        overwrite: force,
        create_parents: false,
    };
    // One signal watch for the whole copy, so a Ctrl-C between two files (while a tree is
    // walked or its directories made) stops it too; the file being copied when it comes is
    // recorded here for the clean-up.
    let current = Mutex::new(None);
    let copy = async {
        let mut copied = Vec::new();
        for (status, target) in plan {
            match status.kind {
                FileKind::File => {
                    copied.push(copy_one(fs, &status.path, &target, &opts, &current).await?)
                }
                FileKind::Directory => {
                    copy_tree(fs, &status, &target, &opts, &mut copied, &current).await?
                }
            }
            if report.verbose && !report.json {
                for c in copied.drain(..) {
                    println!(
                        "{} -> {}: {} bytes, {} blocks cloned, {} streamed",
                        c.src, c.dst, c.length, c.blocks_cloned, c.blocks_streamed
                    );
                }
            }
        }
        Ok::<_, anyhow::Error>(copied)
    };
    let Some(copied) = until_signal(copy).await? else {
        let partial = current.lock().ok().and_then(|mut c| c.take());
        return Err(abandon(fs, partial).await.into());
    };
    let copied = copied?;
    if report.json {
        print_json(&copied)?;
    }
    Ok(())
}

/// A directory and everything below it, walked page by page; directories are created as
/// they come (an existing one is copied into).
async fn copy_tree(
    fs: &Granary,
    src: &FileStatus,
    target: &FsPath,
    opts: &CopyOptions,
    copied: &mut Vec<Copied>,
    current: &Mutex<Option<FsPath>>,
) -> anyhow::Result<()> {
    make_dir(fs, target).await?;
    let mut walk = fs.walk(&src.path);
    while let Some(entry) = walk.next().await? {
        let relative = entry
            .path
            .as_str()
            .strip_prefix(src.path.as_str())
            .unwrap_or_default();
        let mut to = target.clone();
        for name in relative.split('/').filter(|n| !n.is_empty()) {
            to = to.join(name)?;
        }
        match entry.kind {
            FileKind::Directory => make_dir(fs, &to).await?,
            FileKind::File => copied.push(copy_one(fs, &entry.path, &to, opts, current).await?),
        }
    }
    Ok(())
}

async fn make_dir(fs: &Granary, dir: &FsPath) -> anyhow::Result<()> {
    match fs.mkdir(dir, false).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind == ErrorKind::AlreadyExists => match fs.try_stat(dir).await? {
            Some(s) if s.kind == FileKind::Directory => Ok(()),
            _ => bail!("{dir}: already exists and is not a directory"),
        },
        Err(e) => Err(e.into()),
    }
}

/// One file; `current` names it while it is being copied, for the clean-up after a signal.
async fn copy_one(
    fs: &Granary,
    src: &FsPath,
    dst: &FsPath,
    opts: &CopyOptions,
    current: &Mutex<Option<FsPath>>,
) -> anyhow::Result<Copied> {
    if let Ok(mut c) = current.lock() {
        *c = Some(dst.clone());
    }
    let result = fs.copy_file(src, dst, opts).await;
    if let Ok(mut c) = current.lock() {
        *c = None;
    }
    let summary: CopySummary = result.map_err(|e| match e.kind {
        ErrorKind::AlreadyExists if !opts.overwrite => {
            anyhow::anyhow!("{e} (use -f to overwrite)")
        }
        _ => e.into(),
    })?;
    Ok(Copied {
        src: src.clone(),
        dst: dst.clone(),
        length: summary.status.length,
        blocks_cloned: summary.cloned,
        blocks_streamed: summary.streamed,
    })
}
