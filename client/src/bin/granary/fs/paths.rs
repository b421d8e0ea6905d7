//! How `fs` commands turn their path arguments into cluster paths. Every command resolves its
//! arguments here, so the rules are the same for all of them: a glob (`*`, `?`, `[...]`, see
//! [`granary_client::glob`]) expands to the existing paths it matches, and is an error when it
//! matches none, as in `hdfs dfs`; a plain path passes through with its backslash escapes
//! removed (`x\[1\]` is `x[1]`; the command reports it missing, as it would anyway).

use anyhow::bail;
use granary_client::glob::{self, is_glob};
use granary_client::{FsPath, Granary};

/// The paths that existing-path arguments name (sources, files to read or delete), in order;
/// a glob's matches sorted by path.
pub async fn expand(fs: &Granary, raw: &[String]) -> anyhow::Result<Vec<FsPath>> {
    let mut paths = Vec::with_capacity(raw.len());
    for r in raw {
        paths.extend(matches(fs, r).await?);
    }
    Ok(paths)
}

/// The one existing path an argument names (commands that take a single source); a glob
/// matching several paths is refused.
pub async fn expand_one(fs: &Granary, raw: &str) -> anyhow::Result<FsPath> {
    let mut found = matches(fs, raw).await?;
    if found.len() > 1 {
        bail!(
            "`{raw}': matches {} paths ({}, ...); this command takes one",
            found.len(),
            found[0]
        );
    }
    Ok(found.remove(0))
}

/// A destination argument, which may not exist yet: a glob matching one existing path is
/// that path, and one matching nothing is the path as written (as hdfs's destinations, so
/// `put f '/d/q[1].csv'` creates that name); one matching several is refused.
pub async fn destination(fs: &Granary, raw: &str) -> anyhow::Result<FsPath> {
    if !is_glob(raw) {
        return Ok(FsPath::parse(&glob::unescape(raw))?);
    }
    let mut found = glob::expand(fs, raw).await?;
    match found.len() {
        0 => Ok(FsPath::parse(raw)?),
        1 => Ok(found.remove(0).path),
        n => bail!(
            "`{raw}': matches {n} paths ({}, ...); a destination must be one",
            found[0].path
        ),
    }
}

/// A plain path itself, or the paths a glob matches (at least one).
async fn matches(fs: &Granary, raw: &str) -> anyhow::Result<Vec<FsPath>> {
    if !is_glob(raw) {
        return Ok(vec![FsPath::parse(&glob::unescape(raw))?]);
    }
    let found = glob::expand(fs, raw).await?;
    if found.is_empty() {
        bail!("`{raw}': No such file or directory");
    }
    Ok(found.into_iter().map(|status| status.path).collect())
}
