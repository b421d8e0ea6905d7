//! Where things go in a trash, and what a checkpoint's name says: pure functions, as HDFS's
//! `TrashPolicyDefault` names them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::path::FsPath;

/// Parent of the users' home directories, each of which holds that user's trash.
pub const HOME_ROOT: &str = "/user";
/// A user's trash directory, in their home directory.
pub const TRASH_DIR: &str = ".Trash";
/// What was deleted since the last checkpoint, under its original path.
pub const CURRENT: &str = "Current";

/// `/user/<user>/.Trash`; `user` must be a valid path component.
pub fn trash_root(user: &str) -> Result<FsPath> {
    if user.is_empty() || user == "." || user == ".." {
        return Err(Error::invalid_argument(format!(
            "invalid user name {user:?} for a trash directory"
        )));
    }
    FsPath::parse(HOME_ROOT)?.join(user)?.join(TRASH_DIR)
}

/// Where `path` goes in `current`: below it under its whole original path
/// (`/a/b` → `<current>/a/b`).
pub fn path_in_current(current: &FsPath, path: &FsPath) -> Result<FsPath> {
    path.components()
        .try_fold(current.clone(), |at, name| at.join(name))
}

/// `path` with `suffix` appended to its component number `index` (0 is the first below the
/// root) and the components after it unchanged: how a name already taken in the trash is made
/// unique (`f` → `f1733328000123`, the time in ms, as HDFS).
pub fn with_suffix(path: &FsPath, index: usize, suffix: &str) -> Result<FsPath> {
    path.components()
        .enumerate()
        .try_fold(FsPath::root(), |at, (i, name)| match i == index {
            true => at.join(&format!("{name}{suffix}")),
            false => at.join(name),
        })
}

/// The name of a checkpoint made at `ms` (since the Unix epoch): `yyMMddHHmmss` in UTC, as
/// HDFS's (which uses local time).
pub fn checkpoint_name(ms: u64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(ms);
    // `2026-12-04T21:20:02Z`
    let text = humantime::format_rfc3339_seconds(at).to_string();
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    digits.get(2..14).unwrap_or_default().to_string()
}

/// The name of the `attempt`th try to checkpoint under `base` (the name taken: `base-1`, ...).
pub fn checkpoint_attempt(base: &str, attempt: u32) -> String {
    match attempt {
        0 => base.to_string(),
        n => format!("{base}-{n}"),
    }
}

/// When the checkpoint named `name` was made (ms since the epoch); `None` when `name` is not a
/// checkpoint (`Current`, anything else: left alone, as HDFS does). Takes `yyMMddHHmmss`,
/// HDFS's older `yyMMddHHmm`, each with an optional `-N` suffix.
pub fn checkpoint_time_ms(name: &str) -> Option<u64> {
    let stamp = match name.split_once('-') {
        Some((stamp, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => stamp,
        Some(_) => return None,
        None => name,
    };
    if !stamp.bytes().all(|b| b.is_ascii_digit()) || !matches!(stamp.len(), 10 | 12) {
        return None;
    }
    let d = |i: usize| stamp.get(i..i + 2).unwrap_or("00");
    let seconds = if stamp.len() == 12 { d(10) } else { "00" };
    let text = format!("20{}-{}-{}T{}:{}:{seconds}Z", d(0), d(2), d(4), d(6), d(8));
    let at = humantime::parse_rfc3339(&text).ok()?;
    Some(at.duration_since(UNIX_EPOCH).ok()?.as_millis() as u64)
}

/// True when the checkpoint `name` is older than `interval` at `now_ms` (never for a name that
/// is not a checkpoint).
pub fn checkpoint_expired(name: &str, now_ms: u64, interval: Duration) -> bool {
    checkpoint_time_ms(name)
        .is_some_and(|made| now_ms.saturating_sub(interval.as_millis() as u64) > made)
}

/// Milliseconds since the Unix epoch now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(raw: &str) -> FsPath {
        FsPath::parse(raw).unwrap()
    }

    #[test]
    fn deleted_paths_keep_their_whole_path_below_current() {
        let root = trash_root("alice").unwrap();
        assert_eq!(root, p("/user/alice/.Trash"));
        let current = root.join(CURRENT).unwrap();
        assert_eq!(
            path_in_current(&current, &p("/logs/a.log")).unwrap(),
            p("/user/alice/.Trash/Current/logs/a.log")
        );
        assert_eq!(
            path_in_current(&current, &p("/user/alice/x")).unwrap(),
            p("/user/alice/.Trash/Current/user/alice/x")
        );
        for bad in ["", ".", "..", "a/b"] {
            assert!(trash_root(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_taken_name_gets_a_suffix_on_one_component() {
        let path = p("/user/alice/.Trash/Current/d/f");
        assert_eq!(
            with_suffix(&path, 5, "1733328000123").unwrap(),
            p("/user/alice/.Trash/Current/d/f1733328000123")
        );
        assert_eq!(
            with_suffix(&path, 4, "7").unwrap(),
            p("/user/alice/.Trash/Current/d7/f")
        );
    }

    #[test]
    fn checkpoint_names_are_utc_seconds_and_parse_back() {
        // 2026-12-04T21:20:02.345Z
        let ms = 1_796_419_202_345;
        assert_eq!(checkpoint_name(ms), "261204212002");
        assert_eq!(checkpoint_time_ms("261204212002"), Some(ms - 345));
        assert_eq!(checkpoint_time_ms("261204212002-3"), Some(ms - 345));
        assert_eq!(checkpoint_time_ms("2612042120"), Some(ms - 345 - 2_000));
        assert_eq!(checkpoint_attempt("261204212002", 0), "261204212002");
        assert_eq!(checkpoint_attempt("261204212002", 2), "261204212002-2");
        for not_one in [
            "Current",
            "",
            "26120421200",
            "261304212002",
            "261204212002-",
            "261204212002-x",
            "x61204212002",
        ] {
            assert_eq!(checkpoint_time_ms(not_one), None, "{not_one:?}");
        }
    }

    #[test]
    fn a_checkpoint_expires_once_older_than_the_interval() {
        let made = checkpoint_time_ms("261204212002").unwrap();
        let hour = Duration::from_secs(3600);
        assert!(!checkpoint_expired("261204212002", made + 3_600_000, hour));
        assert!(checkpoint_expired("261204212002", made + 3_600_001, hour));
        assert!(checkpoint_expired(
            "261204212002-1",
            made + 1,
            Duration::ZERO
        ));
        assert!(!checkpoint_expired("Current", u64::MAX, Duration::ZERO));
        assert!(!checkpoint_expired("notes", u64::MAX, Duration::ZERO));
    }
}
