//! When and whom `--during-job` kills: at the kill point of the job's phase, the datanode
//! running the most of the job's tasks of that phase, found in the local cluster's directories.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;
use granary_client::protocol::{JobId, JobPhase, JobStatus};
use granary_client::DatanodeId;

use super::{phase_name, Drill};
use crate::cluster::state;
use crate::drill::{kill_local, KillPhase, POLL};

/// Polls at the kill point spent looking for a datanode running the job's tasks before the
/// drill settles for any.
const BUSY_NODE_POLLS: u32 = 25;

impl Drill<'_> {
    /// Polls the job until its kill point, then SIGKILLs a datanode: the one running the most
    /// of the job's tasks of the phase's kind, else the first live one. Returns the datanode and
    /// the job's status just before the kill; `None` if the job ended first.
    pub(super) async fn kill_at_point(
        &self,
        job: &JobId,
    ) -> anyhow::Result<Option<(DatanodeId, JobStatus)>> {
        let deadline = Instant::now() + Duration::from(self.args.timeout);
        let mut polls_at_point = 0;
        loop {
            let status = self.fs.job_status(job).await?;
            if status.state.is_finished() {
                return Ok(None);
            }
            if at_kill_point(&status, self.kill_in()) {
                let busy = self.busiest_datanode(job);
                polls_at_point += 1;
                if busy.is_some() || polls_at_point >= BUSY_NODE_POLLS {
                    let victim = busy.unwrap_or_else(|| self.live[0].clone());
                    kill_local(self.cluster, std::slice::from_ref(&victim))?;
                    self.say(format!(
                        "drill: killed {victim} in the {} phase ({}/{} maps, {}/{} reduces done)",
                        phase_name(status.phase),
                        status.maps_done,
                        status.maps_total,
                        status.reduces_done,
                        status.reduces_total
                    ));
                    return Ok(Some((victim, status)));
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "job {job} did not reach the kill point within {}",
                    self.args.timeout
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn kill_in(&self) -> KillPhase {
        self.args.kill_in.unwrap_or(KillPhase::Map)
    }

    /// The live datanode with the most attempt directories of the kill phase's kind for `job`.
    fn busiest_datanode(&self, job: &JobId) -> Option<DatanodeId> {
        let kind = match self.kill_in() {
            KillPhase::Map => "_m_",
            KillPhase::Reduce => "_r_",
        };
        self.cluster
            .datanodes
            .iter()
            .filter_map(|dn| {
                let id = DatanodeId(state::datanode_id(&dn.data_dir)?);
                let attempts = attempt_dirs(&dn.data_dir, job, kind);
                (self.live.contains(&id) && attempts > 0).then_some((attempts, id))
            })
            .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(&a.1)))
            .map(|(_, id)| id)
    }
}

fn at_kill_point(status: &JobStatus, kill_in: KillPhase) -> bool {
    match kill_in {
        KillPhase::Map => status.maps_done * 2 >= status.maps_total,
        KillPhase::Reduce => status.phase == JobPhase::Reduce,
    }
}

/// Attempt directories of `job` whose names contain `kind` (`_m_` or `_r_`) on a local
/// datanode. The executor keeps an attempt's files in `<data_dir>/jobs/<job>/<attempt>/` while
/// it runs, and a map's output there until the job ends.
fn attempt_dirs(data_dir: &Path, job: &JobId, kind: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(data_dir.join("jobs").join(&job.0)) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.contains(kind)))
        .count()
}

#[cfg(test)]
mod tests {
    use granary_client::protocol::{Builtin, JobProgram, JobSpec, JobState};
    use granary_client::FsPath;

    use super::*;

    fn status(phase: JobPhase, maps_done: u32) -> JobStatus {
        let output = FsPath::parse("/out").unwrap();
        JobStatus {
            id: JobId("job_1_0001".into()),
            state: JobState::Running,
            phase,
            spec: JobSpec {
                reducers: Some(3),
                ..JobSpec::new(
                    vec!["/in".into()],
                    output.clone(),
                    JobProgram::Builtin(Builtin::Wordcount),
                )
            },
            output,
            maps_total: 12,
            maps_done,
            reduces_total: 3,
            reduces_done: 0,
            error: None,
            submitted_ms: 0,
            finished_ms: None,
            counters: Default::default(),
        }
    }

    #[test]
    fn the_kill_point_is_half_the_maps_or_the_reduce_phase() {
        assert!(!at_kill_point(&status(JobPhase::Map, 5), KillPhase::Map));
        assert!(at_kill_point(&status(JobPhase::Map, 6), KillPhase::Map));
        assert!(!at_kill_point(
            &status(JobPhase::Map, 11),
            KillPhase::Reduce
        ));
        assert!(at_kill_point(
            &status(JobPhase::Reduce, 12),
            KillPhase::Reduce
        ));
        assert!(!at_kill_point(
            &status(JobPhase::Commit, 12),
            KillPhase::Reduce
        ));
    }

    #[test]
    fn attempt_directories_are_counted_by_kind() {
        let data_dir = tempfile::tempdir().unwrap();
        let job = JobId("job_1_0001".into());
        assert_eq!(attempt_dirs(data_dir.path(), &job, "_m_"), 0);
        let job_dir = data_dir.path().join("jobs").join(&job.0);
        for attempt in [
            "attempt_1_0001_m_000000_0",
            "attempt_1_0001_m_000001_0",
            "attempt_1_0001_r_000000_0",
        ] {
            std::fs::create_dir_all(job_dir.join(attempt)).unwrap();
        }
        assert_eq!(attempt_dirs(data_dir.path(), &job, "_m_"), 2);
        assert_eq!(attempt_dirs(data_dir.path(), &job, "_r_"), 1);
    }
}
