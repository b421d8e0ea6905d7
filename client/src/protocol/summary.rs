//! Directory totals (HDFS's `getContentSummary`): what `fs du` and `fs count` print, and what
//! WebHDFS's `GETCONTENTSUMMARY` answers.

use serde::{Deserialize, Serialize};

/// Everything at or below a path. The fields are those of WebHDFS's `ContentSummary` JSON
/// object (named there `directoryCount`, `fileCount`, `length`, `spaceConsumed`, `quota`,
/// `spaceQuota`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentSummary {
    /// Directories, the path itself included when it is one.
    pub directory_count: u64,
    /// Files, open ones included.
    pub file_count: u64,
    /// Bytes in the files (what readers see of open ones).
    pub length: u64,
    /// Bytes the files take on the datanodes at their target replication: each file's length
    /// times its replication (as HDFS counts it).
    pub space_consumed: u64,
    /// Name quota: always -1 (none), as HDFS answers for a directory without one.
    pub quota: i64,
    /// Space quota: always -1 (none).
    pub space_quota: i64,
}

impl ContentSummary {
    /// Nothing counted yet; no quotas.
    pub const EMPTY: ContentSummary = ContentSummary {
        directory_count: 0,
        file_count: 0,
        length: 0,
        space_consumed: 0,
        quota: -1,
        space_quota: -1,
    };

    /// Counts one file of `length` bytes at `replication`.
    pub fn add_file(&mut self, length: u64, replication: u16) {
        self.file_count += 1;
        self.length += length;
        self.space_consumed += space_consumed(length, replication);
    }

    /// Counts one directory (its contents are counted one by one).
    pub fn add_directory(&mut self) {
        self.directory_count += 1;
    }
}

/// The space a file of `length` bytes at `replication` consumes, the one definition the
/// namenode's totals and the CLI's per-file rows share.
pub fn space_consumed(length: u64, replication: u16) -> u64 {
    length.saturating_mul(u64::from(replication))
}
