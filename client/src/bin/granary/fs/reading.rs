//! `fs head`, `fs tail [-f]` and `fs text`: the commands that print part of a file, or a
//! compressed file decompressed. head and tail read only the bytes they print; all of them
//! stream, a chunk at a time.

use std::time::Duration;

use anyhow::Context;
use async_compression::tokio::bufread::{BzDecoder, GzipDecoder, ZstdDecoder};
use futures_util::StreamExt;
use granary_client::{FileReader, FsPath, Granary};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::paths;
use crate::interrupt::{until_signal, Interrupted};

/// What `head` and `tail` print: 1 KiB, as `hdfs dfs -head` and `-tail`.
const HEAD_TAIL_BYTES: u64 = 1024;

/// Decompressed bytes between a decoder and stdout.
const TEXT_BUFFER: usize = 64 * 1024;

/// `tail -f`'s default wait between looks at the file, as `hdfs dfs -tail -f` (5000 ms).
const DEFAULT_FOLLOW_SLEEP: &str = "5000";

pub async fn head(fs: &Granary, path: &FsPath) -> anyhow::Result<()> {
    let reader = fs.open(path).await?;
    print_range(&reader, 0, HEAD_TAIL_BYTES, &mut tokio::io::stdout()).await?;
    Ok(())
}

/// `fs tail`'s arguments.
#[derive(clap::Args)]
pub struct TailArgs {
    /// Follow the file as it grows: print each byte appended (visible once its writer
    /// completes or hflushes) until Ctrl-C or SIGTERM, which exit 130.
    #[arg(short = 'f', long)]
    follow: bool,
    /// With -f, the wait between looks at the file's length: milliseconds, as hdfs (e.g.
    /// 500), or a duration (e.g. 1s).
    #[arg(short = 's', long, value_name = "MILLIS", requires = "follow",
          default_value = DEFAULT_FOLLOW_SLEEP, value_parser = parse_sleep)]
    sleep: Duration,
    /// The file to read.
    path: String,
}

/// The last 1 KiB; with `follow`, then every byte appended, looking at the file's length
/// every `sleep`, until SIGINT or SIGTERM (exit 130).
pub async fn tail(fs: &Granary, args: TailArgs) -> anyhow::Result<()> {
    let TailArgs {
        follow,
        sleep,
        path,
    } = args;
    let path = &paths::expand_one(fs, &path).await?;
    let last_kib = async {
        let reader = fs.open(path).await?;
        let start = reader.len().saturating_sub(HEAD_TAIL_BYTES);
        print_range(&reader, start, u64::MAX, &mut tokio::io::stdout()).await
    };
    if !follow {
        return last_kib.await.map(drop);
    }
    // The signal handlers cover the first KiB too: a Ctrl-C at any point exits 130.
    let following = async {
        let offset = last_kib.await?;
        follow_file(fs, path, offset, sleep, &mut tokio::io::stdout()).await
    };
    match until_signal(following).await? {
        Some(result) => result,
        None => Err(Interrupted(format!("interrupted: stopped following {path}")).into()),
    }
}

/// Prints what is appended to `path` past `offset`, forever: each look re-locates the file
/// (its visible length and blocks, an open file's up to its writer's last hflush) and reads
/// only the new range. A file cut shorter is followed from its new end, as hdfs does.
async fn follow_file<W: AsyncWrite + Unpin>(
    fs: &Granary,
    path: &FsPath,
    mut offset: u64,
    sleep: Duration,
    out: &mut W,
) -> anyhow::Result<()> {
    loop {
        tokio::time::sleep(sleep).await;
        let reader = fs.open(path).await?;
        if reader.len() < offset {
            eprintln!("granary: {path}: file truncated; following from its new end");
            offset = reader.len();
        } else if reader.len() > offset {
            offset = print_range(&reader, offset, u64::MAX, out).await?;
        }
    }
}

/// Writes `[offset, offset + length)` of the file (clamped to its length as located) and
/// flushes, so a follower's reader sees each piece at once; answers the offset reached.
async fn print_range<W: AsyncWrite + Unpin>(
    reader: &FileReader,
    offset: u64,
    length: u64,
    out: &mut W,
) -> anyhow::Result<u64> {
    let mut stream = reader.read_range(offset, length);
    let mut reached = offset;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        out.write_all(&chunk).await.context("writing output")?;
        reached += chunk.len() as u64;
    }
    out.flush().await.context("writing output")?;
    Ok(reached)
}

