//! Safe mode: the namespace is read-only and no replica is copied or deleted. The namenode
//! starts in it whenever the namespace holds blocks of complete files, because until the
//! datanodes have reported, every block looks missing and the replication monitor would
//! "heal" healthy blocks and delete replicas it merely has not heard of yet. It leaves by
//! itself once `safemode_threshold` of those blocks have a reported replica. An operator can
//! also enter it (it then stays until they leave it) or leave it early.

use granary_client::protocol::SafeModeStatus;
use granary_client::{Error, ErrorKind};

#[derive(Debug)]
pub struct SafeMode {
    threshold: f64,
    /// Entered by an operator: only an operator leaves it.
    manual: bool,
    /// Start-up safe mode, until the threshold is reached.
    automatic: bool,
}

impl SafeMode {
    /// The state at start-up, before any block report.
    pub fn at_startup(threshold: f64, reported: u64, total: u64) -> Self {
        let automatic = !reached(threshold, reported, total);
        if automatic {
            tracing::info!(
                blocks = total,
                threshold,
                "in safe mode until enough blocks are reported"
            );
        }
        SafeMode {
            threshold,
            manual: false,
            automatic,
        }
    }

    pub fn is_on(&self) -> bool {
        self.manual || self.automatic
    }

    /// Leaves start-up safe mode once the threshold is reached; true when this turned safe
    /// mode off.
    pub fn update(&mut self, reported: u64, total: u64) -> bool {
        if !self.automatic || !reached(self.threshold, reported, total) {
            return false;
        }
        self.automatic = false;
        if self.manual {
            tracing::info!(
                reported,
                total,
                "block threshold reached; safe mode stays on (entered by an operator)"
            );
            return false;
        }
        tracing::info!(
            reported,
            total,
            "block threshold reached; leaving safe mode"
        );
        true
    }

    pub fn enter(&mut self) {
        if !self.manual {
            tracing::warn!("safe mode entered by an operator");
        }
        self.manual = true;
    }

    /// Leaves safe mode, manual or automatic; true if it was on.
    pub fn leave(&mut self) -> bool {
        let was_on = self.is_on();
        if was_on {
            tracing::warn!("safe mode left by an operator");
        }
        self.manual = false;
        self.automatic = false;
        was_on
    }

    /// `SafeMode` error while on, for every namespace change.
    pub fn check_writable(&self, reported: u64, total: u64) -> Result<(), Error> {
        if self.is_on() {
            let message = self.message(reported, total);
            return Err(Error::new(ErrorKind::SafeMode, message));
        }
        Ok(())
    }

    pub fn status(&self, reported: u64, total: u64) -> SafeModeStatus {
        SafeModeStatus {
            on: self.is_on(),
            manual: self.manual,
            reported_blocks: reported,
            total_blocks: total,
            threshold: self.threshold,
            message: self.message(reported, total),
        }
    }

    fn message(&self, reported: u64, total: u64) -> String {
        let leave = "`granary admin safemode leave`";
        if self.manual {
            format!(
                "the namenode is in safe mode (entered by an operator; {reported} of {total} \
                 blocks reported); writes are refused until {leave}"
            )
        } else if self.automatic {
            format!(
                "the namenode is in safe mode ({reported} of {total} blocks reported, need {}%); \
                 writes are refused until then or {leave}",
                // Rounded, so 0.999 prints as 99.9 rather than 99.89999999999999.
                (self.threshold * 100_000.0).round() / 1000.0
            )
        } else {
            format!("safe mode is off ({reported} of {total} blocks reported)")
        }
    }
}

/// Whether `reported` of `total` blocks meets the threshold (always, with no blocks).
fn reached(threshold: f64, reported: u64, total: u64) -> bool {
    total == 0 || reported as f64 >= threshold * total as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_safe_mode_ends_at_the_threshold() {
        assert!(
            !SafeMode::at_startup(0.999, 0, 0).is_on(),
            "no blocks, no safe mode"
        );
        assert!(
            !SafeMode::at_startup(0.0, 0, 10).is_on(),
            "threshold 0 disables it"
        );
        let mut mode = SafeMode::at_startup(0.999, 0, 1240);
        assert!(mode.is_on());
        let err = mode.check_writable(1234, 1240).unwrap_err();
        assert_eq!(err.kind, ErrorKind::SafeMode);
        assert!(
            err.message
                .contains("1234 of 1240 blocks reported, need 99.9%"),
            "{}",
            err.message
        );
        assert!(err.message.contains("granary admin safemode leave"));
        assert!(!mode.update(1238, 1240));
        assert!(mode.update(1239, 1240));
        assert!(!mode.is_on());
        assert!(mode.check_writable(0, 1240).is_ok());
        assert!(!mode.update(0, 1240), "never re-entered by itself");
    }

    #[test]
    fn manual_safe_mode_stays_until_left() {
        let mut mode = SafeMode::at_startup(0.5, 0, 4);
        mode.enter();
        assert!(
            !mode.update(4, 4),
            "threshold reached, but an operator entered it"
        );
        assert!(mode.is_on());
        let status = mode.status(4, 4);
        assert!(status.on && status.manual);
        assert_eq!((status.reported_blocks, status.total_blocks), (4, 4));
        assert!(mode.leave());
        assert!(!mode.is_on());
        assert!(!mode.leave());
        assert!(!mode.status(4, 4).on);

        let mut early = SafeMode::at_startup(0.999, 0, 4);
        assert!(
            early.leave(),
            "an operator may leave start-up safe mode early"
        );
        assert!(!early.update(0, 4));
        assert!(!early.is_on());
    }
}
