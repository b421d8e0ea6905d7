//! `granary job run`: build the job from flags, refuse what cannot run before anything is
//! submitted, then follow the job to its end.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use granary_client::protocol::{Builtin, JobProgram, JobSpec, JobState, JobStatus};
use granary_client::size::parse_size;
use granary_client::{FsPath, Granary};

use super::progress::JobProgress;
use super::show;
use crate::output::print_json;

/// How often a running job's status is fetched.
const POLL_EVERY: Duration = Duration::from_millis(250);

#[derive(Args)]
pub struct RunArgs {
    /// Input files, directories or globs (quote globs), e.g. --input /logs '/data/2026-*'.
    #[arg(long, required = true, num_args = 1..)]
    input: Vec<String>,
    /// Output directory; must not exist.
    #[arg(long)]
    output: String,
    /// A built-in job: wordcount, count-field (--field N), grep (--pattern REGEX), sort.
    #[arg(long, conflicts_with = "mapper")]
    builtin: Option<String>,
    /// count-field: the whitespace-separated field to count, 1-based like awk's $N.
    #[arg(long)]
    field: Option<u32>,
    /// grep: the regular expression lines must match.
    #[arg(long)]
    pattern: Option<String>,
    /// Streaming: the map command (run by sh; lines in on stdin, key<TAB>value lines out).
    #[arg(long, required_unless_present = "builtin")]
    mapper: Option<String>,
    /// Streaming: a combiner command applied to each map's sorted output.
    #[arg(long, requires = "mapper")]
    combiner: Option<String>,
    /// Streaming: the reduce command (gets its lines sorted by key). Default: identity.
    #[arg(long, requires = "mapper")]
    reducer: Option<String>,
    /// Reduce tasks; 0 for a map-only job. Default: one per datanode (grep: 0).
    #[arg(long)]
    reducers: Option<u32>,
    /// Keep only the K largest counts (count-field, wordcount); the K are printed.
    #[arg(long)]
    top: Option<u32>,
    /// Replication of the output files. Default: the cluster's.
    #[arg(long)]
    replication: Option<u16>,
    /// Map output buffered in memory before a spill, e.g. 64M. Default 64 MiB.
    #[arg(long, value_parser = parse_size_arg)]
    sort_buffer: Option<u64>,
    /// How long a free slot waits for a map whose block it holds, e.g. 3s. Default 3 s.
    #[arg(long, value_parser = humantime::parse_duration)]
    locality_wait: Option<Duration>,
    /// Attempts per task before the job fails. Default 4.
    #[arg(long)]
    max_attempts: Option<u32>,
    /// Do not launch backup attempts for slow tasks.
    #[arg(long)]
    no_speculation: bool,
    /// Print the final job status as JSON (as `job status --json`) instead of progress.
    #[arg(long)]
    json: bool,
}

fn parse_size_arg(raw: &str) -> Result<u64, String> {
    parse_size(raw).map_err(|e| e.message)
}

pub async fn run(fs: &Granary, args: RunArgs) -> anyhow::Result<ExitCode> {
    let spec = job_spec(&args)?;
    if let JobProgram::Streaming {
        mapper,
        combiner,
        reducer,
    } = &spec.program
    {
        for command in [Some(mapper), combiner.as_ref(), reducer.as_ref()]
            .into_iter()
            .flatten()
        {
            check_command(command)?;
        }
    }
    let top = spec.top;
    let submitted = fs.submit_job(spec).await?;
    let progress = JobProgress::new(args.json);
    let status = fs
        .wait_for_job(&submitted.id, POLL_EVERY, |status| progress.show(status))
        .await?;
    progress.finish();
    if args.json {
        print_json(&status)?;
    } else {
        print_result(fs, &status, top).await?;
    }
    Ok(if status.state == JobState::Succeeded {
        ExitCode::SUCCESS
    } else {
        if !args.json {
            eprintln!(
                "granary: job {} {}: {}",
                status.id,
                status.state.as_str(),
                status.error.as_deref().unwrap_or("no reason given")
            );
        }
        ExitCode::FAILURE
    })
}

