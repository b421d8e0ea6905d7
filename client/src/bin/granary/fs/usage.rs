//! `fs du`, `fs count` and `fs df`: space and counts as `hdfs dfs -du`, `-count` and `-df`
//! print them, from the namenode's content summaries and its cluster report.

use std::io::Write;

use granary_client::protocol::{space_consumed, ContentSummary, FileKind, FileStatus};
use granary_client::{FsPath, Granary};
use serde::Serialize;

use super::paths;
use crate::output::{self, print_json, JsonArray};

/// Rows of a `du` table aligned together. Hadoop aligns its whole output; rows are printed
/// in groups of this many, so a huge directory is never held (one group is a listing page).
const ROWS_ALIGNED: usize = 1000;

/// Columns padded to their widest cell and joined by two spaces, as Hadoop's `FsUsage`
/// tables; the last column is not padded, and `right` ones are padded on the left.
fn table(rows: &[Vec<String>], right: &[usize]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| match (right.contains(&c), c + 1 == columns) {
                (true, _) => format!("{cell:>0$}", widths[c]),
                (false, false) => format!("{cell:<0$}", widths[c]),
                (false, true) => cell.clone(),
            })
            .collect();
        text.push_str(&cells.join("  "));
        text.push('\n');
    }
    text
}

/// One `du` row: a path's bytes and the space they take with every replica.
#[derive(Serialize)]
struct DuRow {
    path: FsPath,
    length: u64,
    space_consumed: u64,
}

/// `du -v`'s header row.
const DU_HEADER: [&str; 3] = [
    "SIZE",
    "DISK_SPACE_CONSUMED_WITH_ALL_REPLICAS",
    "FULL_PATH_NAME",
];

/// How `du` and `count` print.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    /// Sizes (and for `count`, counts) in human units.
    pub human: bool,
    /// A header line first (`-v`).
    pub header: bool,
    pub json: bool,
}

/// `fs du`: a row per entry of each directory argument (per argument with `summary`), its
/// size and the space it consumes.
pub async fn du(fs: &Granary, raw: &[String], summary: bool, style: Style) -> anyhow::Result<()> {
    let Style {
        human,
        header,
        json,
    } = style;
    let mut rows = DuOutput {
        json: match json {
            true => Some(JsonArray::start(std::io::BufWriter::new(
                std::io::stdout().lock(),
            ))?),
            false => None,
        },
        text: match header && !json {
            true => vec![DU_HEADER.map(String::from).to_vec()],
            false => Vec::new(),
        },
        human,
    };
    for path in paths::expand(fs, raw).await? {
        let status = fs.stat(&path).await?;
        if summary || status.kind == FileKind::File {
            rows.push(du_row(fs, status).await?)?;
            continue;
        }
        let mut walk = fs.walk(&path).children_only();
        while let Some(entry) = walk.next().await? {
            rows.push(du_row(fs, entry).await?)?;
        }
    }
    rows.finish()
}

/// A file's row from its status alone; a directory's from its content summary.
async fn du_row(fs: &Granary, status: FileStatus) -> anyhow::Result<DuRow> {
    let (length, consumed) = match status.kind {
        FileKind::File => (
            status.length,
            space_consumed(status.length, status.replication),
        ),
        FileKind::Directory => {
            let summary = fs.content_summary(&status.path).await?;
            (summary.length, summary.space_consumed)
        }
    };
    Ok(DuRow {
        path: status.path,
        length,
        space_consumed: consumed,
    })
}

/// Where `du` rows go: streamed into a JSON array, or aligned a group at a time.
struct DuOutput<W: Write> {
    json: Option<JsonArray<W>>,
    text: Vec<Vec<String>>,
    human: bool,
}

impl<W: Write> DuOutput<W> {
    fn push(&mut self, row: DuRow) -> anyhow::Result<()> {
        if let Some(json) = &mut self.json {
            return json.push(&row);
        }
        self.text.push(vec![
            output::size(row.length, self.human),
            output::size(row.space_consumed, self.human),
            row.path.to_string(),
        ]);
        if self.text.len() >= ROWS_ALIGNED {
            self.flush_text()?;
        }
        Ok(())
    }

