//! How `fs` commands turn their path arguments into cluster paths. Every command resolves its
//! arguments here, so the rules (and globs) are the same for all of them.

use granary_client::{FsPath, Granary};

/// The paths that existing-path arguments name (sources, files to read or delete), in order.
pub async fn expand(fs: &Granary, raw: &[String]) -> anyhow::Result<Vec<FsPath>> {
    let mut paths = Vec::with_capacity(raw.len());
    for r in raw {
        paths.push(expand_one(fs, r).await?);
    }
    Ok(paths)
}

/// The one existing path an argument names (commands that take a single source).
pub async fn expand_one(_fs: &Granary, raw: &str) -> anyhow::Result<FsPath> {
    Ok(FsPath::parse(raw)?)
}

/// A destination argument (it may not exist yet).
pub async fn destination(_fs: &Granary, raw: &str) -> anyhow::Result<FsPath> {
    Ok(FsPath::parse(raw)?)
}
