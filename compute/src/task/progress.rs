//! Progress reports from a running attempt: published, and cancellation checked, every
//! [`CHECK_EVERY`] bytes, so neither costs anything per record.

use super::TaskControl;
use crate::error::TaskError;

const CHECK_EVERY: u64 = 64 << 10;

pub(crate) struct Progress<'a> {
    control: &'a TaskControl,
    total: u64,
    reported: u64,
}

impl<'a> Progress<'a> {
    /// Starts counting towards `total` bytes.
    pub(crate) fn new(control: &'a TaskControl, total: u64) -> Self {
        let total = total.max(1);
        control.set_total(total);
        Progress {
            control,
            total,
            reported: 0,
        }
    }

    /// `done` bytes are behind us. Fails once the attempt is cancelled.
    pub(crate) fn at(&mut self, done: u64) -> Result<(), TaskError> {
        let done = done.min(self.total);
        if done >= self.reported + CHECK_EVERY {
            self.report(done)?;
        }
        Ok(())
    }

    /// All done.
    pub(crate) fn finish(&mut self) -> Result<(), TaskError> {
        self.report(self.total)
    }

    fn report(&mut self, done: u64) -> Result<(), TaskError> {
        self.control.advance(done.saturating_sub(self.reported));
        self.reported = self.reported.max(done);
        self.control.check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_in_steps_and_stops_when_cancelled() {
        let control = TaskControl::default();
        let mut progress = Progress::new(&control, 256 << 10);
        progress.at(1).unwrap();
        assert_eq!(control.progress(), 0.0);
        progress.at(128 << 10).unwrap();
        assert_eq!(control.progress(), 0.5);
        control.cancel();
        assert!(matches!(progress.at(256 << 10), Err(TaskError::Cancelled)));
        assert_eq!(control.progress(), 1.0);
    }
}
