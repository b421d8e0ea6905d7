//! `--kill K` and `--decommission K`: writes a data set with recorded SHA-256s, removes
//! datanodes (SIGKILL of local datanodes, or decommission, which also works on a real cluster),
//! checks every byte reads back while they are gone, waits for the cluster to heal, and reports
//! how long each phase took.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use granary_client::protocol::{DatanodeState, HealthStatus};
use granary_client::{DatanodeId, FsPath, Granary};
use serde::Serialize;

use super::data_set::{verify, write_data_set};
use super::{drill_root, kill_local, local_cluster, wait_until, DrillArgs};
use crate::output::{bytes, print_json};

/// The drill's findings; `--json` prints exactly this.
#[derive(Serialize)]
struct DrillReport {
    verdict: &'static str,
    mode: &'static str,
    removed: Vec<String>,
    files: u32,
    bytes_written: u64,
    files_verified_while_down: u32,
    files_verified_after_healing: u32,
    mismatched_files: Vec<String>,
    seconds_to_declare_removed: f64,
    seconds_to_full_replication: Option<f64>,
    bytes_re_replicated: u64,
    healing_mb_per_sec: Option<f64>,
}

pub async fn run(fs: Granary, args: DrillArgs) -> anyhow::Result<ExitCode> {
    let (mode, count) = match (args.kill, args.decommission) {
        (Some(k), None) => ("kill", k),
        (None, Some(k)) => ("decommission", k),
        _ => bail!("say how many datanodes to remove: --kill K or --decommission K"),
    };
    let report = fs.report().await?;
    let in_service: Vec<_> = report
        .datanodes
        .iter()
        .filter(|d| d.state == DatanodeState::Live)
        .collect();
    let left = in_service.len() as i64 - i64::from(count);
    if count == 0 || left < i64::from(report.default_replication) {
        bail!(
            "removing {count} of {} live datanodes leaves {left}, too few for replication {}: add datanodes first (granary cluster up --datanodes N)",
            in_service.len(),
            report.default_replication
        );
    }
    let file_size = args
        .file_size
        .unwrap_or((report.default_block_size * 5 / 2).min(320 << 20));
    let cluster = match mode {
        "kill" => Some(local_cluster(&args.dir, "--kill")?),
        _ => None,
    };
    let root = drill_root()?;
    let say = |line: String| {
        if !args.json {
            println!("{line}")
        }
    };

    let expected = write_data_set(&fs, &root, args.files, file_size).await?;
    say(format!(
        "drill: wrote {} files, {} under {root} (SHA-256 recorded)",
        args.files,
        bytes(file_size * u64::from(args.files))
    ));
    wait_healthy(&fs, Duration::from(args.timeout))
        .await
        .context("the cluster was not healthy before the drill")?;

    // The removed nodes are those holding the most of the data set's replicas.
    let mut held: HashMap<DatanodeId, u64> = HashMap::new();
    let mut replicas: Vec<(u64, Vec<DatanodeId>)> = Vec::new();
    for entry in fs.list(&FsPath::root(), true).await? {
        if entry.kind != granary_client::protocol::FileKind::File {
            continue;
        }
        for block in fs.locate(&entry.path).await?.blocks {
            let ids: Vec<DatanodeId> = block.locations.iter().map(|l| l.id.clone()).collect();
            if entry.path.starts_with(&root) {
                ids.iter()
                    .for_each(|id| *held.entry(id.clone()).or_default() += 1);
            }
            replicas.push((block.length, ids));
        }
    }
    let mut candidates: Vec<&DatanodeId> = in_service.iter().map(|d| &d.info.id).collect();
    candidates.sort_by_key(|id| {
        (
            std::cmp::Reverse(held.get(*id).copied().unwrap_or(0)),
            (*id).clone(),
        )
    });
    let victims: Vec<DatanodeId> = candidates
        .into_iter()
        .take(count as usize)
        .cloned()
        .collect();
    let bytes_to_copy: u64 = replicas
        .iter()
        .map(|(len, ids)| len * ids.iter().filter(|id| victims.contains(id)).count() as u64)
        .sum();

    let start = Instant::now();
    match &cluster {
        Some(cluster) => kill_local(cluster, &victims)?,
        None => {
            for id in &victims {
                fs.decommission(id).await?;
            }
        }
    }
    say(format!(
        "drill: {} {}",
        if mode == "kill" {
            "killed"
        } else {
            "decommissioning"
        },
        join(&victims)
    ));

    // The cluster is watched while the data set is read back, so the timings are the
    // cluster's own, not the read's.
    let gone_state = if mode == "kill" {
        DatanodeState::Dead
    } else {
        DatanodeState::Decommissioned
    };
    let deadline = start + Duration::from(args.timeout);
    let ((verified_down, mut mismatched), (declared, healed)) = tokio::join!(
        verify(&fs, &expected),
        watch_healing(&fs, &victims, gone_state, start, deadline)
    );
    say(format!(
        "drill: {verified_down} of {} files read back identical while the nodes were gone",
        expected.len()
    ));
    let (verified_after, mismatched_after) = verify(&fs, &expected).await;
    mismatched.extend(mismatched_after);
    mismatched.sort();
    mismatched.dedup();

    let copy_seconds = match (declared, healed) {
        (Some(d), Some(h)) => Some(h - d),
        _ => None,
    };
    let ok = mismatched.is_empty() && healed.is_some() && verified_down as usize == expected.len();
    let out = DrillReport {
        verdict: if ok { "PASS" } else { "FAIL" },
        mode,
        removed: victims.iter().map(|v| v.0.clone()).collect(),
        files: args.files,
        bytes_written: file_size * u64::from(args.files),
        files_verified_while_down: verified_down,
        files_verified_after_healing: verified_after,
        mismatched_files: mismatched,
        seconds_to_declare_removed: declared.unwrap_or(f64::NAN),
        seconds_to_full_replication: healed,
        bytes_re_replicated: bytes_to_copy,
        healing_mb_per_sec: copy_seconds
            .filter(|s| *s > 0.0)
            .map(|s| bytes_to_copy as f64 / 1e6 / s),
    };
    if !args.keep {
        let _ = fs.delete(&root, true).await;
    }
    if args.json {
        print_json(&out)?;
    } else {
        print_summary(&out);
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn join(ids: &[DatanodeId]) -> String {
    ids.iter()
        .map(|i| i.0.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Seconds from `start` until every victim is in `gone_state`, and until the cluster is back at
/// full replication after that; `None` for a phase not reached by `deadline`.
async fn watch_healing(
    fs: &Granary,
    victims: &[DatanodeId],
    gone_state: DatanodeState,
    start: Instant,
    deadline: Instant,
) -> (Option<f64>, Option<f64>) {
    let declared = wait_until(deadline, || async {
        let report = fs.report().await.ok()?;
        victims
            .iter()
            .all(|v| {
                report
                    .datanodes
                    .iter()
                    .any(|d| &d.info.id == v && d.state == gone_state)
            })
            .then_some(())
    })
    .await
    .map(|()| start.elapsed().as_secs_f64());
    let healed = match declared {
        Some(_) => wait_healthy(fs, deadline.saturating_duration_since(Instant::now()))
            .await
            .ok()
            .map(|()| start.elapsed().as_secs_f64()),
        None => None,
    };
    (declared, healed)
}

/// Waits until fsck of `/` is HEALTHY with no block under-replicated.
async fn wait_healthy(fs: &Granary, within: Duration) -> anyhow::Result<()> {
    let root = FsPath::root();
    wait_until(Instant::now() + within, || async {
        let report = fs.fsck(&root, false).await.ok()?;
        (report.status == HealthStatus::Healthy && report.under_replicated.is_empty()).then_some(())
    })
    .await
    .with_context(|| format!("fsck not HEALTHY with full replication within {within:?}"))
}

fn print_summary(r: &DrillReport) {
    let secs = |s: Option<f64>| {
        s.map(|s| format!("{s:.2}s"))
            .unwrap_or_else(|| "not reached".into())
    };
    println!();
    println!(
        "removed ({}):              {}",
        r.mode,
        r.removed.join(", ")
    );
    println!(
        "files / bytes verified:     {} / {}",
        r.files_verified_while_down,
        bytes(r.bytes_written)
    );
    println!(
        "time to declare removed:    {}",
        secs(Some(r.seconds_to_declare_removed).filter(|s| s.is_finite()))
    );
    println!(
        "time to full replication:   {}",
        secs(r.seconds_to_full_replication)
    );
    println!(
        "bytes re-replicated:        {}",
        bytes(r.bytes_re_replicated)
    );
    if let Some(mbps) = r.healing_mb_per_sec {
        println!("healing throughput:         {mbps:.0} MB/s");
    }
    for m in &r.mismatched_files {
        println!("LOST: {m}");
    }
    println!("verdict:                    {}", r.verdict);
}
