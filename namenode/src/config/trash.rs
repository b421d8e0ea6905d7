//! The trash's part of the namenode configuration.

use std::time::Duration;

use humantime_serde::re::humantime;

use super::NamenodeConfig;
use crate::error::NamenodeError;

/// Shortest non-zero trash interval and checkpoint interval: checkpoints are named to the
/// second.
const MIN_TRASH_PERIOD: Duration = Duration::from_secs(1);

impl NamenodeConfig {
    /// How often the trash emptier runs: `trash_checkpoint_interval`, or `trash_interval` when
    /// that is 0 or longer (as HDFS's emptier). `None` when the trash is off.
    pub fn trash_emptier_period(&self) -> Option<Duration> {
        if self.trash_interval.is_zero() {
            return None;
        }
        let checkpoint = self.trash_checkpoint_interval;
        Some(
            match checkpoint.is_zero() || checkpoint > self.trash_interval {
                true => self.trash_interval,
                false => checkpoint,
            },
        )
    }

    pub(super) fn validate_trash(&self) -> Result<(), NamenodeError> {
        for (name, value) in [
            ("trash_interval", self.trash_interval),
            ("trash_checkpoint_interval", self.trash_checkpoint_interval),
        ] {
            if !value.is_zero() && value < MIN_TRASH_PERIOD {
                return Err(NamenodeError::Config(format!(
                    "{name} must be 0 or at least 1s (got {})",
                    humantime::format_duration(value)
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_emptier_runs_every_checkpoint_interval_capped_by_the_trash_interval() {
        let hour = Duration::from_secs(3600);
        let config = |interval, checkpoint| NamenodeConfig {
            trash_interval: interval,
            trash_checkpoint_interval: checkpoint,
            ..NamenodeConfig::default()
        };
        assert_eq!(
            NamenodeConfig::default().trash_emptier_period(),
            Some(24 * hour)
        );
        assert_eq!(
            config(hour, Duration::ZERO).trash_emptier_period(),
            Some(hour)
        );
        assert_eq!(
            config(hour, Duration::from_secs(60)).trash_emptier_period(),
            Some(Duration::from_secs(60))
        );
        assert_eq!(config(hour, 2 * hour).trash_emptier_period(), Some(hour));
        assert_eq!(config(Duration::ZERO, hour).trash_emptier_period(), None);
        assert!(config(Duration::from_millis(10), Duration::ZERO)
            .validate()
            .is_err());
        assert!(config(hour, Duration::from_millis(500)).validate().is_err());
        config(Duration::ZERO, Duration::ZERO).validate().unwrap();
    }

    #[test]
    fn trash_settings_come_from_toml_and_flags() {
        use clap::Parser;
        let config = NamenodeConfig::from_toml_str(
            "trash_interval = \"6h\"\ntrash_checkpoint_interval = \"1h\"\n",
        )
        .unwrap();
        assert_eq!(config.trash_interval, Duration::from_secs(6 * 3600));
        assert_eq!(config.trash_checkpoint_interval, Duration::from_secs(3600));
        let args = super::super::NamenodeArgs::try_parse_from([
            "granary-namenode",
            "--trash-interval",
            "0s",
            "--trash-checkpoint-interval",
            "5s",
        ])
        .unwrap();
        let config = args.into_config().unwrap();
        assert_eq!(config.trash_interval, Duration::ZERO);
        assert_eq!(config.trash_checkpoint_interval, Duration::from_secs(5));
    }
}