/// The compression `fs text` undoes, chosen by the file name's extension as Hadoop's codec
/// factory does.
#[derive(Clone, Copy)]
enum Codec {
    Gzip,
    Zstd,
    Bzip2,
}

impl Codec {
    fn of(path: &FsPath) -> Option<Codec> {
        let name = path.file_name()?;
        [
            (".gz", Codec::Gzip),
            (".zst", Codec::Zstd),
            (".bz2", Codec::Bzip2),
        ]
        .into_iter()
        .find(|(ext, _)| name.ends_with(ext))
        .map(|(_, codec)| codec)
    }

    fn name(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip",
            Codec::Zstd => "zstd",
            Codec::Bzip2 => "bzip2",
        }
    }
}

/// Each file to stdout in turn, decompressed when its extension names a codec; stops at the
/// first that cannot be read.
pub async fn text(fs: &Granary, paths: &[FsPath]) -> anyhow::Result<()> {
    let mut out = tokio::io::stdout();
    for path in paths {
        let reader = fs.open(path).await?;
        // An empty file holds nothing to decompress (an empty job output named *.gz).
        let Some(codec) = Codec::of(path).filter(|_| !reader.is_empty()) else {
            reader.copy_to(&mut out, None).await?;
            continue;
        };
        let input = reader.range_reader(0, reader.len());
        // Concatenated members (frames, streams) are one file, as `zcat` and Hadoop read them.
        let mut decoder: Box<dyn AsyncRead + Send + Unpin> = match codec {
            Codec::Gzip => {
                let mut d = GzipDecoder::new(input);
                d.multiple_members(true);
                Box::new(d)
            }
            Codec::Zstd => {
                let mut d = ZstdDecoder::new(input);
                d.multiple_members(true);
                Box::new(d)
            }
            Codec::Bzip2 => {
                let mut d = BzDecoder::new(input);
                d.multiple_members(true);
                Box::new(d)
            }
        };
        copy_decoded(&mut decoder, &mut out, path, codec).await?;
    }
    Ok(())
}

async fn copy_decoded<W: AsyncWrite + Unpin>(
    decoder: &mut (dyn AsyncRead + Send + Unpin),
    out: &mut W,
    path: &FsPath,
    codec: Codec,
) -> anyhow::Result<()> {
    let mut buf = vec![0u8; TEXT_BUFFER];
    loop {
        let n = match decoder.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            // A failed read of the file is reported as itself, anything else is the data.
            Err(e) => match granary_client::Error::from_io(&e) {
                Some(read_error) => return Err(read_error.clone().into()),
                None => anyhow::bail!("{path}: not valid {} data ({e})", codec.name()),
            },
        };
        out.write_all(&buf[..n]).await.context("writing output")?;
    }
    out.flush().await.context("writing output")?;
    Ok(())
}

/// `tail -s`: milliseconds, as hdfs takes it (`-s 500`), or a duration with its unit (`1s`).
fn parse_sleep(raw: &str) -> Result<Duration, String> {
    let sleep = match raw.parse::<u64>() {
        Ok(ms) => Duration::from_millis(ms),
        Err(_) => humantime::parse_duration(raw)
            .map_err(|e| format!("{raw:?} is not milliseconds or a duration such as 1s: {e}"))?,
    };
    if sleep.is_zero() {
        return Err("the sleep interval must be positive".to_string());
    }
    Ok(sleep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_is_milliseconds_or_a_duration_and_positive() {
        assert_eq!(parse_sleep("500"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_sleep("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_sleep("0").is_err());
        assert!(parse_sleep("soon").is_err());
    }

    #[test]
    fn the_codec_is_the_extension_of_the_file_name() {
        let codec = |p: &str| Codec::of(&FsPath::parse(p).unwrap()).map(Codec::name);
        assert_eq!(codec("/logs/a.gz"), Some("gzip"));
        assert_eq!(codec("/logs/a.tar.zst"), Some("zstd"));
        assert_eq!(codec("/logs/a.bz2"), Some("bzip2"));
        assert_eq!(codec("/logs/a.txt"), None);
        assert_eq!(codec("/logs.gz/a"), None);
    }
}
