//! `fs put` and `fs get`: copies between local files and the cluster, with a progress bar on
//! terminals, stopped cleanly by Ctrl-C or SIGTERM.

use std::path::Path;

use anyhow::bail;
use granary_client::protocol::FileKind;
use granary_client::{ErrorKind, FsPath, Granary, PutOptions};

use super::writing::{check_local_sources, source_progress, warn_if_under_replicated};
use crate::interrupt::{until_signal, Interrupted, CLEANUP_LIMIT};
use crate::output;

pub async fn put(
    fs: &Granary,
    sources: &[String],
    dst: &FsPath,
    must_be_dir: bool,
    opts: &PutOptions,
) -> anyhow::Result<()> {
    check_local_sources(sources, "put")?;
    let dst_is_dir = matches!(fs.try_stat(dst).await?, Some(s) if s.kind == FileKind::Directory);
    if must_be_dir && !dst_is_dir {
        bail!(
            "{}/: no such directory (a destination ending in / must be an existing directory)",
            dst.as_str().trim_end_matches('/')
        );
    }
    if sources.len() > 1 && !dst_is_dir {
        bail!("{dst}: not an existing directory (needed to put several files)");
    }
    for src in sources {
        let target = if dst_is_dir {
            let name = Path::new(src)
                .file_name()
                .and_then(|n| n.to_str())
                .filter(|_| src != "-");
            match name {
                Some(name) => dst.join(name)?,
                None => bail!("{dst}: is a directory; name the destination file for stdin"),
            }
        } else {
            dst.clone()
        };
        let (bar, progress) = source_progress(src, &format!("put {target}"));
        let result = if src == "-" {
            until_signal(fs.put_reader(tokio::io::stdin(), &target, opts, None)).await?
        } else {
            until_signal(fs.put_file(Path::new(src), &target, opts, Some(progress))).await?
        };
        bar.finish_and_clear();
        let Some(result) = result else {
            return Err(abandon(fs, &target).await.into());
        };
        let summary = result.map_err(|e| match e.kind {
            ErrorKind::AlreadyExists if !opts.overwrite => {
                anyhow::anyhow!("{e} (use -f to overwrite)")
            }
            _ => e.into(),
        })?;
        warn_if_under_replicated(fs, &target, &summary).await;
    }
    Ok(())
}

/// After an interrupted put: deletes `target` if this command still holds it open, which
/// releases its lease (a retry may start at once) and has its blocks' replicas deleted. A
/// file another writer holds, or one that was never created, is left alone.
pub(super) async fn abandon(fs: &Granary, target: &FsPath) -> Interrupted {
    let cleanup = async {
        let status = fs.try_stat(target).await?;
        let ours = status.is_some_and(|s| s.lease_holder.as_ref() == Some(fs.lease_holder()));
        if ours {
            fs.delete(target, false).await?;
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

pub async fn get(fs: &Granary, src: &FsPath, dst: &Path, force: bool) -> anyhow::Result<()> {
    let status = fs.stat(src).await?;
    if status.kind == FileKind::Directory {
        bail!("{src}: is a directory (get copies files)");
    }
    let dst = if dst.is_dir() {
        dst.join(src.file_name().unwrap_or("root"))
    } else {
        dst.to_path_buf()
    };
    if dst.exists() && !force {
        bail!("{}: already exists (use -f to overwrite)", dst.display());
    }
    let bar = output::progress_bar(status.length, &format!("get {src}"));
    // Dropping the copy on a signal removes its temporary file.
    let result = until_signal(fs.get_file(src, &dst, Some(&|n| bar.set_position(n)))).await?;
    bar.finish_and_clear();
    match result {
        Some(copied) => {
            copied?;
            Ok(())
        }
        None => Err(Interrupted(format!("interrupted: {} was not written", dst.display())).into()),
    }
}