    fn flush_text(&mut self) -> anyhow::Result<()> {
        print!("{}", table(&self.text, &[]));
        self.text.clear();
        std::io::stdout().flush()?;
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<()> {
        match self.json.take() {
            Some(json) => json.finish().map(drop),
            None => self.flush_text(),
        }
    }
}

/// `fs count --json`: a path and its summary.
#[derive(Serialize)]
struct CountOutput {
    path: FsPath,
    #[serde(flatten)]
    summary: ContentSummary,
}

/// `fs count`: directories, files and bytes at or below each path (with `quotas`, Hadoop's
/// four quota columns first: Granary has none, so `none inf none inf`).
pub async fn count(fs: &Granary, raw: &[String], quotas: bool, style: Style) -> anyhow::Result<()> {
    let Style {
        human,
        header,
        json,
    } = style;
    let mut all = Vec::new();
    let paths = paths::expand(fs, raw).await?;
    if header && !json {
        println!("{}", count_header(quotas));
    }
    for path in paths {
        let summary = fs.content_summary(&path).await?;
        match json {
            true => all.push(CountOutput { path, summary }),
            false => println!("{}", count_line(&path, &summary, quotas, human)),
        }
    }
    if json {
        print_json(&all)?;
    }
    Ok(())
}

/// `count -v`'s header: Hadoop's `ContentSummary.getHeader(qOption)` and `PATHNAME`.
fn count_header(quotas: bool) -> String {
    let quota = match quotas {
        true => format!(
            "{:>12} {:>15} {:>15} {:>15} ",
            "QUOTA", "REM_QUOTA", "SPACE_QUOTA", "REM_SPACE_QUOTA"
        ),
        false => String::new(),
    };
    format!(
        "{quota}{:>12} {:>12} {:>18} PATHNAME",
        "DIR_COUNT", "FILE_COUNT", "CONTENT_SIZE"
    )
}

/// Hadoop's `ContentSummary.toString(qOption, hOption)` followed by the path.
fn count_line(path: &FsPath, s: &ContentSummary, quotas: bool, human: bool) -> String {
    let quota = match quotas {
        true => format!("{:>12} {:>15} {:>15} {:>15} ", "none", "inf", "none", "inf"),
        false => String::new(),
    };
    format!(
        "{quota}{:>12} {:>12} {:>18} {path}",
        output::size(s.directory_count, human),
        output::size(s.file_count, human),
        output::size(s.length, human),
    )
}

/// `fs df --json`: the cluster's space.
#[derive(Serialize)]
struct DfOutput {
    filesystem: String,
    size: u64,
    used: u64,
    available: u64,
    use_percent: u64,
}

/// `fs df`: the live datanodes' capacity, used and remaining space, one row per path asked
/// about (each must exist; they all share the one filesystem), or one row.
pub async fn df(fs: &Granary, raw: &[String], human: bool, json: bool) -> anyhow::Result<()> {
    let asked = paths::expand(fs, raw).await?;
    for path in &asked {
        fs.stat(path).await?;
    }
    let rows = asked.len().max(1);
    let report = fs.report().await?;
    let out = DfOutput {
        filesystem: fs.namenode_url().to_string(),
        size: report.capacity,
        used: report.used,
        available: report.remaining,
        use_percent: percent(report.used, report.capacity),
    };
    if json {
        return print_json(&out);
    }
    let mut cells = vec![["Filesystem", "Size", "Used", "Available", "Use%"]
        .map(String::from)
        .to_vec()];
    for _ in 0..rows {
        cells.push(vec![
            out.filesystem.clone(),
            output::size(out.size, human),
            output::size(out.used, human),
            output::size(out.available, human),
            format!("{}%", out.use_percent),
        ]);
    }
    print!("{}", table(&cells, &[1, 2, 3, 4]));
    Ok(())
}

/// `part` of `whole` in whole percent, rounded half up (0 of nothing is 0 %).
fn percent(part: u64, whole: u64) -> u64 {
    match whole {
        0 => 0,
        _ => ((u128::from(part) * 100 + u128::from(whole) / 2) / u128::from(whole)) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(rows: &[&[&str]]) -> Vec<Vec<String>> {
        rows.iter()
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect()
    }

    #[test]
    fn tables_align_as_hadoops_fs_usage() {
        let rows = cells(&[&["1", "3", "/a"], &["1000", "3000", "/bb"]]);
        assert_eq!(table(&rows, &[]), "1     3     /a\n1000  3000  /bb\n");
        let rows = cells(&[&["Filesystem", "Size", "Use%"], &["http://x", "1024", "5%"]]);
        assert_eq!(
            table(&rows, &[1, 2]),
            "Filesystem  Size  Use%\nhttp://x    1024    5%\n"
        );
    }

    #[test]
    fn count_lines_have_hadoops_columns() {
        let s = ContentSummary {
            directory_count: 2,
            file_count: 3,
            length: 2048,
            space_consumed: 6144,
            ..ContentSummary::EMPTY
        };
        let path = FsPath::parse("/d").unwrap();
        assert_eq!(
            count_line(&path, &s, false, false),
            format!("{:>12} {:>12} {:>18} /d", 2, 3, 2048)
        );
        assert_eq!(
            count_line(&path, &s, true, true),
            format!(
                "{:>12} {:>15} {:>15} {:>15} {:>12} {:>12} {:>18} /d",
                "none", "inf", "none", "inf", 2, 3, "2 K"
            )
        );
        assert_eq!(
            count_header(false),
            "   DIR_COUNT   FILE_COUNT       CONTENT_SIZE PATHNAME"
        );
        assert!(count_header(true).starts_with(
            "       QUOTA       REM_QUOTA     SPACE_QUOTA REM_SPACE_QUOTA    DIR_COUNT"
        ));
    }

    #[test]
    fn percentages_round_half_up() {
        assert_eq!(percent(0, 0), 0);
        assert_eq!(percent(1, 200), 1);
        assert_eq!(percent(1, 201), 0);
        assert_eq!(percent(50, 100), 50);
        assert_eq!(percent(u64::MAX, u64::MAX), 100);
    }
}
