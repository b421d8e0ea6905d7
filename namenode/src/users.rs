//! Who a caller is: its groups come from the namenode host's user database, as HDFS's default
//! `ShellBasedUnixGroupsMapping` (the user's primary group and its supplementary groups;
//! none for a user the host does not know), cached for [`GROUPS_TTL`] so a call does not
//! read the user database each time.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::namespace::Caller;

/// How long a user's groups are remembered (HDFS's `hadoop.security.groups.cache.secs` is
/// 5 min; shorter, so a group change on the host shows soon).
pub const GROUPS_TTL: Duration = Duration::from_secs(30);
/// Most users cached; past it the cache starts afresh, so it stays bounded whatever names
/// callers send.
const MAX_CACHED: usize = 10_000;

#[derive(Debug)]
pub struct Users {
    /// The namenode process's OS user: the superuser.
    superuser: String,
    superuser_group: String,
    cache: Mutex<HashMap<String, (Instant, Vec<String>)>>,
}

impl Users {
    pub fn new(superuser: String, superuser_group: String) -> Self {
        Users {
            superuser,
            superuser_group,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn superuser_name(&self) -> &str {
        &self.superuser
    }

    /// The namenode acting for itself.
    pub fn superuser(&self) -> Caller {
        Caller::superuser(&self.superuser)
    }

    /// `user` with its groups on this host.
    pub fn caller(&self, user: &str) -> Caller {
        let groups = self.groups(user);
        let superuser = user == self.superuser || groups.contains(&self.superuser_group);
        Caller {
            user: user.to_string(),
            groups,
            superuser,
        }
    }

    fn groups(&self, user: &str) -> Vec<String> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, groups)) = cache.get(user) {
            if at.elapsed() < GROUPS_TTL {
                return groups.clone();
            }
        }
        let groups = host_groups(user);
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(user.to_string(), (Instant::now(), groups.clone()));
        groups
    }
}

/// The user's primary group first, then its supplementary groups, by name; none when the
/// host has no such user.
pub fn host_groups(user: &str) -> Vec<String> {
    let Ok(name) = CString::new(user) else {
        return Vec::new();
    };
    let mut buf = vec![0u8; 16 << 10];
    // SAFETY: an all-zero passwd is a valid value for getpwnam_r to fill.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; `buf` outlives the use of `entry`.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut entry,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() {
        return Vec::new();
    }
    let primary = entry.pw_gid;
    let mut gids: Vec<libc::gid_t> = vec![0; 64];
    for _ in 0..4 {
        let mut count = gids.len() as libc::c_int;
        // SAFETY: `gids` has room for `count` entries; getgrouplist writes at most that many.
        let rc =
            unsafe { libc::getgrouplist(name.as_ptr(), primary, gids.as_mut_ptr(), &mut count) };
        if rc >= 0 {
            gids.truncate(count.max(0) as usize);
            break;
        }
        // Too small: `count` says how many it needs.
        gids.resize((count.max(0) as usize).max(gids.len() * 2), 0);
    }
    let mut names = Vec::with_capacity(gids.len());
    for gid in std::iter::once(primary).chain(gids) {
        if let Some(group) = group_name(gid) {
            if !names.contains(&group) {
                names.push(group);
            }
        }
    }
    names
}

fn group_name(gid: libc::gid_t) -> Option<String> {
    let mut buf = vec![0u8; 16 << 10];
    // SAFETY: an all-zero group is a valid value for getgrgid_r to fill.
    let mut entry: libc::group = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; `buf` outlives the use of `entry`.
    let rc = unsafe {
        libc::getgrgid_r(
            gid,
            &mut entry,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() || entry.gr_name.is_null() {
        return None;
    }
    // SAFETY: getgrgid_r succeeded, so gr_name is a NUL-terminated string inside `buf`.
    Some(
        unsafe { CStr::from_ptr(entry.gr_name) }
            .to_string_lossy()
            .into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_in_its_primary_group_and_unknown_users_in_none() {
        assert_eq!(
            host_groups("root").first().map(String::as_str),
            Some("root")
        );
        assert!(host_groups("no-such-user-granary").is_empty());
        let users = Users::new("root".into(), "supergroup".into());
        assert!(users.caller("root").superuser);
        assert!(!users.caller("no-such-user-granary").superuser);
    }
}
