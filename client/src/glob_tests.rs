use std::collections::BTreeMap;

use super::*;

/// A namespace in memory: every path with its kind. Listings come in pages of two entries, so
/// expansions must follow `next_start_after`.
struct Tree(BTreeMap<FsPath, FileKind>);

const PAGE: usize = 2;

impl Tree {
    fn new(files: &[&str], dirs: &[&str]) -> Self {
        let mut entries = BTreeMap::from([(FsPath::root(), FileKind::Directory)]);
        for (paths, kind) in [(files, FileKind::File), (dirs, FileKind::Directory)] {
            for path in paths {
                let mut path = FsPath::parse(path).unwrap();
                entries.insert(path.clone(), kind);
                while let Some(parent) = path.parent() {
                    entries.insert(parent.clone(), FileKind::Directory);
                    path = parent;
                }
            }
        }
        Tree(entries)
    }

    fn status(&self, path: &FsPath) -> Option<FileStatus> {
        self.0.get(path).map(|&kind| FileStatus {
            path: path.clone(),
            kind,
            length: 0,
            replication: 1,
            block_size: 1 << 20,
            modified_ms: 0,
            lease_holder: None,
            attrs: Default::default(),
        })
    }
}

impl Listing for Tree {
    fn try_stat<'a>(&'a self, path: &'a FsPath) -> BoxFuture<'a, Result<Option<FileStatus>>> {
        Box::pin(async move { Ok(self.status(path)) })
    }

    fn list_page<'a>(
        &'a self,
        dir: &'a FsPath,
        start_after: Option<&'a str>,
    ) -> BoxFuture<'a, Result<ListResponse>> {
        Box::pin(async move {
            let mut children = self
                .0
                .keys()
                .filter(|p| p.parent().as_ref() == Some(dir))
                .filter(|p| start_after.is_none_or(|after| p.file_name().unwrap() > after));
            let entries: Vec<FileStatus> = children
                .by_ref()
                .take(PAGE)
                .map(|p| self.status(p).unwrap())
                .collect();
            let more = children.next().is_some();
            let next_start_after = more
                .then(|| entries.last().and_then(|e| e.path.file_name()))
                .flatten()
                .map(str::to_string);
            Ok(ListResponse {
                entries,
                next_start_after,
            })
        })
    }
}

fn tree() -> Tree {
    Tree::new(
        &[
            "/out/part-r-00000",
            "/out/part-r-00001",
            "/out/part-m-00002",
            "/out/_SUCCESS",
            "/out/.hidden",
            "/logs/day-1/a.log",
            "/logs/day-1/b.txt",
            "/logs/day-2/c.log",
            "/logs/day-22/d.log",
            "/logs/readme.log",
        ],
        &["/logs/day-3", "/empty"],
    )
}

fn expanded(ns: &Tree, input: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(expand(ns, input))
        .unwrap()
        .into_iter()
        .map(|e| e.path.as_str().to_string())
        .collect()
}

#[test]
fn wildcards_match_within_a_component_across_pages() {
    let ns = tree();
    assert_eq!(
        expanded(&ns, "/out/part-*"),
        [
            "/out/part-m-00002",
            "/out/part-r-00000",
            "/out/part-r-00001"
        ]
    );
    assert_eq!(
        expanded(&ns, "/out/part-[r]-0000?"),
        ["/out/part-r-00000", "/out/part-r-00001"]
    );
    assert_eq!(expanded(&ns, "/out/part-[!r]-*"), ["/out/part-m-00002"]);
}

#[test]
fn hidden_names_are_matched_only_when_the_pattern_starts_with_their_character() {
    let ns = tree();
    assert_eq!(expanded(&ns, "/out/*").len(), 3);
    assert_eq!(expanded(&ns, "/out/_*"), ["/out/_SUCCESS"]);
    assert_eq!(expanded(&ns, "/out/.*"), ["/out/.hidden"]);
}

#[test]
fn components_before_the_last_match_directories_only() {
    let ns = tree();
    // `readme.log` is a file, so `/logs/*` does not descend into it.
    assert_eq!(
        expanded(&ns, "/logs/*/*.log"),
        [
            "/logs/day-1/a.log",
            "/logs/day-2/c.log",
            "/logs/day-22/d.log"
        ]
    );
    assert_eq!(
        expanded(&ns, "/logs/day-?/*.log"),
        ["/logs/day-1/a.log", "/logs/day-2/c.log"]
    );
    // The last component matches files and directories alike.
    assert_eq!(
        expanded(&ns, "/logs/*"),
        [
            "/logs/day-1",
            "/logs/day-2",
            "/logs/day-22",
            "/logs/day-3",
            "/logs/readme.log"
        ]
    );
    assert_eq!(expanded(&ns, "/*/day-1/b.txt"), ["/logs/day-1/b.txt"]);
}

#[test]
fn nothing_matched_and_plain_paths() {
    let ns = tree();
    assert!(expanded(&ns, "/out/*.nothing").is_empty());
    assert!(expanded(&ns, "/missing/*").is_empty());
    assert!(expanded(&ns, "/empty/*").is_empty());
    assert_eq!(expanded(&ns, "/logs/readme.log"), ["/logs/readme.log"]);
    assert!(expanded(&ns, "/logs/nope").is_empty());
}

#[test]
fn a_malformed_pattern_is_an_invalid_argument() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let err = rt.block_on(expand(&tree(), "/out/part-[")).unwrap_err();
    assert_eq!(err.kind, crate::ErrorKind::InvalidArgument);
    assert!(err.message.contains("/out/part-["), "{}", err.message);
}

#[test]
fn glob_characters_are_recognised() {
    assert!(is_glob("/logs/*.log"));
    assert!(is_glob("/logs/day-?"));
    assert!(is_glob("/logs/[ab]"));
    assert!(!is_glob("/logs/a.log"));
    let pattern = ComponentPattern::new("part-[mr]-0000?", "x").unwrap();
    assert!(pattern.matches("part-r-00003"));
    assert!(!pattern.matches("part-x-00003"));
}

#[test]
fn a_backslash_makes_a_glob_character_literal() {
    let ns = Tree::new(
        &[
            "/d/x[1].txt",
            "/d/x1.txt",
            "/d/*star",
            "/d/plain",
            "/d/a\\b",
        ],
        &["/d/q?"],
    );
    assert!(!is_glob("/d/x\\[1\\].txt"));
    assert!(!is_glob("/d/\\*star"));
    assert!(
        is_glob("/d/\\\\*"),
        "an escaped backslash escapes nothing after it"
    );
    assert_eq!(unescape("/d/x\\[1\\].txt"), "/d/x[1].txt");
    assert_eq!(unescape("/d/a\\b"), "/d/a\\b", "other backslashes stay");
    // Plain paths, their escapes removed.
    assert_eq!(expanded(&ns, "/d/x\\[1\\].txt"), ["/d/x[1].txt"]);
    assert_eq!(expanded(&ns, "/d/\\*star"), ["/d/*star"]);
    assert_eq!(expanded(&ns, "/d/a\\b"), ["/d/a\\b"]);
    // Escapes inside a glob: literal in a wildcard component and in a plain one before it.
    assert_eq!(expanded(&ns, "/d/x\\[*"), ["/d/x[1].txt"]);
    assert_eq!(expanded(&ns, "/d/\\**"), ["/d/*star"]);
    assert_eq!(
        expanded(&ns, "/d/x[1].txt"),
        ["/d/x1.txt"],
        "unescaped, [1] is a class"
    );
    assert_eq!(expanded(&ns, "/*/q\\?"), ["/d/q?"]);
}
