//! `fs stat` (status, blocks and replicas; with `-c FORMAT`, Hadoop's `-stat` lines) and
//! `fs checksum` (the file checksum, as `hdfs dfs -checksum`).

use anyhow::bail;
use granary_client::protocol::{FileKind, FileStatus};
use granary_client::{FileChecksum, FsPath, Granary};
use serde::Serialize;

use super::paths;
use crate::output::{self, print_json};

/// One piece of a `stat -c` format: text printed as it is, or a directive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    /// The letter after a `%`.
    Directive(char),
}

/// The directives `stat -c` knows (Hadoop's, less the owners and permissions Granary does
/// not keep yet).
const DIRECTIVES: &str = "%n %b %r %o %y %Y %F %%";

/// Splits a `stat -c` format into pieces; an unknown directive or a lone `%` at the end is
/// refused (Hadoop leaves them in the output, which hides typos).
fn parse_format(format: &str) -> anyhow::Result<Vec<Piece<'_>>> {
    let mut pieces = Vec::new();
    let mut rest = format;
    while let Some(at) = rest.find('%') {
        if at > 0 {
            pieces.push(Piece::Text(&rest[..at]));
        }
        let mut after = rest[at + 1..].chars();
        match after.next() {
            Some(c) if "nbroyYFugaA%".contains(c) => pieces.push(Piece::Directive(c)),
            Some(c) => {
                bail!("stat format {format:?}: unknown directive %{c} (known: {DIRECTIVES})")
            }
            None => bail!("stat format {format:?} ends in a lone % (write %% for a percent sign)"),
        }
        rest = after.as_str();
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

/// One `stat -c` line for `status`.
fn render(pieces: &[Piece<'_>], status: &FileStatus) -> String {
    let mut line = String::new();
    for piece in pieces {
        match *piece {
            Piece::Text(text) => line.push_str(text),
            Piece::Directive(c) => line.push_str(&match c {
                'n' => status.path.file_name().unwrap_or_default().to_string(),
                'b' => status.length.to_string(),
                'r' => status.replication.to_string(),
                'o' => status.block_size.to_string(),
                'y' => output::time_ms(status.modified_ms),
                'Y' => status.modified_ms.to_string(),
                'u' => status.attrs.owner.clone(),
                'g' => status.attrs.group.clone(),
                'a' => status.attrs.permission.to_string(),
                'A' => status.attrs.permission.symbolic(),
                'F' => match status.kind {
                    FileKind::File => "regular file".to_string(),
                    FileKind::Directory => "directory".to_string(),
                },
                _ => "%".to_string(),
            }),
        }
    }
    line
}

/// `fs stat`: with `format`, one line per path; without, the status and blocks of one path.
pub async fn stat(
    fs: &Granary,
    raw: &[String],
    format: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let Some(format) = format else {
        let [one] = raw else {
            bail!("fs stat shows one path at a time; with -c FORMAT it takes several");
        };
        return details(fs, &paths::expand_one(fs, one).await?, json).await;
    };
    let pieces = parse_format(format)?;
    for path in paths::expand(fs, raw).await? {
        println!("{}", render(&pieces, &fs.stat(&path).await?));
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

async fn details(fs: &Granary, path: &FsPath, json: bool) -> anyhow::Result<()> {
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

/// `fs checksum --json`: one per path, with WebHDFS's `FileChecksum` fields.
#[derive(Serialize)]
struct ChecksumOutput {
    path: FsPath,
    algorithm: &'static str,
    bytes: String,
    length: usize,
}

/// `fs checksum`: `PATH\tALGORITHM\tHEX` per file (as `hdfs dfs -checksum`), or a JSON array.
pub async fn checksum(fs: &Granary, raw: &[String], json: bool) -> anyhow::Result<()> {
    let mut all = Vec::new();
    for path in paths::expand(fs, raw).await? {
        let sum = fs.file_checksum(&path).await?;
        if json {
            all.push(ChecksumOutput {
                path,
                algorithm: FileChecksum::ALGORITHM,
                bytes: sum.bytes.to_hex(),
                length: FileChecksum::LENGTH,
            });
        } else {
            println!("{path}\t{}\t{}", FileChecksum::ALGORITHM, sum.bytes);
        }
    }
    if json {
        print_json(&all)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(kind: FileKind) -> FileStatus {
        FileStatus {
            path: FsPath::parse("/d/f.txt").unwrap(),
            kind,
            length: 1234,
            replication: 3,
            block_size: 1 << 20,
            modified_ms: 1_700_000_000_123,
            lease_holder: None,
            attrs: Default::default(),
        }
    }

    #[test]
    fn every_directive_renders_as_hadoop_prints_it() {
        let pieces = parse_format("%n|%b|%r|%o|%y|%Y|%F|100%%").unwrap();
        assert_eq!(
            render(&pieces, &status(FileKind::File)),
            "f.txt|1234|3|1048576|2023-11-14 22:13:20|1700000000123|regular file|100%"
        );
        let dir = FileStatus {
            length: 0,
            replication: 0,
            block_size: 0,
            ..status(FileKind::Directory)
        };
        assert_eq!(render(&parse_format("%F %b").unwrap(), &dir), "directory 0");
    }

    #[test]
    fn text_around_directives_is_kept_and_bad_directives_are_refused() {
        assert_eq!(
            parse_format("size=%b bytes").unwrap(),
            vec![
                Piece::Text("size="),
                Piece::Directive('b'),
                Piece::Text(" bytes")
            ]
        );
        assert_eq!(parse_format("").unwrap(), vec![]);
        let unknown = parse_format("%n %q").unwrap_err().to_string();
        assert!(unknown.contains("unknown directive %q"), "{unknown}");
        assert!(parse_format("%").is_err());
        assert!(parse_format("50%")
            .unwrap_err()
            .to_string()
            .contains("lone %"));
        assert!(parse_format("%é").is_err());
    }
}
