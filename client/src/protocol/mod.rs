//! Wire types shared by both ends of every connection. Control messages are JSON bodies of
//! these structs; block bytes are [`crate::framing`] streams. The route constants name every
//! HTTP endpoint so the servers and the clients can never disagree on a path.

pub mod admin;
pub mod datanode;
pub mod health;
pub mod job;
pub mod namespace;
pub mod transfer;

pub use admin::*;
pub use datanode::*;
pub use health::*;
pub use job::*;
pub use namespace::*;
pub use transfer::*;

/// HTTP routes. Namenode routes first, then datanode routes.
pub mod routes {
    pub const HEALTH: &str = "/v1/health";

    pub const CREATE: &str = "/v1/namespace/create";
    pub const ADD_BLOCK: &str = "/v1/namespace/add_block";
    pub const ABANDON_BLOCK: &str = "/v1/namespace/abandon_block";
    pub const COMPLETE: &str = "/v1/namespace/complete";
    pub const MKDIR: &str = "/v1/namespace/mkdir";
    pub const DELETE: &str = "/v1/namespace/delete";
    pub const RENAME: &str = "/v1/namespace/rename";
    pub const STAT: &str = "/v1/namespace/stat";
    pub const LIST: &str = "/v1/namespace/list";
    pub const LOCATE: &str = "/v1/namespace/locate";
    pub const REPORT_BAD_REPLICA: &str = "/v1/namespace/report_bad_replica";

    pub const SET_REPLICATION: &str = "/v1/namespace/set_replication";

    pub const ADMIN_REPORT: &str = "/v1/admin/report";
    pub const ADMIN_FSCK: &str = "/v1/admin/fsck";
    pub const ADMIN_SAFEMODE: &str = "/v1/admin/safemode";
    pub const ADMIN_DECOMMISSION: &str = "/v1/admin/decommission";
    pub const ADMIN_RECOMMISSION: &str = "/v1/admin/recommission";
    pub const ADMIN_MAINTENANCE: &str = "/v1/admin/maintenance";

    /// `POST` submits a job, `GET` lists jobs.
    pub const JOBS: &str = "/v1/jobs";
    pub const JOB: &str = "/v1/jobs/{id}";
    pub const JOB_KILL: &str = "/v1/jobs/{id}/kill";
    /// An executor asks for work and says what it runs.
    pub const EXECUTOR_POLL: &str = "/v1/executor/poll";
    /// An executor reports a finished attempt.
    pub const EXECUTOR_REPORT: &str = "/v1/executor/report";

    pub fn job(id: &crate::protocol::JobId) -> String {
        format!("/v1/jobs/{id}")
    }

    pub fn job_kill(id: &crate::protocol::JobId) -> String {
        format!("/v1/jobs/{id}/kill")
    }

    pub const REGISTER: &str = "/v1/datanode/register";
    pub const HEARTBEAT: &str = "/v1/datanode/heartbeat";
    pub const BLOCK_REPORT: &str = "/v1/datanode/block_report";
    pub const BLOCK_RECEIVED: &str = "/v1/datanode/block_received";
    /// A datanode's long-lived request: its body never ends while the datanode lives, so the
    /// namenode notices a dead process at once (see `LifelineQuery`).
    pub const LIFELINE: &str = "/v1/datanode/lifeline";
    /// Long poll: answers as soon as the namenode has commands for the datanode.
    pub const COMMANDS: &str = "/v1/datanode/commands";
    /// A replica copy the namenode ordered failed; it is ordered again at once.
    pub const REPLICATION_FAILED: &str = "/v1/datanode/replication_failed";

    /// Datanode: `PUT` writes a block (framed body), `GET` reads it (framed response).
    pub const BLOCK: &str = "/v1/blocks/{id}";

    /// Datanode: `GET` streams one partition of a finished map attempt's output.
    pub const SHUFFLE: &str = "/v1/shuffle/{job}/{attempt}/{partition}";

    pub fn shuffle(
        job: &crate::protocol::JobId,
        attempt: &crate::protocol::AttemptId,
        partition: u32,
    ) -> String {
        format!("/v1/shuffle/{job}/{attempt}/{partition}")
    }

    pub fn block(id: crate::ids::BlockId) -> String {
        format!("/v1/blocks/{}", id.0)
    }
}