fn job_spec(args: &RunArgs) -> anyhow::Result<JobSpec> {
    let program = match (&args.builtin, &args.mapper) {
        (Some(name), None) => JobProgram::Builtin(builtin(name, args)?),
        (None, Some(mapper)) => {
            if args.field.is_some() || args.pattern.is_some() {
                bail!("--field and --pattern belong to built-in jobs, not to --mapper");
            }
            JobProgram::Streaming {
                mapper: mapper.clone(),
                combiner: args.combiner.clone(),
                reducer: args.reducer.clone(),
            }
        }
        _ => bail!("give either --builtin NAME or --mapper CMD"),
    };
    if args.builtin.is_some() && (args.combiner.is_some() || args.reducer.is_some()) {
        bail!("--combiner and --reducer go with --mapper, not with built-in jobs");
    }
    if args.reducer.is_some() && args.reducers == Some(0) {
        bail!("--reducer needs at least one reducer (--reducers 0 makes a map-only job)");
    }
    if args.top == Some(0) {
        bail!("--top must be at least 1");
    }
    if args.top.is_some()
        && !matches!(
            program,
            JobProgram::Builtin(Builtin::Wordcount | Builtin::CountField { .. })
        )
    {
        bail!("--top works with the counting built-ins (wordcount, count-field)");
    }
    if args.top.is_some() && args.reducers == Some(0) {
        bail!("--top needs at least one reducer");
    }
    Ok(JobSpec {
        inputs: args.input.clone(),
        output: FsPath::parse(&args.output)?,
        program,
        reducers: args.reducers,
        top: args.top,
        output_replication: args.replication,
        sort_buffer: args.sort_buffer,
        locality_wait_ms: args.locality_wait.map(|d| d.as_millis() as u64),
        max_attempts: args.max_attempts,
        speculation: args.no_speculation.then_some(false),
        // The namenode sets it from the caller.
        submitter: None,
    })
}

fn builtin(name: &str, args: &RunArgs) -> anyhow::Result<Builtin> {
    let builtin = match name {
        "wordcount" => Builtin::Wordcount,
        "count-field" => match args.field {
            Some(0) => bail!("--field is 1-based, like awk's $N"),
            Some(field) => Builtin::CountField { field },
            None => bail!("count-field needs --field N"),
        },
        "grep" => match &args.pattern {
            Some(pattern) => Builtin::Grep {
                pattern: pattern.clone(),
            },
            None => bail!("grep needs --pattern REGEX"),
        },
        "sort" => Builtin::Sort,
        other => {
            bail!("unknown built-in job {other:?} (expected wordcount, count-field, grep or sort)")
        }
    };
    if args.field.is_some() && !matches!(builtin, Builtin::CountField { .. }) {
        bail!("--field belongs to count-field");
    }
    if args.pattern.is_some() && !matches!(builtin, Builtin::Grep { .. }) {
        bail!("--pattern belongs to grep");
    }
    Ok(builtin)
}

/// Shell words that are not programs on the PATH.
const SHELL_BUILTINS: &[&str] = &[
    ":", ".", "[", "builtin", "case", "cd", "command", "echo", "eval", "exec", "exit", "export",
    "false", "for", "if", "printf", "read", "set", "test", "time", "true", "until", "while",
];

/// Refuses a streaming command whose program does not exist here, before any task runs. Tasks
/// run on the datanodes, which share this machine's programs in a local cluster.
fn check_command(command: &str) -> anyhow::Result<()> {
    let Some(word) = command.split_whitespace().find(|word| !is_assignment(word)) else {
        bail!("empty streaming command");
    };
    // The program name ends where the shell's syntax starts (`cat;`, `cat|sort`); a word that
    // starts with syntax or an expansion (`(cat)`, `! x`, `\cat`, `$CMD`) is the shell's to
    // judge at run time.
    let program = word
        .trim_matches(|c| c == '\'' || c == '"')
        .split(|c| ";|&<>()".contains(c))
        .next()
        .unwrap_or_default();
    let judged_by_shell = program.is_empty()
        || program.starts_with(['!', '\\', '$', '`', '{', '['])
        || SHELL_BUILTINS.contains(&program);
    if judged_by_shell {
        return Ok(());
    }
    let found = if program.contains('/') {
        is_executable(Path::new(program))
    } else {
        std::env::var_os("PATH").is_some_and(|path| {
            std::env::split_paths(&path).any(|dir| is_executable(&dir.join(program)))
        })
    };
    if !found {
        bail!("streaming command not found: {program} (in `{command}`)");
    }
    Ok(())
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

async fn print_result(fs: &Granary, job: &JobStatus, top: Option<u32>) -> anyhow::Result<()> {
    let seconds = job.counters.total_ms as f64 / 1000.0;
    println!("job {} {} in {seconds:.1} s", job.id, job.state.as_str());
    if job.state != JobState::Succeeded {
        return Ok(());
    }
    let parts = fs.part_files(&job.output).await?;
    let plural = if parts.len() == 1 { "" } else { "s" };
    println!("output: {} ({} part file{plural})", job.output, parts.len());
    if let Some(k) = top {
        println!("top {k}:");
        for entry in fs.top_counts(&job.output, k as usize).await? {
            println!(
                "{:>12}  {}",
                entry.count,
                String::from_utf8_lossy(&entry.key)
            );
        }
    }
    show::print_counters(&job.counters);
    Ok(())
}
