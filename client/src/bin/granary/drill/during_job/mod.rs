//! `--during-job`: SIGKILLs a datanode while a job runs and checks the job still produces exactly
//! the output of a fault-free run.
//!
//! The job is the built-in `wordcount`, with one reducer per live datanode, over one
//! deterministic text file of (by default) four blocks per datanode. A built-in needs nothing
//! installed on the nodes, and with more maps than the cluster has task slots the map phase
//! runs in waves, long enough to kill a node in its middle. The reference run comes first, on
//! the healthy cluster; the second run loses a datanode once half its maps are done
//! (`--kill-in map`) or while its reducers run (`--kill-in reduce`), preferably one running
//! tasks of the job. It must succeed with output equal to the reference's byte for byte (every
//! part file, concatenated in name order). Nothing is restarted: `granary cluster up` brings the
//! killed datanode back.

mod kill;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use granary_client::protocol::{
    Builtin, DatanodeState, JobId, JobPhase, JobProgram, JobSpec, JobState, JobStatus,
};
use granary_client::{DatanodeId, FsPath, Granary};
use serde::Serialize;

use super::data_set::{sha256_of, write_words};
use super::{drill_root, local_cluster, DrillArgs};
use crate::cluster::state::ClusterState;
use crate::output::{bytes, print_json};

/// Blocks of input per live datanode by default: several map waves.
const BLOCKS_PER_DATANODE: u64 = 4;
const MAX_DEFAULT_SIZE: u64 = 320 << 20;
/// How often a job is polled while the drill only waits for its end.
const JOB_POLL: Duration = Duration::from_millis(100);

/// The drill's findings; `--json` prints exactly this.
#[derive(Serialize)]
struct DuringJobReport {
    verdict: &'static str,
    mode: &'static str,
    /// The datanode killed; `None` if the job ended before the kill point.
    killed: Option<String>,
    kill_phase: Option<&'static str>,
    job: String,
    reference_job: String,
    job_state: &'static str,
    input_bytes: u64,
    maps: u32,
    reducers: u32,
    seconds_fault_free: f64,
    seconds_with_fault: f64,
    ratio: f64,
    failed_attempts: u64,
    /// Finished maps run again because their output was lost (drops of `maps_done`).
    maps_rerun: u32,
    outputs_identical: bool,
    /// Why the verdict is FAIL, when it is.
    error: Option<String>,
}

