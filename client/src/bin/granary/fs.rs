//! `granary fs ...`: the filesystem commands.

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use granary_client::protocol::FileKind;
use granary_client::size::parse_size;
use granary_client::{FsPath, Granary};

mod copying;
mod cp;
mod entries;
mod find;
mod getmerge;
mod getting;
mod listing;
mod paths;
mod permissions;
mod reading;
mod status;
mod trash;
mod usage;
mod writing;

#[derive(Subcommand)]
pub enum FsCommand {
    /// Copy local files and directories (or `-` for stdin) into the cluster.
    #[command(visible_alias = "copyFromLocal")]
    Put(copying::PutArgs),
    /// Put, then delete the local sources once every one of them is in the cluster.
    #[command(name = "moveFromLocal")]
    MoveFromLocal(copying::PutArgs),
    /// Copy files and directories out of the cluster to a local path.
    #[command(visible_alias = "copyToLocal")]
    Get(getting::GetArgs),
    /// Copy files and directories inside the cluster: cloned by the datanodes where the
    /// blocks allow, streamed otherwise. Several sources copy into an existing directory.
    Cp {
        /// Overwrite existing files.
        #[arg(short = 'f', long)]
        force: bool,
        /// Print a line per file copied, with how many blocks were cloned and streamed.
        #[arg(short = 'v', long)]
        verbose: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Sources, then the destination.
        #[arg(required = true, num_args = 2..)]
        paths: Vec<String>,
    },
    /// Write files to stdout.
    Cat {
        /// Files to write out, in order (globs allowed).
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
    #[command(disable_help_flag = true)]
    Ls {
        /// List every descendant.
        #[arg(short = 'R', long)]
        recursive: bool,
        /// Sizes in human units: 1.5 K, 128 M (as `hdfs dfs -ls -h`).
        #[arg(short = 'h', long = "human-readable")]
        human: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Directories (or files) to list, globs allowed.
        #[arg(default_value = "/")]
        paths: Vec<String>,
        /// Print help (`-h` means human-readable sizes, as in hdfs).
        #[arg(long, action = clap::ArgAction::Help)]
        help: Option<bool>,
    },
    /// Change the permission of files and directories (as `hdfs dfs -chmod`): octal (755,
    /// 1777) or symbolic (u+x,g-w,o=r, a+t); the owner or the superuser.
    Chmod(permissions::ChmodArgs),
    /// Change the owner, and with OWNER:GROUP the group, of files and directories (as
    /// `hdfs dfs -chown`); only the superuser.
    Chown(permissions::ChownArgs),
    /// Change the group of files and directories (as `hdfs dfs -chgrp`): the owner (to one of
    /// its groups) or the superuser.
    Chgrp(permissions::ChgrpArgs),
    /// Create directories.
    Mkdir {
        /// Create parents as needed; no error if the directory exists.
        #[arg(short = 'p', long)]
        parents: bool,
        /// Directories to create.
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Delete files and directories: moved to the trash (`/user/$USER/.Trash/Current`) when
    /// the namenode's trash interval is not 0.
    Rm {
        /// Delete directories and everything below them.
        #[arg(short = 'r', long)]
        recursive: bool,
        /// Delete at once, not through the trash (Hadoop's `-skipTrash` works too).
        #[arg(long)]
        skip_trash: bool,
        /// Paths to delete.
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Checkpoint the trash and delete its checkpoints older than the trash interval.
    Expunge {
        /// Delete everything in the trash now (Hadoop's `-immediate` works too).
        #[arg(long)]
        immediate: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Rename a file or directory; into DST when DST is a directory (which it must be for
    /// several sources).
    Mv {
        /// Sources, then the destination.
        #[arg(required = true, num_args = 2..)]
        paths: Vec<String>,
    },
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
        /// The new number of replicas per block.
        replication: u16,
        /// A file, or a directory (every file below it).
        path: String,
    },
    /// Show a file's status, blocks and replica locations; with `-c FORMAT`, one line per
    /// path in that format (as `hdfs dfs -stat FORMAT`).
    Stat {
        /// Print each path as FORMAT: %n name, %b length in bytes, %r replication, %o block
        /// size, %y modified (UTC, yyyy-MM-dd HH:mm:ss), %Y modified (ms since the epoch), %F
        /// type (`regular file` or `directory`), %u owner, %g group, %a permission in octal,
        /// %A permission symbolic (rwxr-xr-x), %% a percent sign.
        #[arg(
            short = 'c',
            long = "format",
            value_name = "FORMAT",
            conflicts_with = "json"
        )]
        format: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// The path to show (several with -c).
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
    },
    /// Each file's checksum, `PATH<TAB>ALGORITHM<TAB>HEX` (as `hdfs dfs -checksum`): SHA-256
    /// over its blocks' SHA-256 digests, so equal for equal bytes written with the same
    /// block size.
    Checksum {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Files to checksum.
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Bytes and space consumed (with every replica) of each entry of each directory, or of
    /// each path with `-s` (as `hdfs dfs -du`).
    #[command(disable_help_flag = true)]
    Du {
        /// One total per path instead of a row per entry.
        #[arg(short = 's', long)]
        summary: bool,
        /// Sizes in human units: 1.5 K, 128 M.
        #[arg(short = 'h', long = "human-readable")]
        human: bool,
        /// A header row first: SIZE DISK_SPACE_CONSUMED_WITH_ALL_REPLICAS FULL_PATH_NAME.
        #[arg(short = 'v', long = "header")]
        header: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Paths to measure.
        #[arg(default_value = "/")]
        paths: Vec<String>,
        /// Print help (`-h` means human-readable sizes, as in hdfs).
        #[arg(long, action = clap::ArgAction::Help)]
        help: Option<bool>,
    },
    /// Directories, files and bytes at or below each path: DIR_COUNT FILE_COUNT CONTENT_SIZE
    /// PATHNAME (as `hdfs dfs -count`).
    #[command(disable_help_flag = true)]
    Count {
        /// Quota columns first: QUOTA REM_QUOTA SPACE_QUOTA REM_SPACE_QUOTA (Granary has no
        /// quotas: `none inf none inf`).
        #[arg(short = 'q', long)]
        quotas: bool,
        /// Sizes and counts in human units: 1.5 K, 128 M.
        #[arg(short = 'h', long = "human-readable")]
        human: bool,
        /// A header line first: DIR_COUNT FILE_COUNT CONTENT_SIZE PATHNAME (and the quota
        /// columns' names with -q).
        #[arg(short = 'v', long = "header")]
        header: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Paths to count.
        #[arg(required = true)]
        paths: Vec<String>,
        /// Print help (`-h` means human-readable sizes, as in hdfs).
        #[arg(long, action = clap::ArgAction::Help)]
        help: Option<bool>,
    },
    /// The cluster's capacity, used and available space: Filesystem Size Used Available Use%
    /// (as `hdfs dfs -df`).
    #[command(disable_help_flag = true)]
    Df {
        /// Sizes in human units: 1.5 K, 128 M.
        #[arg(short = 'h', long = "human-readable")]
        human: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Paths to report on (a row each; they must exist).
        paths: Vec<String>,
        /// Print help (`-h` means human-readable sizes, as in hdfs).
        #[arg(long, action = clap::ArgAction::Help)]
        help: Option<bool>,
    },
    /// Every path at or below each PATH whose name matches and whose type is asked for, one a
    /// line (as `hdfs dfs -find`; `-name`, `-iname` and `-type` work with one dash too).
    Find {
        /// Names matching this glob (`*`, `?`, `[...]`), case-sensitive.
        #[arg(long, value_name = "GLOB", conflicts_with = "iname")]
        name: Option<String>,
        /// Names matching this glob, ignoring case.
        #[arg(long, value_name = "GLOB")]
        iname: Option<String>,
        /// Only files (f) or only directories (d).
        #[arg(long = "type", value_name = "TYPE")]
        kind: Option<find::EntryType>,
        /// Print JSON (an array of statuses) instead of paths.
        #[arg(long)]
        json: bool,
        /// Where to start.
        #[arg(required = true)]
        paths: Vec<String>,
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
        /// The new length, in bytes or with a unit (100, 64M); at most the current length.
        #[arg(value_parser = parse_size_arg)]
        length: u64,
        /// The file to shorten.
        path: String,
    },
    /// Close a file whose writer went away, now, at what its datanodes hold (as
    /// `hdfs debug recoverLease`). Prints whether it is closed and its length.
    RecoverLease {
        /// Wait until it is closed.
        #[arg(long)]
        wait: bool,
        /// The file to close.
        path: String,
    },
    /// Move the blocks of the sources onto the end of TARGET without copying data; the
    /// sources are removed. All must be complete files in one directory.
    Concat {
        /// The file the sources' blocks are moved onto the end of.
        target: String,
        /// Files whose blocks are moved, in order; removed afterwards.
        #[arg(required = true)]
        sources: Vec<String>,
    },
}

fn parse_size_arg(raw: &str) -> Result<u64, String> {
    parse_size(raw).map_err(|e| e.message)
}

pub async fn run(fs: Granary, cmd: FsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        FsCommand::Put(args) => copying::put(&fs, &args).await?,
        FsCommand::MoveFromLocal(args) => copying::move_from_local(&fs, &args).await?,
        FsCommand::Get(args) => getting::get(&fs, &args).await?,
        FsCommand::Cp {
            force,
            verbose,
            json,
            paths,
        } => cp::run(&fs, paths, force, verbose, json).await?,
        FsCommand::Cat { paths } => cat(&fs, &paths).await?,
        FsCommand::Head { path } => {
            reading::head(&fs, &paths::expand_one(&fs, &path).await?).await?
        }
        FsCommand::Tail(args) => reading::tail(&fs, args).await?,
        FsCommand::Text { paths } => reading::text(&fs, &paths::expand(&fs, &paths).await?).await?,
        FsCommand::Getmerge(args) => getmerge::getmerge(&fs, args).await?,
        FsCommand::Ls {
            recursive,
            human,
            json,
            paths,
            ..
        } => {
            let paths = paths::expand(&fs, &paths).await?;
            listing::ls(&fs, &paths, recursive, human, json).await?
        }
        FsCommand::Mkdir { parents, paths } => {
            for raw in &paths {
                fs.mkdir(&paths::destination(&fs, raw).await?, parents)
                    .await?;
            }
        }
        FsCommand::Rm {
            recursive,
            skip_trash,
            paths,
        } => {
            trash::rm(
                &fs,
                &paths::expand(&fs, &paths).await?,
                recursive,
                skip_trash,
            )
            .await?
        }
        FsCommand::Expunge { immediate, json } => trash::expunge(&fs, immediate, json).await?,
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
        FsCommand::Mv { mut paths } => {
            let dst = paths::destination(&fs, &paths.pop().unwrap_or_default()).await?;
            let sources = paths::expand(&fs, &paths).await?;
            if sources.len() > 1 && !is_directory(&fs, &dst).await? {
                bail!("{dst}: not an existing directory (needed to move several sources)");
            }
            for src in &sources {
                fs.rename(src, &into_directory(&fs, src, dst.clone()).await?)
                    .await?;
            }
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
        FsCommand::Chmod(args) => permissions::chmod(&fs, args).await?,
        FsCommand::Chown(args) => permissions::chown(&fs, args).await?,
        FsCommand::Chgrp(args) => permissions::chgrp(&fs, args).await?,
        FsCommand::Stat {
            format,
            json,
            paths,
        } => status::stat(&fs, &paths, format.as_deref(), json).await?,
        FsCommand::Checksum { json, paths } => status::checksum(&fs, &paths, json).await?,
        FsCommand::Du {
            summary,
            human,
            header,
            json,
            paths,
            ..
        } => {
            let style = usage::Style {
                human,
                header,
                json,
            };
            usage::du(&fs, &paths, summary, style).await?
        }
        FsCommand::Count {
            quotas,
            human,
            header,
            json,
            paths,
            ..
        } => {
            let style = usage::Style {
                human,
                header,
                json,
            };
            usage::count(&fs, &paths, quotas, style).await?
        }
        FsCommand::Df {
            human, json, paths, ..
        } => usage::df(&fs, &paths, human, json).await?,
        FsCommand::Find {
            name,
            iname,
            kind,
            json,
            paths,
        } => {
            let filter = find::Filter::new(name.as_deref(), iname.as_deref(), kind)?;
            find::find(&fs, &paths, &filter, json).await?
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

async fn is_directory(fs: &Granary, path: &FsPath) -> anyhow::Result<bool> {
    Ok(matches!(fs.try_stat(path).await?, Some(s) if s.kind == FileKind::Directory))
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
