//! Namenode metadata throughput: creates (create + complete of an empty file), directory
//! listings and deletes from many concurrent clients. Used by `scripts/bench.sh fs`.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use granary_client::protocol::{CompleteRequest, CreateRequest, DeleteRequest};
use granary_client::{ClientConfig, FsPath, Granary, RequestId};
use tokio::task::JoinSet;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    namenode: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Empty files per client.
    #[arg(long, default_value_t = 2000)]
    files: usize,
    /// Files per directory (each listing returns this many entries).
    #[arg(long, default_value_t = 100)]
    per_dir: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Arc::new(Args::parse());
    let fs = Granary::new(ClientConfig::new(&args.namenode))?;
    let root = FsPath::parse(&format!("/meta-bench-{}", std::process::id()))?;
    fs.mkdir(&root, true).await?;
    for c in 0..args.clients {
        for d in 0..args.files.div_ceil(args.per_dir) {
            fs.mkdir(&root.join(&format!("c{c}"))?.join(&format!("d{d}"))?, true)
                .await?;
        }
    }
    let total = (args.clients * args.files) as f64;
    let dirs = (args.clients * args.files.div_ceil(args.per_dir)) as f64;

    let create = run_phase(&fs, &args, &root, Phase::Create).await?;
    let list = run_phase(&fs, &args, &root, Phase::List).await?;
    let delete = run_phase(&fs, &args, &root, Phase::Delete).await?;
    fs.delete(&root, true).await?;
    println!("create_ops_per_sec {:.0}", total / create);
    println!("list_ops_per_sec {:.0}", dirs / list);
    println!("delete_ops_per_sec {:.0}", total / delete);
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Phase {
    Create,
    List,
    Delete,
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
        clients.spawn(async move { client(fs, args, dir, phase).await });
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
    for i in 0..args.files {
        let path = dir
            .join(&format!("d{}", i / args.per_dir))?
            .join(&format!("f{i}"))?;
        match phase {
            Phase::Create => {
                let created = nn
                    .create(&CreateRequest {
                        path: path.clone(),
                        replication: None,
                        block_size: None,
                        overwrite: false,
                        create_parents: false,
                        request_id: RequestId::new(),
                    })
                    .await?;
                nn.complete(&CompleteRequest {
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
