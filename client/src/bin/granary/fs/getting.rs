//! `fs get` (`copyToLocal`): copies of cluster files and whole directory trees to the local
//! disk, one file streamed at a time through a temporary file, with a progress bar on
//! terminals, stopped cleanly by Ctrl-C or SIGTERM.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context};
use clap::Args;
use granary_client::protocol::FileKind;
use granary_client::{FsPath, Granary};
use indicatif::ProgressFinish;

use super::paths;
use crate::interrupt::{until_signal, Interrupted};
use crate::output;

/// The arguments of `fs get`.
#[derive(Args)]
pub struct GetArgs {
    /// Overwrite existing local files.
    #[arg(short = 'f', long)]
    force: bool,
    /// Cluster sources (files, or directories copied with everything below them), then the
    /// local destination (an existing directory when there are several sources).
    #[arg(required = true, num_args = 2..)]
    paths: Vec<String>,
}

/// `fs get`: every source to the local disk.
pub async fn get(fs: &Granary, args: &GetArgs) -> anyhow::Result<()> {
    let (raw_dst, sources) = args.paths.split_last().context("no destination given")?;
    let dst = PathBuf::from(raw_dst);
    let sources = paths::expand(fs, sources).await?;
    let dst_is_dir = dst.is_dir();
    if sources.len() > 1 && !dst_is_dir {
        bail!("{raw_dst}: not an existing directory (needed to get several sources)");
    }
    let current = Mutex::new(None);
    let copy = async {
        for src in &sources {
            let status = fs.stat(src).await?;
            let target = match dst_is_dir {
                true => dst.join(src.file_name().unwrap_or("root")),
                false => dst.clone(),
            };
            match status.kind {
                FileKind::Directory => get_tree(fs, src, &target, args.force, &current).await?,
                FileKind::File => {
                    get_file(fs, src, status.length, &target, args.force, &current).await?
                }
            }
        }
        Ok::<_, anyhow::Error>(())
    };
    match until_signal(copy).await? {
        Some(copied) => copied,
        None => {
            // Dropping the copy removed the temporary file of the file being copied.
            let message = match current.lock().ok().and_then(|mut c| c.take()) {
                Some(local) => format!("interrupted: {} was not written", local.display()),
                None => "interrupted between two files (the ones copied so far stay)".to_string(),
            };
            Err(Interrupted(message).into())
        }
    }
}

/// The cluster directory `src` as the local directory `target` (merged into it when it
/// exists), every entry below it in the order a walk visits them.
async fn get_tree(
    fs: &Granary,
    src: &FsPath,
    target: &Path,
    force: bool,
    current: &Mutex<Option<PathBuf>>,
) -> anyhow::Result<()> {
    local_dir(target)?;
    let mut walk = fs.walk(src);
    while let Some(entry) = walk.next().await? {
        let below = entry.path.as_str()[src.as_str().len()..].trim_start_matches('/');
        let local = target.join(below);
        match entry.kind {
            FileKind::Directory => local_dir(&local)?,
            FileKind::File => {
                get_file(fs, &entry.path, entry.length, &local, force, current).await?
            }
        }
    }
    Ok(())
}

/// Creates the local directory `dir` unless it is one already; its parent must exist.
fn local_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if dir.exists() {
        bail!("{}: exists and is not a directory", dir.display());
    }
    std::fs::create_dir(dir).with_context(|| dir.display().to_string())
}

/// One cluster file of `length` bytes as the local file `dst`, through a temporary file
/// renamed into place (removed if the copy fails or is dropped).
async fn get_file(
    fs: &Granary,
    src: &FsPath,
    length: u64,
    dst: &Path,
    force: bool,
    current: &Mutex<Option<PathBuf>>,
) -> anyhow::Result<()> {
    if dst.is_dir() {
        bail!(
            "{}: is a directory (cannot get file {src} there)",
            dst.display()
        );
    }
    if dst.exists() && !force {
        bail!("{}: already exists (use -f to overwrite)", dst.display());
    }
    if let Ok(mut c) = current.lock() {
        *c = Some(dst.to_path_buf());
    }
    let bar =
        output::progress_bar(length, &format!("get {src}")).with_finish(ProgressFinish::AndClear);
    fs.get_file(src, dst, Some(&|n| bar.set_position(n)))
        .await?;
    bar.finish_and_clear();
    if let Ok(mut c) = current.lock() {
        *c = None;
    }
    Ok(())
}
