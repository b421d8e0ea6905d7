//! `fs getmerge`: the files of directories (a job's output: its `part-*` files, by name) and
//! files, concatenated into one local file, written whole or not at all.

use std::path::{Path, PathBuf};

use anyhow::bail;
use granary_client::protocol::{FileKind, FileStatus};
use granary_client::{FsPath, Granary, PartialFile};
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use super::paths;
use crate::interrupt::{until_signal, Interrupted};
use crate::output::{self, print_json};

/// `fs getmerge`'s arguments.
#[derive(clap::Args)]
pub struct GetmergeArgs {
    /// Add a newline after each file (`-nl` as hdfs).
    #[arg(long = "nl")]
    newline: bool,
    /// Leave out empty files (and their newline with --nl).
    #[arg(long)]
    skip_empty_file: bool,
    /// Overwrite an existing local file.
    #[arg(short = 'f', long)]
    force: bool,
    /// Print JSON: the local file, the files merged and the bytes written.
    #[arg(long)]
    json: bool,
    /// Sources (directories or files), then the local file to write.
    #[arg(required = true, num_args = 2.., value_name = "PATH")]
    paths: Vec<String>,
}

/// `getmerge --json`.
#[derive(Serialize)]
struct MergeSummary {
    local: String,
    /// The files merged, in order.
    files: Vec<FsPath>,
    /// Bytes written to the local file, newlines included.
    bytes: u64,
}

pub async fn getmerge(fs: &Granary, mut args: GetmergeArgs) -> anyhow::Result<()> {
    let local = PathBuf::from(args.paths.pop().unwrap_or_default());
    let local = local.as_path();
    let sources = paths::expand(fs, &args.paths).await?;
    if local.is_dir() {
        bail!(
            "{}: is a directory (getmerge writes one file)",
            local.display()
        );
    }
    if local.exists() && !args.force {
        bail!("{}: already exists (use -f to overwrite)", local.display());
    }
    let mut files = Vec::new();
    for src in &sources {
        files.extend(files_of(fs, src).await?);
    }
    if args.skip_empty_file {
        files.retain(|f| f.length > 0);
    }
    let total = files.iter().map(|f| f.length).sum();
    let bar = output::progress_bar(total, &format!("getmerge {}", local.display()));
    // Dropping the merge on a signal removes its temporary file.
    let result = until_signal(merge(fs, &files, local, args.newline, &bar)).await?;
    bar.finish_and_clear();
    let Some(bytes) = result else {
        let message = format!("interrupted: {} was not written", local.display());
        return Err(Interrupted(message).into());
    };
    let bytes = bytes?;
    if args.json {
        print_json(&MergeSummary {
            local: local.display().to_string(),
            files: files.into_iter().map(|f| f.path).collect(),
            bytes,
        })?;
    }
    Ok(())
}

/// A file source itself; a directory's files sorted by name, without its subdirectories (as
/// hdfs) and without hidden `_`/`.` names such as `_SUCCESS`, as Hadoop's output readers skip
/// them.
async fn files_of(fs: &Granary, src: &FsPath) -> anyhow::Result<Vec<FileStatus>> {
    let status = fs.stat(src).await?;
    if status.kind == FileKind::File {
        return Ok(vec![status]);
    }
    let mut files = fs.list(src, false).await?;
    files.retain(|f| {
        let hidden = f
            .path
            .file_name()
            .is_some_and(|n| n.starts_with('_') || n.starts_with('.'));
        f.kind == FileKind::File && !hidden
    });
    Ok(files)
}

/// Writes the files in order into a temporary file next to `local`, renamed to it at the end;
/// answers the bytes written.
async fn merge(
    fs: &Granary,
    files: &[FileStatus],
    local: &Path,
    newline: bool,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<u64> {
    let mut out = PartialFile::create(local, ".granary-getmerge-")?;
    let (mut written, mut copied) = (0u64, 0u64);
    for file in files {
        if file.length > 0 {
            let reader = fs.open(&file.path).await?;
            let before = copied;
            let n = reader
                .copy_to(out.writer(), Some(&|n| bar.set_position(before + n)))
                .await?;
            copied += n;
            written += n;
        }
        if newline {
            out.writer().write_all(b"\n").await?;
            written += 1;
        }
    }
    out.persist().await?;
    Ok(written)
}
