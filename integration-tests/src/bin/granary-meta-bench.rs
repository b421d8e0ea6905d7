//! Namenode metadata throughput from many concurrent clients: creates (create + complete of an
//! empty file), the create and complete calls alone (as HDFS's NNThroughputBenchmark measures
//! `create`), directory listings and deletes; and, as the baseline they are measured against,
//! the rate of a call that does no work (`GET /v1/health`): what HTTP round trips alone allow
//! on this machine. Used by `scripts/bench.sh fs`.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use granary_client::namenode::NamenodeClient;
use granary_client::protocol::{CompleteRequest, CreateRequest, DeleteRequest};
use granary_client::{ClientConfig, FsPath, Granary, InodeId, RequestId};
use tokio::task::JoinSet;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    namenode: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Empty files per client (and as many again for the create and complete call phases).
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
    /// create + complete of `d<n>/f<i>`.
    Create,
    /// create alone of `r<n>/f<i>`.
    CreateRpc,
    /// complete alone of the files `CreateRpc` created.
    CompleteRpc,
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

    let (health, _) = run_phase(&fs, &args, &root, Phase::Health, None).await?;
    let (create, _) = run_phase(&fs, &args, &root, Phase::Create, None).await?;
    let (create_rpc, ids) = run_phase(&fs, &args, &root, Phase::CreateRpc, None).await?;
    let (complete_rpc, _) = run_phase(&fs, &args, &root, Phase::CompleteRpc, Some(ids)).await?;
    let (list, _) = run_phase(&fs, &args, &root, Phase::List, None).await?;
    let (delete, _) = run_phase(&fs, &args, &root, Phase::Delete, None).await?;
    fs.delete(&root, true).await?;
    println!("health_calls_per_sec {:.0}", total / health);
    println!("create_ops_per_sec {:.0}", total / create);
    println!("create_rpc_ops_per_sec {:.0}", total / create_rpc);
    println!("complete_rpc_ops_per_sec {:.0}", total / complete_rpc);
    println!("list_ops_per_sec {:.0}", dirs / list);
    println!("delete_ops_per_sec {:.0}", total / delete);
    Ok(())
}

/// Runs one phase on every client at once; returns the seconds it took and each client's
/// created file ids (`CreateRpc` only). `ids` are the files `CompleteRpc` completes.
async fn run_phase(
    fs: &Granary,
    args: &Arc<Args>,
    root: &FsPath,
    phase: Phase,
    ids: Option<Vec<Vec<InodeId>>>,
) -> anyhow::Result<(f64, Vec<Vec<InodeId>>)> {
    let ids = ids.unwrap_or_else(|| vec![Vec::new(); args.clients]);
    let start = Instant::now();
    let mut clients = JoinSet::new();
    for (c, ids) in ids.into_iter().enumerate() {
        let (fs, args, dir) = (fs.clone(), args.clone(), root.join(&format!("c{c}"))?);
        clients.spawn(async move { (c, client(fs, args, dir, phase, ids).await) });
    }
    let mut created = vec![Vec::new(); args.clients];
    while let Some(done) = clients.join_next().await {
        let (c, result) = done.context("client task")?;
        created[c] = result?;
    }
    Ok((start.elapsed().as_secs_f64(), created))
}

async fn client(
    fs: Granary,
    args: Arc<Args>,
    dir: FsPath,
    phase: Phase,
    ids: Vec<InodeId>,
) -> anyhow::Result<Vec<InodeId>> {
    let nn = fs.namenode();
    let mut created = Vec::new();
    if phase == Phase::List {
        for d in 0..args.files.div_ceil(args.per_dir) {
            fs.list(&dir.join(&format!("d{d}"))?, false).await?;
        }
        return Ok(created);
    }
    let sub = if matches!(phase, Phase::CreateRpc | Phase::CompleteRpc) {
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
                let file = create(nn, &path).await?;
                complete(nn, path, file).await?;
            }
            Phase::CreateRpc => created.push(create(nn, &path).await?),
            Phase::CompleteRpc => complete(nn, path, *ids.get(i).context("file id")?).await?,
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
    Ok(created)
}

async fn create(nn: &NamenodeClient, path: &FsPath) -> anyhow::Result<InodeId> {
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
    Ok(created.file)
}

async fn complete(nn: &NamenodeClient, path: FsPath, file: InodeId) -> anyhow::Result<()> {
    nn.complete(&CompleteRequest {
        path,
        file,
        blocks: vec![],
        request_id: RequestId::new(),
    })
    .await?;
    Ok(())
}
