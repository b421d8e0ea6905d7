//! `granary fs ...`: the filesystem commands.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use granary_client::protocol::{FileKind, FileStatus};
use granary_client::size::parse_size;
use granary_client::{ErrorKind, FsPath, Granary, PutOptions};
use serde::Serialize;

use crate::output::{self, print_json};

mod copying;
mod entries;
mod getmerge;
mod listing;
mod paths;
mod reading;
mod writing;

#[derive(Subcommand)]
pub enum FsCommand {
    /// Copy local files (or `-` for stdin) into the cluster.
    Put {
        /// Overwrite an existing file.
        #[arg(short = 'f', long)]
        force: bool,
        /// Create missing parent directories.
        #[arg(short = 'p', long)]
        parents: bool,
        /// Replicas per block (default: the cluster's).
        #[arg(short = 'r', long)]
        replication: Option<u16>,
        /// Block size, e.g. 64M, 128MiB (default: the cluster's).
        #[arg(short = 'b', long, value_parser = parse_size_arg)]
        block_size: Option<u64>,
        /// Local sources, then the destination path.
        #[arg(required = true, num_args = 2..)]
        paths: Vec<String>,
    },
    /// Copy a file out of the cluster to a local path.
    Get {
        /// Overwrite an existing local file.
        #[arg(short = 'f', long)]
        force: bool,
        src: String,
        dst: PathBuf,
    },
    /// Write files to stdout.
    Cat {
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Print the first 1 KiB of a file (as `hdfs dfs -head`).
    Head {
        /// The file to read.
        path: String,
    },
    /// Print the last 1 KiB of a file (as `hdfs dfs -tail`); with -f, go on printing what is
    /// appended to it until Ctrl-C.
    Tail(reading::TailArgs),
    /// Write files to stdout, decompressing those named *.gz, *.zst and *.bz2 (as
    /// `hdfs dfs -text`); other files are written as they are.
    Text {
        /// The files to write, in order.
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Concatenate files into one local file (as `hdfs dfs -getmerge`): a directory gives its
    /// files sorted by name, without subdirectories and hidden `_`/`.` files such as
    /// `_SUCCESS`. Written through a temporary file; Ctrl-C or SIGTERM removes it.
    Getmerge(getmerge::GetmergeArgs),
    /// List a directory (or show a file).
    Ls {
        /// List every descendant.
        #[arg(short = 'R', long)]
        recursive: bool,
        #[arg(long)]
        json: bool,
        #[arg(default_value = "/")]
        path: String,
    },
    /// Create directories.
    Mkdir {
        /// Create parents as needed; no error if the directory exists.
        #[arg(short = 'p', long)]
        parents: bool,
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Delete files and directories.
    Rm {
        /// Delete directories and everything below them.
        #[arg(short = 'r', long)]
        recursive: bool,
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Rename a file or directory; into DST when DST is a directory.
    Mv { src: String, dst: String },
    /// Create empty files; an existing empty file is left alone, anything else there is
    /// refused (as `hdfs dfs -touchz`).
    Touchz {
        /// Files to create.
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Check a path; the answer is the exit status only: 0 yes, 1 no (as `hdfs dfs -test`).
    #[command(group(clap::ArgGroup::new("check").required(true).multiple(false)))]
    Test {
        /// PATH exists.
        #[arg(short = 'e', group = "check")]
        exists: bool,
        /// PATH is a directory.
        #[arg(short = 'd', group = "check")]
        directory: bool,
        /// PATH is a file.
        #[arg(short = 'f', group = "check")]
        file: bool,
        /// PATH is a file of more than 0 bytes.
        #[arg(short = 's', group = "check")]
        non_empty: bool,
        /// PATH is a file of 0 bytes.
        #[arg(short = 'z', group = "check")]
        zero_length: bool,
        /// The path to check.
        path: String,
    },
    /// Remove empty directories (a directory with entries is refused; see `rm -r`).
    Rmdir {
        /// Directories to remove.
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Change a file's replication (every file below a directory); the cluster adds or
    /// trims replicas in the background.
    Setrep {
        /// Wait until every block has exactly the new number of replicas.
        #[arg(short = 'w', long)]
        wait: bool,
        replication: u16,
        path: String,
    },
    /// Show a file's status, blocks and replica locations.
    Stat {
        #[arg(long)]
        json: bool,
        path: String,
    },
    /// Append local files (or `-` for stdin) to the end of a file, in order (as
    /// `hdfs dfs -appendToFile`).
    Append {
        /// Local sources, then the file to append to.
        #[arg(required = true, num_args = 2..)]
        paths: Vec<String>,
    },
    /// Shorten a file to LENGTH bytes (e.g. 100, 64M).
    Truncate {
        /// Wait until the file is closed at its new length (its last block cut).
        #[arg(short = 'w', long)]
        wait: bool,
        #[arg(value_parser = parse_size_arg)]
        length: u64,
        path: String,
    },
    /// Close a file whose writer went away, now, at what its datanodes hold (as
    /// `hdfs debug recoverLease`). Prints whether it is closed and its length.
    RecoverLease {
        /// Wait until it is closed.
        #[arg(long)]
        wait: bool,
        path: String,
    },
    /// Move the blocks of the sources onto the end of TARGET without copying data; the
    /// sources are removed. All must be complete files in one directory.
    Concat {
        target: String,
        #[arg(required = true)]
        sources: Vec<String>,
    },
}

fn parse_size_arg(raw: &str) -> Result<u64, String> {
    parse_size(raw).map_err(|e| e.message)
}

pub async fn run(fs: Granary, cmd: FsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        FsCommand::Put {
            force,
            parents,
            replication,
            block_size,
            mut paths,
        } => {
            let raw_dst = paths.pop().unwrap_or_default();
            let dst = paths::destination(&fs, &raw_dst).await?;
            let opts = PutOptions {
                replication,
                block_size,
                overwrite: force,
                create_parents: parents,
            };
            // The path parser drops a trailing `/`, which means "a directory" to the user.
            let must_be_dir = raw_dst.ends_with('/');
            copying::put(&fs, &paths, &dst, must_be_dir, &opts).await?
        }
        FsCommand::Get { force, src, dst } => {
            copying::get(&fs, &paths::expand_one(&fs, &src).await?, &dst, force).await?
        }
        FsCommand::Cat { paths } => cat(&fs, &paths).await?,
        FsCommand::Head { path } => {
            reading::head(&fs, &paths::expand_one(&fs, &path).await?).await?
        }
        FsCommand::Tail(args) => reading::tail(&fs, args).await?,
        FsCommand::Text { paths } => reading::text(&fs, &paths::expand(&fs, &paths).await?).await?,
        FsCommand::Getmerge(args) => getmerge::getmerge(&fs, args).await?,
        FsCommand::Ls {
            recursive,
            json,
            path,
        } => listing::ls(&fs, &paths::expand_one(&fs, &path).await?, recursive, json).await?,
        FsCommand::Mkdir { parents, paths } => {
            for raw in &paths {
                fs.mkdir(&paths::destination(&fs, raw).await?, parents)
                    .await?;
            }
        }
        FsCommand::Rm { recursive, paths } => {
            for path in paths::expand(&fs, &paths).await? {
                fs.delete(&path, recursive)
                    .await
                    .map_err(|e| match e.kind {
                        ErrorKind::DirectoryNotEmpty => {
                            anyhow::anyhow!("{path}: directory is not empty (use -r to delete it and everything below it)")
                        }
                        _ => e.into(),
                    })?;
            }
        }
        FsCommand::Touchz { paths } => {
            let mut targets = Vec::with_capacity(paths.len());
            for raw in &paths {
                targets.push(paths::destination(&fs, raw).await?);
            }
            entries::touchz(&fs, &targets).await?
        }
        FsCommand::Test {
            exists,
            directory,
            file,
            non_empty,
            zero_length,
            path,
        } => {
            use entries::TestCheck;
            let check = match (exists, directory, file, non_empty, zero_length) {
                (true, ..) => TestCheck::E,
                (_, true, ..) => TestCheck::D,
                (_, _, true, ..) => TestCheck::F,
                (_, _, _, true, _) => TestCheck::S,
                _ => TestCheck::Z,
            };
            return entries::test(&fs, check, &paths::destination(&fs, &path).await?).await;
        }
        FsCommand::Rmdir { paths } => {
            entries::rmdir(&fs, &paths::expand(&fs, &paths).await?).await?
        }
        FsCommand::Mv { src, dst } => {
            let src = paths::expand_one(&fs, &src).await?;
            let dst = into_directory(&fs, &src, paths::destination(&fs, &dst).await?).await?;
            fs.rename(&src, &dst).await?;
        }
        FsCommand::Setrep {
            wait,
            replication,
            path,
        } => {
            listing::setrep(
                &fs,
                &paths::expand_one(&fs, &path).await?,
                replication,
                wait,
            )
            .await?
        }
        FsCommand::Stat { json, path } => {
            stat(&fs, &paths::expand_one(&fs, &path).await?, json).await?
        }
        FsCommand::Append { mut paths } => {
            let dst = paths::expand_one(&fs, &paths.pop().unwrap_or_default()).await?;
            writing::append(&fs, &paths, &dst).await?
        }
        FsCommand::Truncate { wait, length, path } => {
            writing::truncate(&fs, &paths::expand_one(&fs, &path).await?, length, wait).await?
        }
        FsCommand::RecoverLease { wait, path } => {
            return writing::recover_lease(&fs, &paths::expand_one(&fs, &path).await?, wait).await
        }
        FsCommand::Concat { target, sources } => {
            fs.concat(
                &paths::expand_one(&fs, &target).await?,
                &paths::expand(&fs, &sources).await?,
            )
            .await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `dst/name-of-src` when `dst` is an existing directory, else `dst` (as `cp` and `mv` do).
async fn into_directory(fs: &Granary, src: &FsPath, dst: FsPath) -> anyhow::Result<FsPath> {
    match fs.try_stat(&dst).await? {
        Some(status) if status.kind == FileKind::Directory => match src.file_name() {
            Some(name) => Ok(dst.join(name)?),
            None => bail!("cannot move the root directory"),
        },
        _ => Ok(dst),
    }
}

async fn cat(fs: &Granary, paths: &[String]) -> anyhow::Result<()> {
    let mut stdout = tokio::io::stdout();
    for path in paths::expand(fs, paths).await? {
        let reader = fs.open(&path).await?;
        reader.copy_to(&mut stdout, None).await?;
    }
    Ok(())
}

/// `fs stat --json`: the status plus every block with the ids of the datanodes holding it.
#[derive(Serialize)]
struct StatOutput {
    #[serde(flatten)]
    status: FileStatus,
    blocks: Vec<BlockOutput>,
}

#[derive(Serialize)]
struct BlockOutput {
    id: u64,
    offset: u64,
    length: u64,
    sha256: String,
    locations: Vec<String>,
}

async fn stat(fs: &Granary, path: &FsPath, json: bool) -> anyhow::Result<()> {
    let status = fs.stat(path).await?;
    let blocks = match status.kind {
        FileKind::File => fs
            .locate(path)
            .await?
            .blocks
            .into_iter()
            .map(|b| BlockOutput {
                id: b.id.0,
                offset: b.offset,
                length: b.length,
                sha256: b.sha256.to_hex(),
                locations: b.locations.into_iter().map(|l| l.id.0).collect(),
            })
            .collect(),
        FileKind::Directory => Vec::new(),
    };
    let out = StatOutput { status, blocks };
    if json {
        return print_json(&out);
    }
    let s = &out.status;
    println!("path:        {}", s.path);
    println!(
        "type:        {}",
        if s.kind == FileKind::File {
            "file"
        } else {
            "directory"
        }
    );
    println!("modified:    {}", output::time_ms(s.modified_ms));
    if let Some(holder) = &s.lease_holder {
        println!("open:        for write by {holder} (length as of its last hflush)");
    }
    if s.kind == FileKind::File {
        println!("length:      {} ({})", s.length, output::bytes(s.length));
        println!("replication: {}", s.replication);
        println!("block size:  {}", output::bytes(s.block_size));
        println!("blocks:      {}", out.blocks.len());
        for b in &out.blocks {
            println!(
                "  blk_{:<8} offset {:>12} length {:>10} replicas {} [{}]",
                b.id,
                b.offset,
                b.length,
                b.locations.len(),
                b.locations.join(", ")
            );
        }
    }
    Ok(())
}
