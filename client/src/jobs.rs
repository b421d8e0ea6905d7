//! Jobs through the [`Granary`] facade: submit, watch, kill, and read a `--top` result.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use futures_util::TryStreamExt;
use tokio::io::AsyncBufReadExt;
use tokio_util::io::StreamReader;

use crate::error::Result;
use crate::fs::Granary;
use crate::ids::RequestId;
use crate::path::FsPath;
use crate::protocol::{FileKind, JobId, JobList, JobSpec, JobStatus, SubmitJobRequest};

/// One line of a counting job's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyCount {
    pub key: Vec<u8>,
    pub count: u64,
}

impl Granary {
    /// Submits a job. The request id makes a retried submission start one job, not two.
    pub async fn submit_job(&self, spec: JobSpec) -> Result<JobStatus> {
        let request = SubmitJobRequest {
            spec,
            request_id: RequestId::new(),
        };
        self.nn.submit_job(&request).await
    }

    pub async fn job_status(&self, id: &JobId) -> Result<JobStatus> {
        self.nn.job_status(id).await
    }

    pub async fn list_jobs(&self) -> Result<JobList> {
        self.nn.list_jobs().await
    }

    pub async fn kill_job(&self, id: &JobId) -> Result<JobStatus> {
        self.nn.kill_job(id).await
    }

    /// Polls the job every `every` until it ends, calling `on_progress` with each status.
    pub async fn wait_for_job(
        &self,
        id: &JobId,
        every: Duration,
        mut on_progress: impl FnMut(&JobStatus),
    ) -> Result<JobStatus> {
        loop {
            let status = self.nn.job_status(id).await?;
            on_progress(&status);
            if status.state.is_finished() {
                return Ok(status);
            }
            tokio::time::sleep(every).await;
        }
    }

    /// The `k` largest counts over every `part-*` file of a counting job's output (each
    /// reducer wrote its own top `k`, so the merge is exact). Largest first, ties by key.
    pub async fn top_counts(&self, output: &FsPath, k: usize) -> Result<Vec<KeyCount>> {
        // A min-heap of the best k so far: memory stays at k entries whatever the output size.
        let mut best: BinaryHeap<Reverse<(u64, Reverse<Vec<u8>>)>> = BinaryHeap::new();
        for part in self.part_files(output).await? {
            let reader = self.open(&part).await?;
            let bytes = reader.read_all().map_err(std::io::Error::other);
            let mut lines = StreamReader::new(bytes).split(b'\n');
            while let Some(line) = lines
                .next_segment()
                .await
                .map_err(|e| crate::Error::io(&part, e))?
            {
                let Some(entry) = parse_count_line(&line) else {
                    continue;
                };
                best.push(Reverse((entry.count, Reverse(entry.key))));
                if best.len() > k {
                    best.pop();
                }
            }
        }
        let mut top: Vec<KeyCount> = best
            .into_iter()
            .map(|Reverse((count, Reverse(key)))| KeyCount { key, count })
            .collect();
        top.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        Ok(top)
    }

    /// The job output's `part-*` files, in name order.
    pub async fn part_files(&self, output: &FsPath) -> Result<Vec<FsPath>> {
        let mut parts: Vec<FsPath> = self
            .list(output, false)
            .await?
            .into_iter()
            .filter(|entry| {
                entry.kind == FileKind::File
                    && entry
                        .path
                        .file_name()
                        .is_some_and(|name| name.starts_with("part-"))
            })
            .map(|entry| entry.path)
            .collect();
        parts.sort();
        Ok(parts)
    }
}

/// `key<TAB>count`; the key may itself contain tabs, the count is after the last one.
fn parse_count_line(line: &[u8]) -> Option<KeyCount> {
    let tab = line.iter().rposition(|&b| b == b'\t')?;
    let count = std::str::from_utf8(&line[tab + 1..])
        .ok()?
        .trim_end()
        .parse()
        .ok()?;
    Some(KeyCount {
        key: line[..tab].to_vec(),
        count,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_count_line;

    #[test]
    fn count_lines_split_at_the_last_tab() {
        let entry = parse_count_line(b"a\tb\t42").unwrap();
        assert_eq!(entry.key, b"a\tb");
        assert_eq!(entry.count, 42);
        assert!(parse_count_line(b"no tab").is_none());
        assert!(parse_count_line(b"x\tnot a number").is_none());
    }
}
