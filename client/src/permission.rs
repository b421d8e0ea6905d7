//! Permission bits as HDFS's `FsPermission`: owner, group and other × read, write and execute,
//! plus the sticky bit (`01000`). On the wire as WebHDFS has them: an octal string ("755",
//! "1777"), so the same field can be reported by WebHDFS's `FileStatus` unchanged.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::ids::RequestId;
use crate::path::FsPath;
use crate::protocol::{FileStatus, MkdirRequest, SetOwnerRequest, SetPermissionRequest};

/// The sticky bit: in a directory, only an entry's owner (or the directory's, or the
/// superuser) may delete or rename it.
pub const STICKY: u16 = 0o1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Permission(u16);

/// One kind of access, as HDFS's `FsAction` bits: read 4, write 2, execute 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access(pub u16);

impl Access {
    pub const READ: Access = Access(4);
    pub const WRITE: Access = Access(2);
    pub const EXECUTE: Access = Access(1);
    pub const READ_EXECUTE: Access = Access(5);
    pub const WRITE_EXECUTE: Access = Access(3);
    pub const ALL: Access = Access(7);

    /// HDFS's names: READ, WRITE, EXECUTE, READ_EXECUTE, ... (as in its refusal messages).
    pub fn name(self) -> &'static str {
        match self.0 {
            4 => "READ",
            2 => "WRITE",
            1 => "EXECUTE",
            5 => "READ_EXECUTE",
            3 => "WRITE_EXECUTE",
            6 => "READ_WRITE",
            7 => "ALL",
            _ => "NONE",
        }
    }
}

impl Permission {
    /// HDFS's defaults before the umask: files 666, directories 777.
    pub const FILE_DEFAULT: Permission = Permission(0o666);
    pub const DIR_DEFAULT: Permission = Permission(0o777);

    /// The low 10 bits of `mode` (rwx × 3 and sticky); anything above is dropped.
    pub fn new(mode: u16) -> Self {
        Permission(mode & 0o1777)
    }

    pub fn bits(self) -> u16 {
        self.0
    }

    pub fn sticky(self) -> bool {
        self.0 & STICKY != 0
    }

    /// `self` with the bits of `umask` cleared (the sticky bit is never masked).
    pub fn masked(self, umask: u16) -> Self {
        Permission(self.0 & !(umask & 0o777))
    }

    /// The owner's (`shift` 6), group's (3) or others' (0) bits.
    pub fn class(self, shift: u16) -> Access {
        Access((self.0 >> shift) & 7)
    }

    /// An octal mode such as `755` or `1777` (at most 4 digits, each 0–7).
    pub fn parse_octal(text: &str) -> Result<Self> {
        let valid =
            !text.is_empty() && text.len() <= 4 && text.bytes().all(|b| (b'0'..=b'7').contains(&b));
        match u16::from_str_radix(text, 8) {
            Ok(mode) if valid && mode <= 0o1777 => Ok(Permission(mode)),
            _ => Err(Error::invalid_argument(format!(
                "invalid permission {text:?}: expected an octal mode such as 755 or 1777"
            ))),
        }
    }

    /// `rwxr-xr-x`, with `t` (or `T` without others' x) for the sticky bit, as `ls`.
    pub fn symbolic(self) -> String {
        let mut out = String::with_capacity(9);
        for shift in [6, 3, 0] {
            let class = self.class(shift).0;
            out.push(if class & 4 != 0 { 'r' } else { '-' });
            out.push(if class & 2 != 0 { 'w' } else { '-' });
            let execute = class & 1 != 0;
            out.push(match (shift == 0 && self.sticky(), execute) {
                (true, true) => 't',
                (true, false) => 'T',
                (false, true) => 'x',
                (false, false) => '-',
            });
        }
        out
    }
}

/// Octal without leading zeros, as WebHDFS: `755`, `1777`, `0` for none.
impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:o}", self.0)
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Permission::parse_octal(&text).map_err(serde::de::Error::custom)
    }
}

/// A user or group name as HDFS accepts it: non-empty, at most 256 bytes, no whitespace,
/// `:` or `/`, no control characters.
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.len() > 256
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ':' || c == '/');
    match bad {
        true => Err(Error::invalid_argument(format!(
            "invalid {what} name {name:?}: expected a non-empty name without spaces, ':' or '/'"
        ))),
        false => Ok(()),
    }
}

impl crate::fs::Granary {
    /// Sets the mode of `path` (HDFS's `setPermission`): its owner or the superuser.
    pub async fn set_permission(
        &self,
        path: &FsPath,
        permission: Permission,
    ) -> Result<FileStatus> {
        self.namenode()
            .set_permission(&SetPermissionRequest {
                path: path.clone(),
                permission,
                request_id: RequestId::new(),
            })
            .await
    }

    /// Sets the owner and/or group of `path` (HDFS's `setOwner`): the owner only by the
    /// superuser; the group by the owner too, to one of its groups.
    pub async fn set_owner(
        &self,
        path: &FsPath,
        owner: Option<&str>,
        group: Option<&str>,
    ) -> Result<FileStatus> {
        self.namenode()
            .set_owner(&SetOwnerRequest {
                path: path.clone(),
                owner: owner.map(str::to_string),
                group: group.map(str::to_string),
                request_id: RequestId::new(),
            })
            .await
    }

    /// `mkdir` whose new directories get `permission` (before the namenode's umask).
    pub async fn mkdir_with_permission(
        &self,
        path: &FsPath,
        parents: bool,
        permission: Permission,
    ) -> Result<FileStatus> {
        self.namenode()
            .mkdir(&MkdirRequest {
                path: path.clone(),
                parents,
                permission: Some(permission),
                request_id: RequestId::new(),
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_round_trips_and_rejects_junk() {
        for text in ["755", "644", "1777", "0", "700"] {
            assert_eq!(Permission::parse_octal(text).unwrap().to_string(), text);
        }
        for bad in ["", "8", "17777", "2777", "-1", "rwx", "0x7"] {
            assert!(Permission::parse_octal(bad).is_err(), "{bad}");
        }
        let json = serde_json::to_string(&Permission::new(0o1777)).unwrap();
        assert_eq!(json, "\"1777\"");
        assert!(serde_json::from_str::<Permission>("\"999\"").is_err());
    }

    #[test]
    fn symbolic_as_ls_shows_it() {
        assert_eq!(Permission::new(0o755).symbolic(), "rwxr-xr-x");
        assert_eq!(Permission::new(0o644).symbolic(), "rw-r--r--");
        assert_eq!(Permission::new(0o1777).symbolic(), "rwxrwxrwt");
        assert_eq!(Permission::new(0o1776).symbolic(), "rwxrwxrwT");
        assert_eq!(Permission::new(0o777).masked(0o022).bits(), 0o755);
        assert_eq!(Permission::new(0o1777).masked(0o022).bits(), 0o1755);
    }

    #[test]
    fn names_without_separators() {
        assert!(validate_name("user", "alice").is_ok());
        for bad in ["", "a b", "a:b", "a/b", "a\nb"] {
            assert!(validate_name("user", bad).is_err(), "{bad:?}");
        }
    }
}
