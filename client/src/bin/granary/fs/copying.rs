//! `fs put` (`copyFromLocal`) and `fs moveFromLocal`: copies of local files and whole
//! directory trees into the cluster, one file streamed at a time, with a progress bar on
//! terminals, stopped cleanly by Ctrl-C or SIGTERM (`fs/getting` is the other direction).

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Mutex;

use anyhow::{bail, Context};
use clap::Args;
use granary_client::protocol::FileKind;
use granary_client::{ErrorKind, FsPath, Granary, PutOptions};
use indicatif::ProgressFinish;

use super::paths;
use super::writing::{source_progress, warn_if_under_replicated};
use crate::interrupt::{until_signal, Interrupted, CLEANUP_LIMIT};

/// The arguments of `fs put` and `fs moveFromLocal`.
#[derive(Args)]
pub struct PutArgs {
    /// Overwrite existing files.
    #[arg(short = 'f', long)]
    force: bool,
    /// Create missing parent directories.
    #[arg(short = 'p', long)]
    parents: bool,
    /// Replicas per block (default: the cluster's).
    #[arg(short = 'r', long)]
    replication: Option<u16>,
    /// Block size, e.g. 64M, 128MiB (default: the cluster's).
    #[arg(short = 'b', long, value_parser = super::parse_size_arg)]
    block_size: Option<u64>,
    /// Local sources (files, directories copied with everything below them, or `-` for
    /// stdin), then the destination path.
    #[arg(required = true, num_args = 2..)]
    paths: Vec<String>,
}

/// `fs put`: every source into the cluster.
pub async fn put(fs: &Granary, args: &PutArgs) -> anyhow::Result<()> {
    let (raw_dst, sources) = args.paths.split_last().context("no destination given")?;
    for src in sources.iter().filter(|s| s.as_str() != "-") {
        std::fs::metadata(src).with_context(|| src.to_string())?;
    }
    let dst = paths::destination(fs, raw_dst).await?;
    let dst_is_dir = matches!(fs.try_stat(&dst).await?, Some(s) if s.kind == FileKind::Directory);
    // The path parser drops a trailing `/`, which means "a directory" to the user.
    if raw_dst.ends_with('/') && !dst_is_dir {
        bail!("{raw_dst}: no such directory (a destination ending in / must be an existing directory)");
    }
    if sources.len() > 1 && !dst_is_dir {
        bail!("{dst}: not an existing directory (needed to put several sources)");
    }
    let opts = PutOptions {
        replication: args.replication,
        block_size: args.block_size,
        overwrite: args.force,
        create_parents: args.parents,
    };
    // One signal watch for the whole copy, so a Ctrl-C between two files is not missed; the
    // file being written when it comes is recorded here for the clean-up.
    let current = Mutex::new(None);
    let copy = async {
        for src in sources {
            let target = match dst_is_dir {
                true => dst.join(&local_name(src)?)?,
                false => dst.clone(),
            };
            if src != "-" && std::fs::metadata(src)?.is_dir() {
                put_tree(fs, Path::new(src), &target, &opts, &current).await?;
            } else {
                put_file(fs, src, &target, &opts, &current).await?;
            }
        }
        Ok::<_, anyhow::Error>(())
    };
    match until_signal(copy).await? {
        Some(copied) => copied,
        None => Err(abandon(fs, current.lock().ok().and_then(|mut c| c.take()))
            .await
            .into()),
    }
}

/// The name local source `src` gets inside a cluster directory: its own (that of the
/// directory it names, for `.`).
fn local_name(src: &str) -> anyhow::Result<String> {
    if src == "-" {
        bail!("stdin (-) has no name; name the destination file, not a directory");
    }
    let named = match Path::new(src).file_name() {
        Some(name) => name.to_owned(),
        None => std::fs::canonicalize(src)
            .with_context(|| src.to_string())?
            .file_name()
            .with_context(|| format!("{src}: has no name to put it under"))?
            .to_owned(),
    };
    match named.into_string() {
        Ok(name) => Ok(name),
        Err(_) => bail!("{src}: the name is not UTF-8"),
    }
}

/// `fs moveFromLocal`: `put`, then the local sources are deleted, only once every one of them
/// is in the cluster.
pub async fn move_from_local(fs: &Granary, args: &PutArgs) -> anyhow::Result<()> {
    let sources = &args.paths[..args.paths.len().saturating_sub(1)];
    if sources.iter().any(|s| s == "-") {
        bail!("moveFromLocal cannot move stdin (-); use put");
    }
    put(fs, args).await?;
    for src in sources {
        let removed = match std::fs::metadata(src)?.is_dir() {
            true => std::fs::remove_dir_all(src),
            false => std::fs::remove_file(src),
        };
        removed.with_context(|| format!("{src}: copied, but could not delete it"))?;
    }
    Ok(())
}

