//! Client ↔ job tracker (in the namenode), and executor (in each datanode) ↔ job tracker.
//!
//! The executor protocol follows Ballista's small explicit shape: an executor polls for work
//! with what it is running, the tracker answers with attempts to launch and attempts to kill,
//! and the executor reports each finished attempt. A reducer that cannot fetch a map's output
//! says so with a typed [`TaskOutcome::FetchFailed`], so the map is re-run instead of the job
//! failing.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::ids::{BlockId, DatanodeId, RequestId};
use crate::path::FsPath;

/// A job, named like Hadoop's: `job_<start ms>_<sequence>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub String);

/// One attempt at one task: `attempt_<job>_m_000003_1` is the second attempt at map 3.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AttemptId(pub String);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    Map,
    Reduce,
}

/// A task of a job: map `index` reads split `index`; reduce `index` owns partition `index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TaskId {
    pub kind: TaskKind,
    pub index: u32,
}

impl JobId {
    /// Accepts only the characters job ids are made of, so an id is safe in a path.
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = s.starts_with("job_")
            && s.len() <= 64
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if ok {
            Ok(JobId(s.to_string()))
        } else {
            Err(format!("not a job id: {s:?}"))
        }
    }

    /// The attempt id of attempt number `attempt` (0-based) of `task`.
    pub fn attempt_id(&self, task: TaskId, attempt: u32) -> AttemptId {
        let job = self.0.strip_prefix("job_").unwrap_or(&self.0);
        AttemptId(format!("attempt_{job}_{task}_{attempt}"))
    }
}

impl AttemptId {
    /// Accepts only the characters attempt ids are made of, so an id is safe in a path.
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = s.starts_with("attempt_")
            && s.len() <= 96
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if ok {
            Ok(AttemptId(s.to_string()))
        } else {
            Err(format!("not an attempt id: {s:?}"))
        }
    }
}

// `pad`, not `write_str`: tables line ids up with `{:<24}`.
impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl fmt::Display for AttemptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl fmt::Display for TaskId {
    /// `m_000003` or `r_000000`, as in Hadoop's task ids.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            TaskKind::Map => 'm',
            TaskKind::Reduce => 'r',
        };
        write!(f, "{kind}_{:06}", self.index)
    }
}

/// What a job computes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobProgram {
    Builtin(Builtin),
    /// Hadoop Streaming: each command runs under `sh -c`, lines in on stdin, `key<TAB>value`
    /// lines out. No reducer command with reducers > 0: the identity reducer.
    Streaming {
        mapper: String,
        combiner: Option<String>,
        reducer: Option<String>,
    },
}

/// The built-in jobs, selected by name on the command line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum Builtin {
    /// Words split on ASCII whitespace, bytes kept as they are; `word<TAB>count`.
    Wordcount,
    /// Occurrences of whitespace-separated field `field` (1-based, like awk's `$N`); lines
    /// with fewer fields are skipped.
    CountField { field: u32 },
    /// Lines matching `pattern` (a Rust regex, matched on bytes).
    Grep { pattern: String },
    /// Every line, in total order over all part files (range-partitioned from a sample).
    Sort,
}

impl Builtin {
    pub fn name(&self) -> &'static str {
        match self {
            Builtin::Wordcount => "wordcount",
            Builtin::CountField { .. } => "count-field",
            Builtin::Grep { .. } => "grep",
            Builtin::Sort => "sort",
        }
    }
}

/// A job as submitted. `None` fields take the tracker's defaults, documented in the README.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// Files, directories (their files, skipping names starting with `_` or `.`) and globs
    /// (`*`, `?`, `[...]` within a path component).
    pub inputs: Vec<String>,
    /// Must not exist yet.
    pub output: FsPath,
    pub program: JobProgram,
    /// Reduce tasks; 0 makes a map-only job writing `part-m-NNNNN`. Default: one per live
    /// executor, except `grep`, which is map-only.
    pub reducers: Option<u32>,
    /// Each reducer writes only its `top` largest counts (count-field and wordcount).
    pub top: Option<u32>,
    /// Replication of the output files. Default: the cluster's.
    pub output_replication: Option<u16>,
    /// Map output buffered before a spill, in bytes. Default 64 MiB.
    pub sort_buffer: Option<u64>,
    /// How long a free slot waits for a data-local map before it takes a rack-local one (and
    /// as long again before it takes any). Default 3 s.
    pub locality_wait_ms: Option<u64>,
    /// Attempts per task before the job fails. Default 4.
    pub max_attempts: Option<u32>,
    /// Launch backup attempts for stragglers. Default on.
    pub speculation: Option<bool>,
    /// Who submitted the job: set by the namenode from the caller, whatever the request said.
    /// The tracker checks the submitter may read the inputs and write the output's parent;
    /// streaming commands see it as `mapreduce_job_user_name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitter: Option<String>,
}

