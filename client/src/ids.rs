//! Identifiers that cross the wire. Each is a distinct type so a block id can never be passed
//! where an inode id is expected, and each parses strictly before it touches a path or a map.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A block, cluster-wide unique, allocated by the namenode. Never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BlockId(pub u64);

/// A namespace entry (file or directory), allocated by the namenode. Directory renames only
/// change the entry's parent and name, never the ids below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InodeId(pub u64);

/// A datanode's stable identity, generated once and kept in its data directory, so a node that
/// restarts on another address is still recognised as the holder of its replicas.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DatanodeId(pub String);

/// Names one state-changing namespace call. A retry after a lost response carries the same id
/// and is answered from the namenode's retry cache instead of being applied twice.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(pub String);

/// A block's generation: bumped by the namenode each time the block's bytes may change after
/// they were first written (an append reopens it, a writer's segment after an hflush, a
/// pipeline recovery, a lease recovery, a truncate), so a replica left at an older state is
/// recognised as stale, never served and never counted (HDFS's generation stamp).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Generation(pub u64);

impl Generation {
    pub fn next(self) -> Self {
        Generation(self.0 + 1)
    }
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "gen {}", self.0)
    }
}

/// The writer holding a file's lease: one per client process (`granary fs put` makes one
/// per invocation), as HDFS's client name. 1 to 128 printable ASCII characters without
/// spaces; parsed strictly because it is shown in listings and fsck.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LeaseHolder(String);

impl LeaseHolder {
    /// A fresh holder name for this process: `granary-<host>-<pid>-<random>`.
    pub fn generate() -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty() && h.len() <= 64 && h.chars().all(|c| c.is_ascii_graphic()))
            .unwrap_or_else(|| "localhost".to_string());
        LeaseHolder(format!(
            "granary-{host}-{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LeaseHolder {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        if s.is_empty() || s.len() > 128 || !s.chars().all(|c| c.is_ascii_graphic()) {
            return Err(format!(
                "bad lease holder {s:?}: 1 to 128 printable ASCII characters without spaces"
            ));
        }
        Ok(LeaseHolder(s))
    }
}

impl FromStr for LeaseHolder {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LeaseHolder::try_from(s.to_string())
    }
}

impl From<LeaseHolder> for String {
    fn from(h: LeaseHolder) -> String {
        h.0
    }
}

impl fmt::Display for LeaseHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl RequestId {
    pub fn new() -> Self {
        RequestId(uuid::Uuid::new_v4().to_string())
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl DatanodeId {
    pub fn generate() -> Self {
        DatanodeId(format!("dn-{}", uuid::Uuid::new_v4().simple()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "blk_{}", self.0)
    }
}

impl FromStr for BlockId {
    type Err = String;

    /// Accepts `123` or `blk_123`; anything else is rejected.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.strip_prefix("blk_").unwrap_or(s);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("not a block id: {s:?}"));
        }
        digits
            .parse::<u64>()
            .map(BlockId)
            .map_err(|_| format!("block id out of range: {s:?}"))
    }
}

impl fmt::Display for InodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for DatanodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for DatanodeId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if ok {
            Ok(DatanodeId(s.to_string()))
        } else {
            Err(format!("not a datanode id: {s:?}"))
        }
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_ids_parse_strictly() {
        assert_eq!("42".parse::<BlockId>(), Ok(BlockId(42)));
        assert_eq!("blk_42".parse::<BlockId>(), Ok(BlockId(42)));
        for bad in ["", "blk_", "-1", "../etc", "4 2", "99999999999999999999999"] {
            assert!(bad.parse::<BlockId>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn datanode_ids_reject_path_characters() {
        assert!("dn-abc_1.2".parse::<DatanodeId>().is_ok());
        for bad in ["", "a/b", "..\0", "a b"] {
            assert!(bad.parse::<DatanodeId>().is_err(), "{bad} parsed");
        }
    }
}
