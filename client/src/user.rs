//! Who the local user is: the caller a client names to the namenode (and whose trash `fs rm`
//! uses), and the namenode's own user, its superuser.

use std::ffi::CStr;

use crate::error::{Error, Result};

/// `$USER`, else the name of the process's effective uid.
pub fn local_user() -> Result<String> {
    if let Some(user) = std::env::var_os("USER").filter(|u| !u.is_empty()) {
        return user
            .into_string()
            .map_err(|raw| Error::invalid_argument(format!("USER is not valid UTF-8: {raw:?}")));
    }
    effective_user_name()
}

/// The name of the process's effective uid (the namenode's superuser: the OS user it runs as,
/// whatever the environment says).
pub fn effective_user_name() -> Result<String> {
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    let mut buf = vec![0u8; 4096];
    // SAFETY: an all-zero passwd is a valid value for getpwuid_r to fill.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; `buf` outlives the use of `entry`'s strings.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut entry,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() || entry.pw_name.is_null() {
        return Err(Error::invalid_argument(format!(
            "USER is not set and uid {uid} has no user name"
        )));
    }
    // SAFETY: getpwuid_r succeeded, so pw_name is a NUL-terminated string inside `buf`.
    let name = unsafe { CStr::from_ptr(entry.pw_name) };
    Ok(name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_effective_uid_has_a_name() {
        let name = effective_user_name().unwrap();
        assert!(!name.is_empty());
    }
}
