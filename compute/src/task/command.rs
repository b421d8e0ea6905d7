//! Runs one streaming command under `sh -c`: one thread feeds its stdin (so a child that writes
//! before it has read everything cannot deadlock with us), one drains its stderr, one reaps it,
//! and the caller's thread consumes its stdout. The child leads its own process group, which is
//! killed when the attempt is cancelled or fails, so pipelines inside the command die too.

use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use granary_client::protocol::{add_user_counters, UserCounters};

use super::TaskControl;
use crate::error::TaskError;

const PIPE_BUFFER: usize = 256 << 10;
/// How much of the command's stderr is kept for the error message.
const STDERR_TAIL: usize = 2 << 10;
/// Longest stderr line parsed as a whole; longer ones are cut into pieces.
const STDERR_LINE: u64 = 4 << 10;
/// How often the reaper looks at the child and at the cancellation flag.
const REAP_POLL: Duration = Duration::from_millis(10);

/// A command line and its environment.
pub(crate) struct CommandSpec<'a> {
    pub command: &'a str,
    pub env: &'a [(String, String)],
}

/// Runs `spec`: `feed` writes its stdin (on its own thread) and `consume` reads its stdout.
/// `reporter:counter:` lines on its stderr add to `counters`. Fails when the command exits
/// non-zero, is killed, or either side fails.
pub(crate) fn run<T: Send, U>(
    spec: &CommandSpec<'_>,
    control: &TaskControl,
    counters: &mut UserCounters,
    feed: impl FnOnce(&mut dyn Write) -> Result<T, TaskError> + Send,
    consume: impl FnOnce(&mut dyn Read) -> Result<U, TaskError>,
) -> Result<(T, U), TaskError> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(spec.command)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| command_error(spec, format!("could not be started: {e}"), String::new()))?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(TaskError::Invalid("a child process without pipes".into()));
    };
    // Set by whichever side fails first (or by the reaper when the command fails), so the
    // others stop; the first failure is the one reported.
    let abort = AtomicBool::new(false);
    let stdout_done = AtomicBool::new(false);
    let (status, fed, consumed, stderr) = thread::scope(|s| {
        let feeder = s.spawn(|| {
            let mut input = BufWriter::with_capacity(PIPE_BUFFER, ChildInput::new(stdin, &abort));
            let fed = feed(&mut input).and_then(|fed| {
                input
                    .flush()
                    .map_err(|e| TaskError::io("writing command input", e))?;
                Ok(fed)
            });
            // An error is the root cause only if nothing had failed before it.
            let first = fed.is_err() && !abort.swap(true, Ordering::Relaxed);
            (fed, first)
        });
        let stderr_reader = s.spawn(|| drain_stderr(stderr));
        let reaper = s.spawn(|| reap(&mut child, control, &abort, &stdout_done));
        let consumed = {
            let _done = ConsumerDone {
                abort: &abort,
                stdout_done: &stdout_done,
            };
            let mut stdout = stdout;
            let consumed = consume(&mut stdout);
            if consumed.is_err() {
                abort.store(true, Ordering::Relaxed);
            }
            consumed
        };
        let status = join(reaper);
        (status, join(feeder), consumed, join(stderr_reader))
    });
    let (stderr_counters, stderr_tail) = stderr?;
    add_user_counters(counters, &stderr_counters);
    control.check()?;
    let status = status?.map_err(|e| TaskError::io("waiting for command", e))?;
    let (fed, feed_failed_first) = fed?;
    let fed = match fed {
        Err(e) if feed_failed_first => return Err(e),
        fed => fed,
    };
    let consumed = consumed?;
    if !status.success() {
        return Err(command_error(spec, describe(status), stderr_tail));
    }
    Ok((fed?, consumed))
}

/// Marks stdout as no longer read once the consumer is done, closing it first; if the
/// consumer panicked, aborts the command too, so the reaper never waits on it forever.
struct ConsumerDone<'a> {
    abort: &'a AtomicBool,
    stdout_done: &'a AtomicBool,
}

impl Drop for ConsumerDone<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.abort.store(true, Ordering::Relaxed);
        }
        self.stdout_done.store(true, Ordering::Relaxed);
    }
}

