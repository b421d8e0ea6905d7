//! Starting, checking and stopping daemon processes by pid.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// The daemon binary `name`: next to this executable (a cargo build puts them together), else
/// on `PATH`.
pub fn daemon_binary(name: &str) -> anyhow::Result<PathBuf> {
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .with_context(|| format!("cannot find the {name} binary next to granary or on PATH (build it with `cargo build --release`)"))
}

/// Starts a daemon in its own process group (so a Ctrl-C at the terminal does not reach it),
/// with its output appended to `log`. The caller watches the returned child for an early exit:
/// until the child has exec'd, its `/proc` command line is still ours, so `is_running` cannot
/// recognise it yet.
pub fn spawn<I, S>(binary: &Path, args: I, log: &Path) -> anyhow::Result<Child>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    use std::os::unix::process::CommandExt;
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    }
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| log.display().to_string())?;
    let err = out.try_clone()?;
    let child = Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    Ok(child)
}

/// True when `pid` is a running process whose command line mentions `marker` (its data
/// directory), so a pid reused by an unrelated process is never mistaken for ours.
pub fn is_running(pid: u32, marker: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    // Arguments are NUL-terminated: matching the terminator too keeps `datanode-1` from
    // matching `datanode-10`.
    let mut marker = marker.as_os_str().as_encoded_bytes().to_vec();
    marker.push(0);
    cmdline
        .windows(marker.len())
        .any(|w| w == marker.as_slice())
}

/// Waits (up to `limit`) until `pid` has released everything it held. A process killed a moment
/// ago loses its command line (its memory) before its sockets and file locks, so a new daemon
/// started on the same data too soon would find them still taken.
pub fn wait_exited(pid: u32, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !has_exited(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Gone, or a zombie (everything released). A pid with a command line again is not ours any
/// more (callers checked `is_running` first): nothing to wait for. The state follows the
/// parenthesised command name in `/proc/<pid>/stat`.
fn has_exited(pid: u32) -> bool {
    if std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty()) {
        return true;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => true,
    }
}

/// SIGTERM, then SIGKILL after `grace`. Returns once the process is gone.
pub fn stop(pid: u32, marker: &Path, grace: Duration) -> anyhow::Result<()> {
    if !is_running(pid, marker) {
        return Ok(());
    }
    signal(pid, libc::SIGTERM)?;
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !is_running(pid, marker) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    signal(pid, libc::SIGKILL)?;
    Ok(())
}

pub fn signal(pid: u32, sig: libc::c_int) -> anyhow::Result<()> {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        bail!("invalid pid {pid}");
    };
    // SAFETY: kill(2) has no memory-safety preconditions; the pid was checked above to belong
    // to a process this cluster started.
    let rc = unsafe { libc::kill(pid, sig) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ESRCH) {
            return Err(err).with_context(|| format!("signalling pid {pid}"));
        }
    }
    Ok(())
}

/// The length of a log now, so what a process started next writes can be told apart.
pub fn log_len(log: &Path) -> u64 {
    std::fs::metadata(log).map_or(0, |m| m.len())
}

/// Why a daemon ended, from what it wrote to `log` after `start`: its `Error: ...` line
/// (what a Rust `main` returning an error prints), without the backtrace that may follow
/// and with the OS's wording of the cause shortened ("address already in use").
pub fn failure_cause(log: &Path, start: u64) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(log).ok()?;
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut text = Vec::new();
    file.read_to_end(&mut text).ok()?;
    let text = String::from_utf8_lossy(&text);
    let line = text
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("Error: "))
        .or_else(|| text.lines().rev().find(|l| !l.trim().is_empty()))?;
    Some(shorten_os_error(line.trim()))
}

/// `...: Address already in use (os error 98)` becomes `...: address already in use`.
fn shorten_os_error(line: &str) -> String {
    let without_code = match line.rfind(" (os error ") {
        Some(at) if line.ends_with(')') => &line[..at],
        _ => line,
    };
    match without_code.rsplit_once(": ") {
        Some((context, cause)) => {
            let mut chars = cause.chars();
            let first = chars.next().map(|c| c.to_lowercase().to_string());
            format!("{context}: {}{}", first.unwrap_or_default(), chars.as_str())
        }
        None => without_code.to_string(),
    }
}
