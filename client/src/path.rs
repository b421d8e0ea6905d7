//! Namespace paths: absolute, `/`-separated, validated in exactly one place.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};

/// Longest accepted path, in bytes (HDFS's default `dfs.namenode.fs-limits.max-path-length`
/// is 8000; we keep the same order of magnitude).
pub const MAX_PATH_LEN: usize = 4096;
/// Longest accepted single component, in bytes (as HDFS's `max-component-length`).
pub const MAX_COMPONENT_LEN: usize = 255;

/// A validated absolute path such as `/data/logs/a.txt`. The root is `/`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FsPath(String);

impl FsPath {
    pub fn root() -> Self {
        FsPath("/".to_string())
    }

    pub fn parse(raw: &str) -> Result<Self, Error> {
        let bad = |why: &str| {
            Error::new(
                ErrorKind::InvalidPath,
                format!("invalid path {}: {why}", abbreviate(raw)),
            )
        };
        if raw.is_empty() {
            return Err(bad("empty"));
        }
        if raw.len() > MAX_PATH_LEN {
            return Err(bad(&format!("longer than {MAX_PATH_LEN} bytes")));
        }
        if !raw.starts_with('/') {
            return Err(bad("must be absolute (start with /)"));
        }
        if raw == "/" {
            return Ok(Self::root());
        }
        let trimmed = raw.strip_suffix('/').unwrap_or(raw);
        for component in trimmed[1..].split('/') {
            match component {
                "" => return Err(bad("empty component")),
                "." | ".." => return Err(bad("`.` and `..` are not allowed")),
                c if c.len() > MAX_COMPONENT_LEN => {
                    return Err(bad(&format!(
                        "component longer than {MAX_COMPONENT_LEN} bytes"
                    )))
                }
                c if c.chars().any(|ch| ch == '\0' || ch.is_control()) => {
                    return Err(bad("control characters are not allowed"))
                }
                _ => {}
            }
        }
        Ok(FsPath(trimmed.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// The components below the root, in order.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }

    /// The last component; `None` for the root.
    pub fn file_name(&self) -> Option<&str> {
        if self.is_root() {
            None
        } else {
            self.0.rsplit('/').next()
        }
    }

    /// The parent directory; `None` for the root.
    pub fn parent(&self) -> Option<FsPath> {
        if self.is_root() {
            return None;
        }
        match self.0.rfind('/') {
            Some(0) => Some(Self::root()),
            Some(i) => Some(FsPath(self.0[..i].to_string())),
            None => None,
        }
    }

    /// `self/name`, validating `name` as a single component.
    pub fn join(&self, name: &str) -> Result<FsPath, Error> {
        if name.contains('/') {
            return Err(Error::new(
                ErrorKind::InvalidPath,
                format!("invalid name {name:?}: contains /"),
            ));
        }
        let joined = if self.is_root() {
            format!("/{name}")
        } else {
            format!("{}/{name}", self.0)
        };
        FsPath::parse(&joined)
    }

    /// True when `self` is `other` or lies below it.
    pub fn starts_with(&self, other: &FsPath) -> bool {
        other.is_root() || self.0 == other.0 || self.0.starts_with(&format!("{}/", other.0))
    }
}

/// A path quoted for an error message, shortened so one bad argument cannot flood a terminal.
fn abbreviate(raw: &str) -> String {
    const SHOWN: usize = 80;
    match raw.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{:?}… ({} bytes)", &raw[..cut], raw.len()),
        None => format!("{raw:?}"),
    }
}

impl fmt::Display for FsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for FsPath {
    type Error = Error;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        FsPath::parse(&value)
    }
}

impl From<FsPath> for String {
    fn from(p: FsPath) -> String {
        p.0
    }
}

impl std::str::FromStr for FsPath {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FsPath::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_normal_paths() {
        assert_eq!(FsPath::parse("/").unwrap().as_str(), "/");
        assert_eq!(FsPath::parse("/a/b.txt").unwrap().as_str(), "/a/b.txt");
        assert_eq!(FsPath::parse("/a/b/").unwrap().as_str(), "/a/b");
        assert_eq!(
            FsPath::parse("/ünï code").unwrap().file_name(),
            Some("ünï code")
        );
    }

    #[test]
    fn rejects_bad_paths() {
        let long_component = format!("/{}", "x".repeat(MAX_COMPONENT_LEN + 1));
        let long_path = "/abc".repeat(MAX_PATH_LEN);
        for bad in [
            "",
            "a/b",
            "/a//b",
            "/a/../b",
            "/./a",
            "/a\0b",
            "//",
            &long_component,
            &long_path,
        ] {
            let err = FsPath::parse(bad).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidPath, "{bad:?}");
        }
    }

    #[test]
    fn parent_and_join() {
        let p = FsPath::parse("/a/b/c").unwrap();
        assert_eq!(p.parent().unwrap().as_str(), "/a/b");
        assert_eq!(
            FsPath::parse("/a").unwrap().parent().unwrap(),
            FsPath::root()
        );
        assert_eq!(FsPath::root().parent(), None);
        assert_eq!(FsPath::root().join("x").unwrap().as_str(), "/x");
        assert!(p.join("..").is_err());
        assert!(p.starts_with(&FsPath::parse("/a").unwrap()));
        assert!(!FsPath::parse("/ab")
            .unwrap()
            .starts_with(&FsPath::parse("/a").unwrap()));
    }

    #[test]
    fn deserialising_validates() {
        assert!(serde_json::from_str::<FsPath>("\"/ok\"").is_ok());
        assert!(serde_json::from_str::<FsPath>("\"relative\"").is_err());
    }
}
