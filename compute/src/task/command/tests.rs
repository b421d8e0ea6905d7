use super::*;

fn spec(command: &str) -> CommandSpec<'_> {
    CommandSpec { command, env: &[] }
}

/// Runs `command` with `input` on stdin; returns its stdout.
fn run_with(
    command: &str,
    input: &[u8],
    counters: &mut UserCounters,
) -> Result<Vec<u8>, TaskError> {
    let input = input.to_vec();
    let feed = move |stdin: &mut dyn Write| {
        stdin
            .write_all(&input)
            .map_err(|e| TaskError::io("feeding", e))
    };
    let consume = |stdout: &mut dyn Read| {
        let mut out = Vec::new();
        stdout
            .read_to_end(&mut out)
            .map_err(|e| TaskError::io("reading", e))?;
        Ok(out)
    };
    let ((), out) = run(
        &spec(command),
        &TaskControl::default(),
        counters,
        feed,
        consume,
    )?;
    Ok(out)
}

fn status_of(err: TaskError) -> (String, String) {
    match err {
        TaskError::Command {
            status,
            stderr_tail,
            ..
        } => (status, stderr_tail),
        other => panic!("not a command error: {other}"),
    }
}

#[test]
fn input_goes_through_the_command() {
    let input = "line\n".repeat(200_000);
    let out = run_with("cat", input.as_bytes(), &mut UserCounters::new()).unwrap();
    assert_eq!(out, input.as_bytes());
}

#[test]
fn a_failing_command_reports_its_status_and_stderr() {
    let err = run_with(
        "echo first >&2; echo oops >&2; exit 3",
        b"",
        &mut UserCounters::new(),
    )
    .unwrap_err();
    let message = err.to_string();
    assert_eq!(
        status_of(err),
        ("exited with status 3".into(), "first\noops".into())
    );
    assert!(message.starts_with("command `echo first"), "{message}");
}

#[test]
fn a_missing_command_says_so() {
    let err = run_with("no-such-command-granary", b"", &mut UserCounters::new()).unwrap_err();
    let (status, stderr) = status_of(err);
    assert_eq!(status, "exited with status 127: command not found");
    assert!(stderr.contains("no-such-command-granary"), "{stderr}");
}

#[test]
fn a_killed_command_names_the_signal() {
    let err = run_with("kill -9 $$", b"", &mut UserCounters::new()).unwrap_err();
    assert_eq!(status_of(err).0, "was killed by signal 9");
}

#[test]
fn stderr_counters_add_up_and_status_lines_are_dropped() {
    let script = "echo reporter:counter:Group,Name,5 >&2; echo reporter:counter:Group,Name,2 >&2; \
                  echo reporter:counter:Group,Other,1 >&2; echo reporter:status:busy >&2; \
                  echo reporter:counter:bad >&2; exit 1";
    let mut counters = UserCounters::new();
    let err = run_with(script, b"", &mut counters).unwrap_err();
    assert_eq!(counters["Group"]["Name"], 7);
    assert_eq!(counters["Group"]["Other"], 1);
    assert_eq!(status_of(err).1, "reporter:counter:bad");
}

#[test]
fn the_stderr_tail_is_bounded() {
    let err = run_with(
        "yes 0123456789 | head -n 10000 >&2; exit 1",
        b"",
        &mut UserCounters::new(),
    )
    .unwrap_err();
    let tail = status_of(err).1;
    assert!(
        tail.len() <= STDERR_TAIL && tail.ends_with("0123456789"),
        "{}",
        tail.len()
    );
}

#[test]
fn a_command_that_stops_reading_early_still_succeeds() {
    let input = "line\n".repeat(500_000);
    let out = run_with("head -n 1", input.as_bytes(), &mut UserCounters::new()).unwrap();
    assert_eq!(out, b"line\n");
}

#[test]
fn a_failing_feed_is_the_error_reported() {
    let feed = |_: &mut dyn Write| -> Result<(), TaskError> {
        Err(TaskError::Invalid("input broke".into()))
    };
    let consume = |stdout: &mut dyn Read| {
        std::io::copy(stdout, &mut std::io::sink()).map_err(|e| TaskError::io("reading", e))
    };
    let err = run(
        &spec("cat; sleep 30"),
        &TaskControl::default(),
        &mut UserCounters::new(),
        feed,
        consume,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "invalid task: input broke");
}

#[test]
fn a_failing_consumer_stops_an_endless_command() {
    let feed = |_: &mut dyn Write| Ok(());
    let consume =
        |_: &mut dyn Read| -> Result<(), TaskError> { Err(TaskError::Invalid("disk full".into())) };
    let err = run(
        &spec("yes"),
        &TaskControl::default(),
        &mut UserCounters::new(),
        feed,
        consume,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "invalid task: disk full");
}

#[test]
fn a_failed_command_takes_its_background_processes_down() {
    let err = run_with("sleep 30 & exit 4", b"", &mut UserCounters::new()).unwrap_err();
    assert_eq!(status_of(err).0, "exited with status 4");
}

/// Whether `pid` is gone (or a zombie nobody has reaped yet), waiting a bounded while.
fn is_dead(pid: u32) -> bool {
    for _ in 0..500 {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat)
                if stat
                    .rsplit(')')
                    .next()
                    .is_some_and(|s| s.trim_start().starts_with('Z')) =>
            {
                return true
            }
            Ok(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
    false
}

#[test]
fn cancellation_kills_the_whole_process_group() {
    let control = TaskControl::default();
    let mut background = None;
    // The command prints its background child's pid; we cancel once we have it, then read on
    // until every holder of stdout is gone.
    let consume = |stdout: &mut dyn Read| -> Result<(), TaskError> {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .map_err(|e| TaskError::io("reading", e))?;
        background = line.trim().parse::<u32>().ok();
        control.cancel();
        std::io::copy(&mut reader, &mut std::io::sink())
            .map_err(|e| TaskError::io("reading", e))?;
        Ok(())
    };
    let feed = |_: &mut dyn Write| Ok(());
    let result = run(
        &spec("sleep 60 & echo $!; wait"),
        &control,
        &mut UserCounters::new(),
        feed,
        consume,
    );
    assert!(matches!(result, Err(TaskError::Cancelled)), "{result:?}");
    let pid = background.unwrap();
    assert!(is_dead(pid), "sleep {pid} survived");
}
