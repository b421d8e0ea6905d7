//! Dropping written pages behind a writer.

use std::fs::File;
#[cfg(target_os = "linux")]
use std::io;

/// Starts writeback of `[started, written)`, then waits for `[dropped, started)` (started one
/// step earlier, so normally done) and drops it from the page cache. Replicas are rarely read
/// right after being written, and recycling the same few pages instead of filling the cache with
/// fresh ones makes writes markedly cheaper (as HDFS's drop-behind); the final fsync then has only
/// the last step left to flush.
#[cfg(target_os = "linux")]
pub(super) fn writeback(file: &File, dropped: u64, started: u64, written: u64) {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    let range =
        |from: u64, to: u64| Some((i64::try_from(from).ok()?, i64::try_from(to - from).ok()?));
    if let Some((offset, len)) = range(started, written) {
        // SAFETY: a plain syscall on a file descriptor we own.
        if unsafe { libc::sync_file_range(fd, offset, len, libc::SYNC_FILE_RANGE_WRITE) } != 0 {
            tracing::debug!("sync_file_range: {}", io::Error::last_os_error());
        }
    }
    if started == dropped {
        return;
    }
    if let Some((offset, len)) = range(dropped, started) {
        let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE
            | libc::SYNC_FILE_RANGE_WRITE
            | libc::SYNC_FILE_RANGE_WAIT_AFTER;
        // SAFETY: as above; then a hint that the written range will not be read soon.
        unsafe {
            if libc::sync_file_range(fd, offset, len, flags) == 0 {
                libc::posix_fadvise(fd, offset, len, libc::POSIX_FADV_DONTNEED);
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub(super) fn writeback(_file: &File, _dropped: u64, _started: u64, _written: u64) {}