impl JobSpec {
    /// A job over `inputs` into `output`, every setting at the tracker's default.
    pub fn new(inputs: Vec<String>, output: FsPath, program: JobProgram) -> Self {
        JobSpec {
            inputs,
            output,
            program,
            reducers: None,
            top: None,
            output_replication: None,
            sort_buffer: None,
            submitter: None,
            locality_wait_ms: None,
            max_attempts: None,
            speculation: None,
        }
    }
}

/// Submits a job. A retry with the same request id is answered with the job the first
/// submission started, never a second job.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SubmitJobRequest {
    pub spec: JobSpec,
    pub request_id: RequestId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Running,
    Succeeded,
    Failed,
    Killed,
}

impl JobState {
    pub fn is_finished(self) -> bool {
        self != JobState::Running
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Killed => "killed",
        }
    }
}

/// Where a running job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobPhase {
    Map,
    Reduce,
    Commit,
    Done,
}

/// Counters a task attempt reports; a job's counters add up those of each task's winning
/// attempt. The names are a contract (`--json` keys).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCounters {
    pub map_input_records: u64,
    pub map_input_bytes: u64,
    pub map_output_records: u64,
    pub combine_input_records: u64,
    pub combine_output_records: u64,
    pub shuffle_bytes: u64,
    pub reduce_input_groups: u64,
    pub reduce_output_records: u64,
    /// Input bytes read from the executor's own block store.
    pub local_bytes_read: u64,
    /// Input bytes read from other datanodes.
    pub remote_bytes_read: u64,
    /// Streaming `reporter:counter:GROUP,NAME,N` lines: group → name → sum.
    #[serde(default)]
    pub user: UserCounters,
}

impl TaskCounters {
    pub fn add(&mut self, other: &TaskCounters) {
        self.map_input_records += other.map_input_records;
        self.map_input_bytes += other.map_input_bytes;
        self.map_output_records += other.map_output_records;
        self.combine_input_records += other.combine_input_records;
        self.combine_output_records += other.combine_output_records;
        self.shuffle_bytes += other.shuffle_bytes;
        self.reduce_input_groups += other.reduce_input_groups;
        self.reduce_output_records += other.reduce_output_records;
        self.local_bytes_read += other.local_bytes_read;
        self.remote_bytes_read += other.remote_bytes_read;
        add_user_counters(&mut self.user, &other.user);
    }
}

/// User counters (streaming `reporter:counter:GROUP,NAME,N` lines): group → name → sum.
pub type UserCounters = BTreeMap<String, BTreeMap<String, u64>>;

/// Adds `from`'s user counters into `into`.
pub fn add_user_counters(into: &mut UserCounters, from: &UserCounters) {
    for (group, names) in from {
        let mine = into.entry(group.clone()).or_default();
        for (name, n) in names {
            *mine.entry(name.clone()).or_default() += n;
        }
    }
}

/// A job's counters: its tasks' plus what only the tracker knows. On the wire the task
/// counters sit beside the others, one flat object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCounters {
    pub data_local_maps: u64,
    pub rack_local_maps: u64,
    pub remote_maps: u64,
    /// The winning attempts' counters, added up.
    #[serde(flatten)]
    pub tasks: TaskCounters,
    pub failed_attempts: u64,
    pub speculative_attempts: u64,
    /// Shuffle fetches whose bytes did not match the CRC32C the map recorded for them (each
    /// re-ran that map). Absent from records written before it existed.
    #[serde(default)]
    pub shuffle_checksum_failures: u64,
    /// Wall time from submission to the last map's success.
    pub map_phase_ms: u64,
    /// Wall time from the last map's success to the last reducer's commit (shuffle included).
    pub reduce_phase_ms: u64,
    /// Wall time from submission to the end.
    pub total_ms: u64,
}

/// A job as `job status --json` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStatus {
    pub id: JobId,
    pub state: JobState,
    pub phase: JobPhase,
    pub spec: JobSpec,
    pub output: FsPath,
    pub maps_total: u32,
    pub maps_done: u32,
    pub reduces_total: u32,
    pub reduces_done: u32,
    /// Why the job failed or was killed.
    pub error: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub submitted_ms: u64,
    pub finished_ms: Option<u64>,
    pub counters: JobCounters,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobList {
    /// Newest first.
    pub jobs: Vec<JobStatus>,
}

/// A key as raw bytes, hex on the wire (keys need not be UTF-8).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyBytes(#[serde(with = "hex::serde")] pub Vec<u8>);

/// How map output keys are assigned to reducers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Partitioner {
    /// A stable hash of the key, modulo the reducer count.
    Hash,
    /// Reducer `i` gets keys in `[boundaries[i-1], boundaries[i])`; there are reducers - 1
    /// boundaries, sorted. Used by `sort` for a total order.
    Range { boundaries: Vec<KeyBytes> },
}

/// The part of a file one map task reads: one block of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputSplit {
    pub file: FsPath,
    pub file_length: u64,
    pub offset: u64,
    pub length: u64,
    pub block: BlockId,
    /// Datanodes holding a replica when the job was planned.
    pub locations: Vec<DatanodeId>,
}

/// Response header of a shuffle fetch: the CRC32C (decimal) the map recorded for the
/// partition's bytes when it wrote them, which the reducer checks the body against.
pub const SEGMENT_CRC32C_HEADER: &str = "x-granary-crc32c";

