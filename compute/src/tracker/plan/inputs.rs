//! A job's inputs as a list of files: paths, directories (their files, recursively) and globs
//! (`*`, `?`, `[...]` within a component, matched level by level against directory listings).
//! Names starting with `_` or `.` (`_SUCCESS`, `_temporary`, hidden files) are skipped, as
//! Hadoop's input formats skip them, unless a pattern asks for them by their first character.

use std::collections::HashSet;

use glob::Pattern;
use granary_client::protocol::{FileKind, FileStatus};
use granary_client::{Error, ErrorKind, FsPath};

use crate::tracker::namespace::{TrackerNamespace, LIST_PAGE};

/// The files of `inputs`, each once, in the order the inputs name them (sorted by path within
/// a directory or a glob). A path that does not exist, or a glob that matches nothing, is an
/// error.
pub async fn expand(
    ns: &dyn TrackerNamespace,
    inputs: &[String],
) -> Result<Vec<FileStatus>, Error> {
    let mut files = Vec::new();
    let mut seen = HashSet::new();
    for input in inputs {
        let path = FsPath::parse(input)?;
        let matches = if is_glob(input) {
            glob(ns, &path, input).await?
        } else {
            ns.try_stat(&path).await?.into_iter().collect()
        };
        if matches.is_empty() {
            return Err(Error::not_found(format!(
                "input path does not exist: {input}"
            )));
        }
        for entry in matches {
            for file in files_under(ns, entry).await? {
                if seen.insert(file.path.clone()) {
                    files.push(file);
                }
            }
        }
    }
    Ok(files)
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Names a directory listing or a wildcard leaves out.
fn is_hidden(name: &str) -> bool {
    name.starts_with('_') || name.starts_with('.')
}

/// The entries matching `path`, one component at a time from the root.
async fn glob(
    ns: &dyn TrackerNamespace,
    path: &FsPath,
    input: &str,
) -> Result<Vec<FileStatus>, Error> {
    let components: Vec<&str> = path.components().collect();
    let root = FsPath::root();
    let root = ns.try_stat(&root).await?;
    let mut current: Vec<FileStatus> = root.into_iter().collect();
    for (i, component) in components.iter().enumerate() {
        let last = i + 1 == components.len();
        let mut next = Vec::new();
        let dirs = current.iter().filter(|e| e.kind == FileKind::Directory);
        if is_glob(component) {
            let pattern = Pattern::new(component)
                .map_err(|e| Error::invalid_argument(format!("invalid glob {input}: {}", e.msg)))?;
            for dir in dirs {
                let matching = |entry: &FileStatus| {
                    let name = entry.path.file_name().unwrap_or_default();
                    component_matches(&pattern, component, name)
                        && (last || entry.kind == FileKind::Directory)
                };
                next.extend(list_all(ns, &dir.path, matching).await?);
            }
        } else {
            for dir in dirs {
                if let Some(entry) = ns.try_stat(&dir.path.join(component)?).await? {
                    next.push(entry);
                }
            }
        }
        current = next;
        if current.is_empty() {
            break;
        }
    }
    Ok(current)
}

fn component_matches(pattern: &Pattern, raw: &str, name: &str) -> bool {
    let asks_for_hidden = raw.starts_with('_') || raw.starts_with('.');
    pattern.matches(name) && (!is_hidden(name) || asks_for_hidden)
}

/// A file itself, or a directory's files at any depth outside hidden names, sorted by path.
/// A directory deleted since it was matched contributes nothing.
async fn files_under(
    ns: &dyn TrackerNamespace,
    entry: FileStatus,
) -> Result<Vec<FileStatus>, Error> {
    if entry.kind == FileKind::File {
        return Ok(vec![entry]);
    }
    let mut files = Vec::new();
    let mut dirs = vec![entry.path];
    while let Some(dir) = dirs.pop() {
        let visible = |e: &FileStatus| !is_hidden(e.path.file_name().unwrap_or_default());
        let entries = match list_all(ns, &dir, visible).await {
            Ok(entries) => entries,
            Err(e) if e.kind == ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            match entry.kind {
                FileKind::File => files.push(entry),
                FileKind::Directory => dirs.push(entry.path),
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// The entries of directory `dir` that `keep` accepts, listed page by page, so no listing
/// answer is larger than a page.
async fn list_all(
    ns: &dyn TrackerNamespace,
    dir: &FsPath,
    keep: impl Fn(&FileStatus) -> bool,
) -> Result<Vec<FileStatus>, Error> {
    let mut kept = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = ns.list_page(dir, cursor.as_deref(), LIST_PAGE).await?;
        kept.extend(page.entries.into_iter().filter(|e| keep(e)));
        match page.next_start_after {
            Some(next) => cursor = Some(next),
            None => return Ok(kept),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_skip_hidden_names_unless_asked() {
        let star = Pattern::new("*").unwrap();
        assert!(component_matches(&star, "*", "a.log"));
        assert!(!component_matches(&star, "*", "_SUCCESS"));
        assert!(!component_matches(&star, "*", ".hidden"));
        let underscore = Pattern::new("_*").unwrap();
        assert!(component_matches(&underscore, "_*", "_SUCCESS"));
        let class = Pattern::new("part-[mr]-0000?").unwrap();
        assert!(component_matches(&class, "part-[mr]-0000?", "part-r-00003"));
        assert!(!component_matches(
            &class,
            "part-[mr]-0000?",
            "part-x-00003"
        ));
    }

    #[test]
    fn glob_characters_are_recognised() {
        assert!(is_glob("/logs/*.log"));
        assert!(is_glob("/logs/day-?"));
        assert!(is_glob("/logs/[ab]"));
        assert!(!is_glob("/logs/a.log"));
    }
}