pub async fn run(fs: Granary, args: DrillArgs) -> anyhow::Result<ExitCode> {
    let cluster = local_cluster(&args.dir, "--during-job")?;
    let report = fs.report().await?;
    let live: Vec<DatanodeId> = report
        .datanodes
        .iter()
        .filter(|d| d.state == DatanodeState::Live)
        .map(|d| d.info.id.clone())
        .collect();
    if live.len() < 2 {
        bail!(
            "--during-job kills one of the live datanodes and needs another to finish the job; {} live: add datanodes first (granary cluster up --datanodes N)",
            live.len()
        );
    }
    let size = args.file_size.unwrap_or(
        (report.default_block_size * BLOCKS_PER_DATANODE * live.len() as u64).min(MAX_DEFAULT_SIZE),
    );
    // Two replicas at least, so one dead datanode takes no input away.
    let replication = report.default_replication.max(2).min(live.len() as u16);
    let root = drill_root()?;
    let drill = Drill {
        fs: &fs,
        cluster: &cluster,
        live: &live,
        root: &root,
        args: &args,
    };
    let result = drill.run(size, replication).await;
    if !args.keep {
        let _ = fs.delete(&root, true).await;
    }
    let out = result?;
    if args.json {
        print_json(&out)?;
    } else {
        print_summary(&out);
    }
    Ok(if out.verdict == "PASS" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

struct Drill<'a> {
    fs: &'a Granary,
    cluster: &'a ClusterState,
    live: &'a [DatanodeId],
    root: &'a FsPath,
    args: &'a DrillArgs,
}

impl Drill<'_> {
    async fn run(&self, size: u64, replication: u16) -> anyhow::Result<DuringJobReport> {
        let input = self.root.join("input.txt")?;
        let size = write_words(self.fs, &input, size, replication).await?;
        self.say(format!("drill: wrote {} of words to {input}", bytes(size)));

        let reference = self.submit(&input, "reference").await?;
        let reference = self.wait_for_end(&reference.id, |_| {}).await?;
        if reference.state != JobState::Succeeded {
            bail!(
                "the fault-free reference job {} did not succeed ({}): fix the cluster before drilling",
                reference.id,
                reference.error.as_deref().unwrap_or(reference.state.as_str())
            );
        }
        let seconds_fault_free = seconds(&reference);
        self.say(format!(
            "drill: reference job {} ({} maps, {} reducers) took {seconds_fault_free:.2}s",
            reference.id, reference.maps_total, reference.reduces_total
        ));

        let job = self.submit(&input, "with-fault").await?;
        let killed = self.kill_at_point(&job.id).await?;
        let mut maps_done = killed.as_ref().map_or(0, |(_, status)| status.maps_done);
        let mut maps_rerun = 0;
        let ended = self
            .wait_for_end(&job.id, |status| {
                maps_rerun += maps_done.saturating_sub(status.maps_done);
                maps_done = status.maps_done;
            })
            .await?;
        let outputs_identical = ended.state == JobState::Succeeded
            && self.output_digest(&ended.output).await?
                == self.output_digest(&reference.output).await?;
        let error = match (&killed, ended.state) {
            (None, _) => {
                Some("the job ended before the kill point; use a larger --file-size".to_string())
            }
            (_, JobState::Succeeded) if !outputs_identical => {
                Some("the output differs from the fault-free run's".to_string())
            }
            (_, JobState::Succeeded) => None,
            (_, state) => Some(format!(
                "the job {}: {}",
                state.as_str(),
                ended.error.as_deref().unwrap_or("no reason given")
            )),
        };
        let seconds_with_fault = seconds(&ended);
        Ok(DuringJobReport {
            verdict: if error.is_none() { "PASS" } else { "FAIL" },
            mode: "during-job",
            killed: killed.as_ref().map(|(id, _)| id.0.clone()),
            kill_phase: killed.as_ref().map(|(_, status)| phase_name(status.phase)),
            job: ended.id.0.clone(),
            reference_job: reference.id.0.clone(),
            job_state: ended.state.as_str(),
            input_bytes: size,
            maps: ended.maps_total,
            reducers: ended.reduces_total,
            seconds_fault_free,
            seconds_with_fault,
            ratio: seconds_with_fault / seconds_fault_free.max(1e-3),
            failed_attempts: ended.counters.failed_attempts,
            maps_rerun,
            outputs_identical,
            error,
        })
    }

    async fn submit(&self, input: &FsPath, name: &str) -> anyhow::Result<JobStatus> {
        let spec = JobSpec {
            reducers: Some(self.live.len() as u32),
            ..JobSpec::new(
                vec![input.to_string()],
                self.root.join(name)?,
                JobProgram::Builtin(Builtin::Wordcount),
            )
        };
        Ok(self.fs.submit_job(spec).await?)
    }

    /// Waits up to `--timeout` for the job to end; a job still running then is killed, so the
    /// drill leaves nothing behind.
    async fn wait_for_end(
        &self,
        job: &JobId,
        on_status: impl FnMut(&JobStatus),
    ) -> anyhow::Result<JobStatus> {
        let within = Duration::from(self.args.timeout);
        let waited = tokio::time::timeout(within, self.fs.wait_for_job(job, JOB_POLL, on_status));
        match waited.await {
            Ok(status) => Ok(status?),
            Err(_) => {
                let _ = self.fs.kill_job(job).await;
                bail!("job {job} did not end within {}", self.args.timeout)
            }
        }
    }

    /// SHA-256 of the output's part files concatenated in name order.
    async fn output_digest(&self, output: &FsPath) -> anyhow::Result<String> {
        sha256_of(self.fs, &self.fs.part_files(output).await?).await
    }

    fn say(&self, line: String) {
        if !self.args.json {
            println!("{line}");
        }
    }
}

/// Wall time of a finished job, as the tracker measured it.
fn seconds(status: &JobStatus) -> f64 {
    let end = status.finished_ms.unwrap_or(status.submitted_ms);
    end.saturating_sub(status.submitted_ms) as f64 / 1000.0
}

fn phase_name(phase: JobPhase) -> &'static str {
    match phase {
        JobPhase::Map => "map",
        JobPhase::Reduce => "reduce",
        JobPhase::Commit => "commit",
        JobPhase::Done => "done",
    }
}

fn print_summary(r: &DuringJobReport) {
    println!();
    println!(
        "killed:                     {} ({} phase)",
        r.killed.as_deref().unwrap_or("nobody"),
        r.kill_phase.unwrap_or("-")
    );
    println!(
        "job / reference:            {} ({}) / {}",
        r.job, r.job_state, r.reference_job
    );
    println!(
        "input:                      {} in {} maps, {} reducers",
        bytes(r.input_bytes),
        r.maps,
        r.reducers
    );
    println!(
        "seconds fault-free / fault: {:.2} / {:.2} ({:.2}x)",
        r.seconds_fault_free, r.seconds_with_fault, r.ratio
    );
    println!("failed attempts:            {}", r.failed_attempts);
    println!("finished maps re-run:       {}", r.maps_rerun);
    println!("outputs identical:          {}", r.outputs_identical);
    if let Some(error) = &r.error {
        println!("FAIL: {error}");
    }
    println!("verdict:                    {}", r.verdict);
}