/// The local directory `local` as the cluster directory `target` (merged into it when it
/// exists), visiting directories in name order.
async fn put_tree(
    fs: &Granary,
    local: &Path,
    target: &FsPath,
    opts: &PutOptions,
    current: &Mutex<Option<FsPath>>,
) -> anyhow::Result<()> {
    match fs.try_stat(target).await? {
        Some(s) if s.kind == FileKind::File => {
            bail!(
                "{target}: is a file (cannot put directory {} there)",
                local.display()
            )
        }
        Some(_) => {}
        None => {
            fs.mkdir(target, opts.create_parents).await?;
        }
    }
    // A directory reached twice through symbolic links is copied once (and a link loop ends).
    let mut seen = HashSet::new();
    let mut pending = vec![(local.to_path_buf(), target.clone())];
    while let Some((dir, cluster_dir)) = pending.pop() {
        let meta = std::fs::metadata(&dir).with_context(|| dir.display().to_string())?;
        if !seen.insert((meta.dev(), meta.ino())) {
            continue;
        }
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).with_context(|| dir.display().to_string())? {
            names.push(
                entry
                    .with_context(|| dir.display().to_string())?
                    .file_name(),
            );
        }
        names.sort();
        let mut subdirs = Vec::new();
        for name in names {
            let path = dir.join(&name);
            let Some(name) = name.to_str() else {
                bail!("{}: the name is not UTF-8", path.display());
            };
            let child = cluster_dir.join(name)?;
            let meta = std::fs::metadata(&path).with_context(|| path.display().to_string())?;
            if meta.is_dir() {
                fs.mkdir(&child, true).await?;
                subdirs.push((path, child));
            } else if meta.is_file() {
                let src = path.to_str().context("local path is not UTF-8")?;
                put_file(fs, src, &child, opts, current).await?;
            } else {
                bail!("{}: not a file or directory", path.display());
            }
        }
        pending.extend(subdirs.into_iter().rev());
    }
    Ok(())
}

/// One local file (or `-`, stdin) as the cluster file `target`.
async fn put_file(
    fs: &Granary,
    src: &str,
    target: &FsPath,
    opts: &PutOptions,
    current: &Mutex<Option<FsPath>>,
) -> anyhow::Result<()> {
    if let Ok(mut c) = current.lock() {
        *c = Some(target.clone());
    }
    let (bar, progress) = source_progress(src, &format!("put {target}"));
    // Cleared also when an interrupt drops this copy.
    let bar = bar.with_finish(ProgressFinish::AndClear);
    let result = if src == "-" {
        fs.put_reader(tokio::io::stdin(), target, opts, None).await
    } else {
        fs.put_file(Path::new(src), target, opts, Some(progress))
            .await
    };
    bar.finish_and_clear();
    if let Ok(mut c) = current.lock() {
        *c = None;
    }
    let summary = result.map_err(|e| match e.kind {
        ErrorKind::AlreadyExists if !opts.overwrite => {
            anyhow::anyhow!("{e} (use -f to overwrite)")
        }
        _ => e.into(),
    })?;
    warn_if_under_replicated(fs, target, &summary).await;
    Ok(())
}

/// After an interrupted put: deletes `target`, the file being written, if this command still
/// holds it open, which releases its lease (a retry may start at once) and has its blocks'
/// replicas deleted. A file another writer holds, or one that was never created, is left alone.
pub(super) async fn abandon(fs: &Granary, target: Option<FsPath>) -> Interrupted {
    let Some(target) = target else {
        return Interrupted(
            "interrupted between two files (the ones copied so far stay)".to_string(),
        );
    };
    let cleanup = async {
        let status = fs.try_stat(&target).await?;
        let ours = status.is_some_and(|s| s.lease_holder.as_ref() == Some(fs.lease_holder()));
        if ours {
            fs.delete(&target, false).await?;
        }
        Ok::<_, granary_client::Error>(ours)
    };
    match tokio::time::timeout(CLEANUP_LIMIT, cleanup).await {
        Ok(Ok(true)) => Interrupted(format!("interrupted: deleted the partial {target}")),
        Ok(Ok(false)) => Interrupted(format!("interrupted: {target} was not written")),
        Ok(Err(e)) => Interrupted(format!(
            "interrupted: could not delete the partial {target} (its lease expires on its own): {e}"
        )),
        Err(_) => Interrupted(format!(
            "interrupted: could not delete the partial {target} within {}s (its lease expires on its own)",
            CLEANUP_LIMIT.as_secs()
        )),
    }
}
