//! `fs ls` and `fs setrep`: walks that page through the namenode's listings, printing or
//! acting on each page as it arrives, so a huge directory is never one answer nor one
//! namenode lock hold.

use std::io::Write;

use anyhow::bail;
use granary_client::protocol::{FileKind, FileStatus};
use granary_client::{FsPath, Granary};

use crate::output;

/// `fs ls`: the entries below each path in turn (a file is its own entry), printed page by
/// page as they arrive; with `json`, one array of them all. Sizes in human units with `human`
/// (`-h`).
pub async fn ls(
    fs: &Granary,
    paths: &[FsPath],
    recursive: bool,
    human: bool,
    json: bool,
) -> anyhow::Result<()> {
    let walk = |path: &FsPath| match recursive {
        true => fs.walk(path),
        false => fs.walk(path).children_only(),
    };
    let stdout = || std::io::BufWriter::new(std::io::stdout().lock());
    if json {
        let mut array = None;
        for path in paths {
            let mut walk = walk(path);
            // Fetched before anything of this path is printed: a bad path is one error line.
            let mut next = walk.next().await?;
            let array = match array.as_mut() {
                Some(array) => array,
                None => array.insert(output::JsonArray::start(stdout())?),
            };
            while let Some(entry) = next {
                array.push(&entry)?;
                next = walk.next().await?;
            }
        }
        if let Some(array) = array {
            array.finish()?;
        }
        return Ok(());
    }
    let mut out = stdout();
    for path in paths {
        let mut walk = walk(path);
        let mut next = walk.next().await?;
        while let Some(entry) = next {
            write_line(&mut out, &entry, human)?;
            next = walk.next().await?;
        }
    }
    out.flush()?;
    Ok(())
}

fn write_line(out: &mut impl Write, e: &FileStatus, human: bool) -> anyhow::Result<()> {
    let repl = match e.kind {
        FileKind::Directory => "-".to_string(),
        FileKind::File => e.replication.to_string(),
    };
    // An open file is marked as `hdfs dfs -ls` users know from fsck: with its writer.
    let open = match &e.lease_holder {
        Some(holder) => format!("  [open for write by {holder}]"),
        None => String::new(),
    };
    writeln!(
        out,
        "{} {repl:>3} {} {} {:>12} {} {}{open}",
        super::permissions::mode_string(e),
        e.attrs.owner,
        e.attrs.group,
        output::size(e.length, human),
        output::time_ms(e.modified_ms),
        e.path
    )?;
    Ok(())
}

/// Sets the replication of a file, or of every file below a directory (walked page by page,
/// as HDFS's `setrep` walks on the client); with `wait`, then waits for each to converge.
pub async fn setrep(
    fs: &Granary,
    path: &FsPath,
    replication: u16,
    wait: bool,
) -> anyhow::Result<()> {
    let mut walk = fs.walk(path);
    let mut changed = Vec::new();
    while let Some(entry) = walk.next().await? {
        if entry.kind != FileKind::File {
            continue;
        }
        fs.set_replication(&entry.path, replication).await?;
        println!("{}: replication set to {replication}", entry.path);
        if wait {
            changed.push(entry.path);
        }
    }
    for file in &changed {
        wait_for_replication(fs, file, usize::from(replication)).await?;
    }
    Ok(())
}

/// Polls until every block of `file` has exactly `replication` live replicas.
async fn wait_for_replication(
    fs: &Granary,
    file: &FsPath,
    replication: usize,
) -> anyhow::Result<()> {
    let live = fs.report().await?.live_datanodes as usize;
    if live < replication {
        bail!("{file}: only {live} live datanodes, cannot reach {replication} replicas");
    }
    loop {
        let located = fs.locate(file).await?;
        if located
            .blocks
            .iter()
            .all(|b| b.locations.len() == replication)
        {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
