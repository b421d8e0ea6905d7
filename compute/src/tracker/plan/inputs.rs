//! A job's inputs as a list of files: paths, directories (their files, recursively) and globs
//! (`*`, `?`, `[...]` within a component, matched level by level against directory listings).
//! Names starting with `_` or `.` (`_SUCCESS`, `_temporary`, hidden files) are skipped, as
//! Hadoop's input formats skip them, unless a pattern asks for them by their first character.

use std::collections::HashSet;

use glob::Pattern;
use granary_client::protocol::{FileKind, FileStatus};
use granary_client::{Error, ErrorKind, FsPath, Granary};

/// The files of `inputs`, each once, in the order the inputs name them (sorted by path within
/// a directory or a glob). A path that does not exist, or a glob that matches nothing, is an
/// error.
pub async fn expand(fs: &Granary, inputs: &[String]) -> Result<Vec<FileStatus>, Error> {
    let mut files = Vec::new();
    let mut seen = HashSet::new();
    for input in inputs {
        let path = FsPath::parse(input)?;
        let matches = if is_glob(input) {
            glob(fs, &path, input).await?
        } else {
            fs.try_stat(&path).await?.into_iter().collect()
        };
        if matches.is_empty() {
            return Err(Error::not_found(format!(
                "input path does not exist: {input}"
            )));
        }
        for entry in matches {
            for file in files_under(fs, entry).await? {
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
async fn glob(fs: &Granary, path: &FsPath, input: &str) -> Result<Vec<FileStatus>, Error> {
    let components: Vec<&str> = path.components().collect();
    let mut current = vec![fs.stat(&FsPath::root()).await?];
    for (i, component) in components.iter().enumerate() {
        let last = i + 1 == components.len();
        let mut next = Vec::new();
        let dirs = current.iter().filter(|e| e.kind == FileKind::Directory);
        if is_glob(component) {
            let pattern = Pattern::new(component)
                .map_err(|e| Error::invalid_argument(format!("invalid glob {input}: {}", e.msg)))?;
            for dir in dirs {
                for entry in fs.list(&dir.path, false).await? {
                    let name = entry.path.file_name().unwrap_or_default();
                    if component_matches(&pattern, component, name)
                        && (last || entry.kind == FileKind::Directory)
                    {
                        next.push(entry);
                    }
                }
            }
        } else {
            for dir in dirs {
                if let Some(entry) = fs.try_stat(&dir.path.join(component)?).await? {
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

/// A file itself, or a directory's files at any depth outside hidden names.
async fn files_under(fs: &Granary, entry: FileStatus) -> Result<Vec<FileStatus>, Error> {
    if entry.kind == FileKind::File {
        return Ok(vec![entry]);
    }
    let listed = match fs.list(&entry.path, true).await {
        Ok(listed) => listed,
        // Deleted since it was matched: it contributes nothing.
        Err(e) if e.kind == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let depth = entry.path.components().count();
    Ok(listed
        .into_iter()
        .filter(|f| f.kind == FileKind::File)
        .filter(|f| !f.path.components().skip(depth).any(is_hidden))
        .collect())
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
