//! `fs touchz`, `fs test`, `fs rmdir`: small commands about single entries, as `hdfs dfs` has
//! them.

use std::process::ExitCode;

use anyhow::bail;
use granary_client::protocol::FileKind;
use granary_client::{FsPath, Granary, PutOptions};

/// What `fs test` checks (`hdfs dfs -test`).
#[derive(Clone, Copy, Debug)]
pub enum TestCheck {
    /// The path exists.
    E,
    /// It is a directory.
    D,
    /// It is a file.
    F,
    /// It is a file of more than 0 bytes.
    S,
    /// It is a file of 0 bytes.
    Z,
}

/// Creates each path as an empty file; an existing empty file is left as it is, anything else
/// there is refused (as `hdfs dfs -touchz`).
pub async fn touchz(fs: &Granary, paths: &[FsPath]) -> anyhow::Result<()> {
    for path in paths {
        match fs.try_stat(path).await? {
            Some(s) if s.kind == FileKind::Directory => bail!("{path}: is a directory"),
            Some(s) if s.length > 0 => bail!("{path}: not a zero-length file"),
            Some(_) => {}
            None => {
                fs.put_bytes(b"", path, &PutOptions::default()).await?;
            }
        }
    }
    Ok(())
}

/// Exit status only: 0 when the check holds, 1 when it does not (as `hdfs dfs -test`).
pub async fn test(fs: &Granary, check: TestCheck, path: &FsPath) -> anyhow::Result<ExitCode> {
    let status = fs.try_stat(path).await?;
    let holds = match (check, &status) {
        (_, None) => false,
        (TestCheck::E, Some(_)) => true,
        (TestCheck::D, Some(s)) => s.kind == FileKind::Directory,
        (TestCheck::F, Some(s)) => s.kind == FileKind::File,
        (TestCheck::S, Some(s)) => s.kind == FileKind::File && s.length > 0,
        (TestCheck::Z, Some(s)) => s.kind == FileKind::File && s.length == 0,
    };
    Ok(if holds {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Removes empty directories; a file, a missing path or a directory with entries is refused,
/// and nothing after it is removed.
pub async fn rmdir(fs: &Granary, paths: &[FsPath]) -> anyhow::Result<()> {
    for path in paths {
        match fs.try_stat(path).await? {
            None => bail!("{path}: no such directory"),
            Some(s) if s.kind != FileKind::Directory => bail!("{path}: is not a directory"),
            Some(_) => {}
        }
        if !fs.list_page(path, None, Some(1)).await?.entries.is_empty() {
            bail!("{path}: directory is not empty");
        }
        fs.delete(path, false).await?;
    }
    Ok(())
}
