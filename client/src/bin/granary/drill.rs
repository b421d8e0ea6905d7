//! `granary drill`: a failure drill against a running cluster. Writes a data set with recorded
//! SHA-256s, removes datanodes (SIGKILL of local datanodes, or decommission, which also works on
//! a real cluster), checks every byte reads back while they are gone, waits for the cluster to
//! heal, and reports how long each phase took.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use futures_util::StreamExt;
use granary_client::protocol::{DatanodeState, HealthStatus};
use granary_client::size::parse_size;
use granary_client::{DatanodeId, FsPath, Granary, PutOptions};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::cluster::{cluster_dir, process, state};
use crate::output::{bytes, print_json};

/// How often the drill polls the namenode while it waits.
const POLL: Duration = Duration::from_millis(20);

#[derive(Args)]
pub struct DrillArgs {
    /// Datanodes to SIGKILL (local cluster only).
    #[arg(long, conflicts_with = "decommission")]
    kill: Option<u32>,
    /// Datanodes to decommission (works on any cluster).
    #[arg(long)]
    decommission: Option<u32>,
    /// Files in the data set.
    #[arg(long, default_value_t = 4)]
    files: u32,
    /// Size of each file (default: 2.5 blocks, at most 320 MiB), e.g. 40M.
    #[arg(long, value_parser = |s: &str| parse_size(s).map_err(|e| e.message))]
    file_size: Option<u64>,
    /// Give up (and fail) if the cluster has not healed by then.
    #[arg(long, default_value = "120s")]
    timeout: humantime::Duration,
    /// Keep the data set afterwards.
    #[arg(long)]
    keep: bool,
    /// Local cluster directory, for --kill (default: as `granary cluster`).
    #[arg(long, env = "GRANARY_CLUSTER_DIR")]
    dir: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

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
    let root = FsPath::parse(&format!(
        "/drill-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    ))?;
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
    match mode {
        "kill" => kill_local(&args.dir, &victims)?,
        _ => {
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

/// Writes the data set: deterministic pseudo-random files, hashed as they are generated.
async fn write_data_set(
    fs: &Granary,
    root: &FsPath,
    files: u32,
    size: u64,
) -> anyhow::Result<BTreeMap<FsPath, String>> {
    fs.mkdir(root, true).await?;
    let mut expected = BTreeMap::new();
    for i in 0..files {
        let mut local = tempfile::NamedTempFile::new()?;
        let mut hasher = Sha256::new();
        let mut x: u64 =
            0x9E37_79B9_7F4A_7C15 ^ (u64::from(i) + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
        let mut buf = vec![0u8; 1 << 20];
        let mut left = size;
        while left > 0 {
            let n = buf.len().min(left as usize);
            for word in buf[..n].chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                word.copy_from_slice(&x.to_le_bytes()[..word.len()]);
            }
            hasher.update(&buf[..n]);
            local.write_all(&buf[..n])?;
            left -= n as u64;
        }
        local.flush()?;
        let path = root.join(&format!("part-{i:03}"))?;
        fs.put_file(local.path(), &path, &PutOptions::default(), None)
            .await?;
        expected.insert(path, hex_digest(hasher));
    }
    Ok(expected)
}

fn hex_digest(hasher: Sha256) -> String {
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads every file back; returns how many matched and the paths that did not.
async fn verify(fs: &Granary, expected: &BTreeMap<FsPath, String>) -> (u32, Vec<String>) {
    let mut ok = 0;
    let mut bad = Vec::new();
    for (path, sha) in expected {
        let mut hasher = Sha256::new();
        let read: anyhow::Result<()> = async {
            let mut stream = fs.open(path).await?.read_all();
            while let Some(chunk) = stream.next().await {
                hasher.update(&chunk?);
            }
            Ok(())
        }
        .await;
        match read {
            Ok(()) if &hex_digest(hasher) == sha => ok += 1,
            Ok(()) => bad.push(format!("{path}: different bytes")),
            Err(e) => bad.push(format!("{path}: {e}")),
        }
    }
    (ok, bad)
}

/// Polls `check` until it yields `Some` or `deadline` passes.
async fn wait_until<T, F, Fut>(deadline: Instant, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
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
        let report = fs.fsck(&root).await.ok()?;
        (report.status == HealthStatus::Healthy && report.under_replicated.is_empty()).then_some(())
    })
    .await
    .with_context(|| format!("fsck not HEALTHY with full replication within {within:?}"))
}

/// SIGKILLs the local datanodes with these ids, found in the cluster directory.
fn kill_local(dir: &Option<PathBuf>, victims: &[DatanodeId]) -> anyhow::Result<()> {
    let dir = cluster_dir(dir.clone())?;
    let cluster = state::ClusterState::load(&dir)?
        .with_context(|| format!("--kill needs a local cluster started by `granary cluster up` (none in {}); on a real cluster use --decommission", dir.display()))?;
    for id in victims {
        let dn = cluster
            .datanodes
            .iter()
            .find(|d| state::datanode_id(&d.data_dir).as_deref() == Some(id.as_str()))
            .with_context(|| {
                format!(
                    "datanode {id} is not part of the local cluster in {}",
                    dir.display()
                )
            })?;
        let pid = dn
            .pid
            .filter(|pid| process::is_running(*pid, &dn.data_dir))
            .with_context(|| format!("datanode {id} is not running"))?;
        process::signal(pid, libc::SIGKILL)?;
    }
    Ok(())
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
