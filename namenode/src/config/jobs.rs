//! The job tracker's part of the namenode configuration.

use granary_compute::tracker::{
    TrackerConfig, MAX_LOCALITY_WAIT, MAX_SORT_BUFFER, MIN_SORT_BUFFER,
};
use humantime_serde::re::humantime;

use super::NamenodeConfig;
use crate::error::NamenodeError;

impl NamenodeConfig {
    /// The tracker's settings; those the namenode does not expose keep their defaults.
    pub fn tracker_config(&self) -> TrackerConfig {
        TrackerConfig {
            locality_wait: self.job_locality_wait,
            max_attempts: self.job_max_attempts,
            sort_buffer: self.job_sort_buffer,
            executor_dead_after: self.executor_dead_after.unwrap_or(self.dead_after),
            speculation: self.job_speculation,
            speculation_min_runtime: self.job_speculation_min_runtime,
            max_history: self.job_max_history,
            ..TrackerConfig::default()
        }
    }

    pub(super) fn validate_jobs(&self) -> Result<(), NamenodeError> {
        let fail = |msg: String| Err(NamenodeError::Config(msg));
        if self.job_max_attempts == 0 {
            return fail("job_max_attempts must be at least 1".into());
        }
        if !(MIN_SORT_BUFFER..=MAX_SORT_BUFFER).contains(&self.job_sort_buffer) {
            return fail(format!(
                "job_sort_buffer must be between 4 KiB and 2 GiB (got {} bytes)",
                self.job_sort_buffer
            ));
        }
        if self.job_locality_wait > MAX_LOCALITY_WAIT {
            return fail(format!(
                "job_locality_wait must be at most {} (got {})",
                humantime::format_duration(MAX_LOCALITY_WAIT),
                humantime::format_duration(self.job_locality_wait)
            ));
        }
        if self.job_max_history == 0 {
            return fail("job_max_history must be at least 1".into());
        }
        if self.executor_dead_after.is_some_and(|d| d.is_zero()) {
            return fail("executor_dead_after must be positive".into());
        }
        Ok(())
    }
}