/// Where a finished map attempt's output can be fetched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapOutputLocation {
    pub map: u32,
    pub attempt: AttemptId,
    pub datanode: DatanodeId,
    /// The datanode's HTTP address (its shuffle server).
    pub addr: SocketAddr,
}

/// What an attempt does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TaskWork {
    Map { split: InputSplit },
    Reduce { map_outputs: Vec<MapOutputLocation> },
}

/// An attempt the tracker asks an executor to run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskAssignment {
    pub job: JobId,
    pub task: TaskId,
    pub attempt: AttemptId,
    pub program: JobProgram,
    /// Reduce tasks of the job (0: map-only).
    pub reducers: u32,
    pub partitioner: Partitioner,
    pub sort_buffer: u64,
    pub top: Option<u32>,
    /// The job's output directory. The attempt writes its part file under
    /// `<output>/_temporary/<attempt>/`; the tracker renames the winner's into place.
    pub output: FsPath,
    pub output_replication: Option<u16>,
    pub work: TaskWork,
    /// Who submitted the job (`JobSpec::submitter`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitter: Option<String>,
}

/// An executor's poll: who it is, its slots, and the attempts it is running.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExecutorPoll {
    pub datanode: DatanodeId,
    /// The datanode's HTTP address, where its shuffle server answers.
    pub addr: SocketAddr,
    pub rack: String,
    /// Task slots in all (running + free).
    pub slots: u32,
    pub running: Vec<AttemptProgress>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AttemptProgress {
    pub attempt: AttemptId,
    /// Fraction done, 0.0 to 1.0.
    pub progress: f64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ExecutorPollResponse {
    pub launch: Vec<TaskAssignment>,
    /// Attempts to stop (their job ended, or another attempt won).
    pub kill: Vec<AttemptId>,
    /// Jobs still running; an executor deletes the local map output of any other job.
    pub active_jobs: Vec<JobId>,
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TaskOutcome {
    Succeeded {
        counters: TaskCounters,
    },
    Failed {
        error: String,
    },
    /// A reducer could not fetch map `map`'s output from `attempt`: that map is re-run.
    FetchFailed {
        map: u32,
        attempt: AttemptId,
        error: String,
        /// Absent in reports from executors that predate it: unavailable.
        #[serde(default)]
        cause: FetchFailureCause,
    },
}

/// Why a reducer could not have a map's output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchFailureCause {
    /// The map's datanode could not be reached, stalled, failed or cut the body short.
    #[default]
    Unavailable,
    /// The bytes arrived whole but did not match the map's CRC32C: the output is corrupt.
    ChecksumMismatch,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskReport {
    pub datanode: DatanodeId,
    pub job: JobId,
    pub attempt: AttemptId,
    pub outcome: TaskOutcome,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempt_ids_follow_hadoop_naming() {
        let job = JobId::parse("job_1700000000000_0001").unwrap();
        let task = TaskId {
            kind: TaskKind::Map,
            index: 3,
        };
        let attempt = job.attempt_id(task, 1);
        assert_eq!(attempt.0, "attempt_1700000000000_0001_m_000003_1");
        assert!(AttemptId::parse(&attempt.0).is_ok());
    }

    #[test]
    fn ids_reject_path_characters() {
        for bad in ["job_../x", "job_a/b", "jobx", ""] {
            assert!(JobId::parse(bad).is_err(), "{bad} parsed");
        }
        assert!(AttemptId::parse("attempt_1/../2").is_err());
    }

    #[test]
    fn job_counters_are_one_flat_object_on_the_wire() {
        let json = serde_json::to_value(JobCounters::default()).unwrap();
        for key in ["data_local_maps", "map_input_records", "user", "total_ms"] {
            assert!(json.get(key).is_some(), "{key} missing from {json}");
        }
        assert!(json.get("tasks").is_none());
    }

    #[test]
    fn older_records_and_reports_still_load() {
        let mut json = serde_json::to_value(JobCounters::default()).unwrap();
        json.as_object_mut()
            .unwrap()
            .remove("shuffle_checksum_failures");
        let counters: JobCounters = serde_json::from_value(json).unwrap();
        assert_eq!(counters.shuffle_checksum_failures, 0);
        let report =
            r#"{"type":"fetch_failed","map":2,"attempt":"attempt_1_2_m_000002_0","error":"x"}"#;
        let outcome: TaskOutcome = serde_json::from_str(report).unwrap();
        assert!(matches!(
            outcome,
            TaskOutcome::FetchFailed {
                map: 2,
                cause: FetchFailureCause::Unavailable,
                ..
            }
        ));
    }

    #[test]
    fn keys_are_hex_on_the_wire() {
        let p = Partitioner::Range {
            boundaries: vec![KeyBytes(vec![0xff, b'a'])],
        };
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#"{"type":"range","boundaries":["ff61"]}"#);
        assert_eq!(serde_json::from_str::<Partitioner>(&json).unwrap(), p);
    }
}