/// A helper thread's result; its panic becomes an error rather than taking the daemon down.
fn join<T>(handle: thread::ScopedJoinHandle<'_, T>) -> Result<T, TaskError> {
    handle
        .join()
        .map_err(|_| TaskError::Invalid("a streaming helper thread panicked".into()))
}

fn command_error(spec: &CommandSpec<'_>, status: String, stderr_tail: String) -> TaskError {
    TaskError::Command {
        command: spec.command.to_string(),
        status,
        stderr_tail,
    }
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(127), _) => "exited with status 127: command not found".into(),
        (Some(126), _) => "exited with status 126: command not executable".into(),
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => format!("ended with {status}"),
    }
}

/// Waits for the child, killing its process group on cancellation, on `abort`, or when the
/// child exits non-zero (taking down what it left running in the background). Keeps at it
/// until the stdout reader is done, since group members may hold stdout open.
fn reap(
    child: &mut Child,
    control: &TaskControl,
    abort: &AtomicBool,
    stdout_done: &AtomicBool,
) -> io::Result<ExitStatus> {
    let group = child.id() as libc::pid_t;
    let kill_group = || {
        // SAFETY: killpg only sends a signal. The group is ours while its leader is unreaped
        // or any member lives (the kernel does not reuse the id until then).
        unsafe { libc::killpg(group, libc::SIGKILL) };
    };
    let mut status = None;
    let mut killed = false;
    loop {
        if status.is_none() {
            status = match child.try_wait() {
                Ok(status) => status,
                Err(e) => {
                    kill_group();
                    let _ = child.wait();
                    return Err(e);
                }
            };
        }
        if status.is_some_and(|s: ExitStatus| !s.success()) {
            abort.store(true, Ordering::Relaxed);
        }
        if !killed && (control.is_cancelled() || abort.load(Ordering::Relaxed)) {
            kill_group();
            killed = true;
        }
        if let Some(status) = status {
            if stdout_done.load(Ordering::Relaxed) {
                return Ok(status);
            }
        }
        thread::sleep(REAP_POLL);
    }
}

/// Reads stderr to its end: counter lines are summed, status lines ignored, and the last
/// [`STDERR_TAIL`] bytes of the rest kept for the error message.
fn drain_stderr(stderr: impl Read) -> (UserCounters, String) {
    let mut reader = BufReader::new(stderr);
    let mut counters = UserCounters::new();
    let mut tail: Vec<u8> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader).take(STDERR_LINE).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if let Some(counter) = line.strip_prefix(b"reporter:counter:") {
            if let Some((group, name, n)) = parse_counter(counter) {
                *counters.entry(group).or_default().entry(name).or_default() += n;
                continue;
            }
        }
        if line.starts_with(b"reporter:status:") {
            continue;
        }
        tail.extend_from_slice(&line);
        if tail.len() > 2 * STDERR_TAIL {
            tail.drain(..tail.len() - STDERR_TAIL);
        }
    }
    let start = tail.len().saturating_sub(STDERR_TAIL);
    let tail = String::from_utf8_lossy(&tail[start..]).trim().to_string();
    (counters, tail)
}

/// `GROUP,NAME,N` (and its line end).
fn parse_counter(line: &[u8]) -> Option<(String, String, u64)> {
    let line = std::str::from_utf8(line).ok()?.trim_end();
    let mut parts = line.splitn(3, ',');
    let (group, name, n) = (parts.next()?, parts.next()?, parts.next()?);
    Some((group.to_string(), name.to_string(), n.trim().parse().ok()?))
}

/// The child's stdin. Once the child stops reading (its end of the pipe closed), further input
/// is dropped: whether that is a failure is for the child's exit status to say. Once the run
/// is aborted, writing fails, so the feeder stops.
struct ChildInput<'a, W> {
    inner: W,
    closed: bool,
    abort: &'a AtomicBool,
}

impl<'a, W> ChildInput<'a, W> {
    fn new(inner: W, abort: &'a AtomicBool) -> Self {
        ChildInput {
            inner,
            closed: false,
            abort,
        }
    }
}

impl<W: Write> Write for ChildInput<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.abort.load(Ordering::Relaxed) {
            return Err(io::Error::other("the command was stopped"));
        }
        if self.closed {
            return Ok(buf.len());
        }
        match self.inner.write(buf) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(buf.len())
            }
            other => other,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.inner.flush() {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests;
