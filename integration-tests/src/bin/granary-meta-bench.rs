//! Namenode metadata throughput from many concurrent clients: creates of empty files (a put
//! of no bytes: one create call that makes the file complete), the create + complete pair a
//! writer of data makes, directory listings and deletes; and, as the baseline they are
//! measured against, the rate of a call that does no work (`GET /v1/health`): what HTTP round
//! trips alone allow on this machine. Used by `scripts/bench.sh fs`.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use granary_client::protocol::{CompleteRequest, CreateRequest, DeleteRequest};
use granary_client::{ClientConfig, FsPath, Granary, PutOptions, RequestId};
use tokio::task::JoinSet;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    namenode: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Empty files per client (and as many again for the create + complete phase).
    #[arg(long, default_value_t = 2000)]
    files: usize,
    /// Files per directory (each listing returns this many entries).
    #[arg(long, default_value_t = 100)]
    per_dir: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Phase {
    /// `GET /v1/health`, as many calls as creates.
    Health,
    /// A put of no bytes to `d<n>/f<i>`.
    Create,
    /// create, then complete with no blocks, of `r<n>/f<i>`.
    CreateComplete,
    List,
    Delete,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Arc::new(Args::parse());
    let fs = Granary::new(ClientConfig::new(&args.namenode))?;
    let root = FsPath::parse(&format!("/meta-bench-{}", std::process::id()))?;
    fs.mkdir(&root, true).await?;
    let dirs_per_client = args.files.div_ceil(args.per_dir);
    for c in 0..args.clients {
        let client_dir = root.join(&format!("c{c}"))?;
        for d in 0..dirs_per_client {
            fs.mkdir(&client_dir.join(&format!("d{d}"))?, true).await?;
            fs.mkdir(&client_dir.join(&format!("r{d}"))?, true).await?;
        }
    }
    let total = (args.clients * args.files) as f64;
    let dirs = (args.clients * dirs_per_client) as f64;

    let health = run_phase(&fs, &args, &root, Phase::Health).await?;
    let create = run_phase(&fs, &args, &root, Phase::Create).await?;
    let create_complete = run_phase(&fs, &args, &root, Phase::CreateComplete).await?;
    let list = run_phase(&fs, &args, &root, Phase::List).await?;
    let delete = run_phase(&fs, &args, &root, Phase::Delete).await?;
    fs.delete(&root, true).await?;
    println!("health_calls_per_sec {:.0}", total / health);
    println!("create_ops_per_sec {:.0}", total / create);
    println!("create_complete_ops_per_sec {:.0}", total / create_complete);
    println!("list_ops_per_sec {:.0}", dirs / list);
    println!("delete_ops_per_sec {:.0}", total / delete);
    Ok(())
}

/// Runs one phase on every client at once; returns the seconds it took.
async fn run_phase(
    fs: &Granary,
    args: &Arc<Args>,
    root: &FsPath,
    phase: Phase,
) -> anyhow::Result<f64> {
    let start = Instant::now();
    let mut clients = JoinSet::new();
    for c in 0..args.clients {
        let (fs, args, dir) = (fs.clone(), args.clone(), root.join(&format!("c{c}"))?);
        clients.spawn(client(fs, args, dir, phase));
    }
    while let Some(done) = clients.join_next().await {
        done.context("client task")??;
    }
    Ok(start.elapsed().as_secs_f64())
}

async fn client(fs: Granary, args: Arc<Args>, dir: FsPath, phase: Phase) -> anyhow::Result<()> {
    let nn = fs.namenode();
    if phase == Phase::List {
        for d in 0..args.files.div_ceil(args.per_dir) {
            fs.list(&dir.join(&format!("d{d}"))?, false).await?;
        }
        return Ok(());
    }
    let sub = if phase == Phase::CreateComplete {
        "r"
    } else {
        "d"
    };
    for i in 0..args.files {
        let path = dir
            .join(&format!("{sub}{}", i / args.per_dir))?
            .join(&format!("f{i}"))?;
        match phase {
            Phase::Health => {
                nn.health().await?;
            }
            Phase::Create => {
                fs.put_bytes(b"", &path, &PutOptions::default()).await?;
            }
            Phase::CreateComplete => {
                let created = nn.create(&create_request(path.clone())).await?;
                nn.complete(&CompleteRequest {
                    holder: bench_holder(),
                    path,
                    file: created.file,
                    blocks: vec![],
                    request_id: RequestId::new(),
                })
                .await?;
            }
            Phase::Delete => {
                nn.delete(&DeleteRequest {
                    path,
                    recursive: false,
                    request_id: RequestId::new(),
                })
                .await?;
            }
            Phase::List => unreachable!("handled above"),
        }
    }
    Ok(())
}

/// The one lease holder every bench writer writes as (each file has one writer at a time).
fn bench_holder() -> granary_client::LeaseHolder {
    "granary-meta-bench"
        .parse()
        .expect("a valid constant lease holder")
}

/// The create call of a writer that will add blocks (the file starts under construction).
fn create_request(path: FsPath) -> CreateRequest {
    CreateRequest {
        permission: None,
        holder: bench_holder(),
        path,
        replication: None,
        block_size: None,
        overwrite: false,
        create_parents: false,
        complete: false,
        request_id: RequestId::new(),
    }
}
