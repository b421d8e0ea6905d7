//! The jobs of the compute crash tests, and checks of their output.

use std::collections::BTreeMap;
use std::time::Duration;

use granary_client::protocol::{Builtin, JobProgram, JobSpec, JobStatus};
use granary_client::{Granary, PutOptions};
use granary_integration_tests::{datagen, ClusterSpec, TestCluster};

use super::check::p;

/// Longest a job of these tests may take; they take seconds.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(60);

/// A cluster for jobs: one task slot per datanode, lost executors noticed within 2 s, and
/// six blocks of words on every datanode. Returns the input.
pub async fn job_cluster() -> (TestCluster, Granary, Vec<u8>) {
    let cluster = TestCluster::start(ClusterSpec {
        dead_after: "2s",
        env: vec![("GRANARY_TASK_SLOTS", "1")],
        ..ClusterSpec::default()
    });
    let fs = cluster.client();
    let block = 64 << 10;
    let mut text = Vec::new();
    datagen::words(&mut text, 6 * block - block / 2, 5).unwrap();
    let options = PutOptions {
        block_size: Some(block),
        create_parents: true,
        ..PutOptions::default()
    };
    fs.put_bytes(&text, &p("/in/words"), &options)
        .await
        .unwrap();
    (cluster, fs, text)
}

pub fn word_counts(text: &[u8]) -> BTreeMap<Vec<u8>, u64> {
    let mut counts = BTreeMap::new();
    for word in text
        .split(u8::is_ascii_whitespace)
        .filter(|w| !w.is_empty())
    {
        *counts.entry(word.to_vec()).or_default() += 1;
    }
    counts
}

pub fn wordcount(output: &str, reducers: u32) -> JobSpec {
    JobSpec {
        reducers: Some(reducers),
        ..JobSpec::new(
            vec!["/in".into()],
            p(output),
            JobProgram::Builtin(Builtin::Wordcount),
        )
    }
}

/// Runs `spec` to its end (bounded).
pub async fn run(fs: &Granary, spec: JobSpec) -> JobStatus {
    let id = fs.submit_job(spec).await.unwrap().id;
    tokio::time::timeout(
        JOB_TIMEOUT,
        fs.wait_for_job(&id, Duration::from_millis(100), |_| {}),
    )
    .await
    .unwrap_or_else(|_| panic!("job {id} still running after {JOB_TIMEOUT:?}"))
    .unwrap()
}

/// A succeeded job's part files, checking that the output holds exactly them and `_SUCCESS`.
pub async fn output_parts(fs: &Granary, output: &str, reducers: u32) -> Vec<Vec<u8>> {
    let mut names: Vec<String> = fs
        .list(&p(output), false)
        .await
        .unwrap()
        .iter()
        .filter_map(|e| e.path.file_name().map(str::to_string))
        .collect();
    names.sort();
    let mut expected: Vec<String> = (0..reducers).map(|r| format!("part-r-{r:05}")).collect();
    expected.insert(0, "_SUCCESS".into());
    assert_eq!(names, expected);
    let mut parts = Vec::new();
    for part in fs.part_files(&p(output)).await.unwrap() {
        parts.push(fs.read_to_vec(&part).await.unwrap());
    }
    parts
}

/// A succeeded wordcount's output: its part files and `_SUCCESS`, counting every word right.
pub async fn check_counts(
    fs: &Granary,
    output: &str,
    reducers: u32,
    reference: &BTreeMap<Vec<u8>, u64>,
) {
    let mut counts = BTreeMap::new();
    for text in output_parts(fs, output, reducers).await {
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let tab = line.iter().rposition(|&b| b == b'\t').expect("tab");
            let n: u64 = std::str::from_utf8(&line[tab + 1..])
                .unwrap()
                .parse()
                .unwrap();
            assert!(
                counts.insert(line[..tab].to_vec(), n).is_none(),
                "key twice"
            );
        }
    }
    assert!(
        counts == *reference,
        "the job's counts differ from the reference"
    );
}

/// A streaming job whose maps take a second each, so every datanode's slot gets one: the
/// input lines (no tab: each a key alone) pass through unchanged and come out sorted within
/// each reducer's partition. Without backup attempts, so the attempt that crashes is the
/// only one of its task and must be re-run.
pub fn slow_identity(output: &str, reducers: u32) -> JobSpec {
    JobSpec {
        reducers: Some(reducers),
        speculation: Some(false),
        ..JobSpec::new(
            vec!["/in".into()],
            p(output),
            JobProgram::Streaming {
                mapper: "sleep 1; cat".into(),
                combiner: None,
                reducer: None,
            },
        )
    }
}
