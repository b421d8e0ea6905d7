//! `fs rm` and `fs expunge`: the trash as `hdfs dfs` has it. What `rm` deletes is moved to
//! the user's trash (`granary_client::trash`) while the namenode's `trash_interval` is not 0;
//! `-skipTrash`, and anything already in the trash, is deleted at once.

use std::time::Duration;

use anyhow::bail;
use granary_client::protocol::FileKind;
use granary_client::trash::{self, names, Trash};
use granary_client::{ErrorKind, FsPath, Granary};

use crate::output::print_json;

/// The namenode's trash interval (0: the trash is off).
async fn trash_interval(fs: &Granary) -> anyhow::Result<Duration> {
    Ok(Duration::from_millis(
        fs.server_defaults().await?.trash_interval_ms,
    ))
}

/// The trash of the user the commands run as (`--user`, else the local user), keeping
/// things for `interval`.
fn user_trash(fs: &Granary, interval: Duration) -> anyhow::Result<Trash<'_, Granary>> {
    let root = trash::trash_root(fs.user())?;
    Ok(Trash::new(fs, root, interval)?)
}

/// `fs rm`: each path moved to the trash (one line says where), or deleted.
pub async fn rm(
    fs: &Granary,
    paths: &[FsPath],
    recursive: bool,
    skip_trash: bool,
) -> anyhow::Result<()> {
    let interval = match skip_trash {
        true => Duration::ZERO,
        false => trash_interval(fs).await?,
    };
    let trash = match interval.is_zero() {
        true => None,
        false => Some(user_trash(fs, interval)?),
    };
    for path in paths {
        if let Some(trash) = &trash {
            refuse_directory_unless_recursive(fs, path, recursive).await?;
            if let Some(at) = trash.move_to_trash(path).await? {
                println!("Moved: '{path}' to trash at: {at}");
                continue;
            }
        }
        delete(fs, path, recursive).await?;
        println!("Deleted {path}");
    }
    Ok(())
}

/// What a delete without `-r` refuses, checked before a move to the trash (which would take
/// the whole directory).
async fn refuse_directory_unless_recursive(
    fs: &Granary,
    path: &FsPath,
    recursive: bool,
) -> anyhow::Result<()> {
    let status = fs.stat(path).await?;
    if status.kind == FileKind::Directory && !recursive {
        let page = fs.list_page(path, None, Some(1)).await?;
        if !page.entries.is_empty() {
            bail!(not_empty(path));
        }
    }
    Ok(())
}

async fn delete(fs: &Granary, path: &FsPath, recursive: bool) -> anyhow::Result<()> {
    fs.delete(path, recursive).await.map_err(|e| match e.kind {
        ErrorKind::DirectoryNotEmpty => anyhow::anyhow!(not_empty(path)),
        _ => e.into(),
    })?;
    Ok(())
}

fn not_empty(path: &FsPath) -> String {
    format!("{path}: directory is not empty (use -r to delete it and everything below it)")
}

/// `fs expunge`: deletes the user's checkpoints older than the trash interval and checkpoints
/// `Current`; `immediate`: checkpoints, then deletes every checkpoint.
pub async fn expunge(fs: &Granary, immediate: bool, json: bool) -> anyhow::Result<()> {
    let trash = user_trash(fs, trash_interval(fs).await?)?;
    let now = names::now_ms();
    let done = match immediate {
        true => trash.expunge_immediately(now).await?,
        false => trash.expunge(now).await?,
    };
    if json {
        return print_json(&done);
    }
    for deleted in &done.deleted {
        println!("Deleted trash checkpoint: {deleted}");
    }
    if let Some(created) = &done.created {
        println!("Created trash checkpoint: {created}");
    }
    Ok(())
}
