//! Pacing for the loops that talk to the namenode: exponential backoff between retries, and
//! warnings about an unreachable namenode that do not flood the log.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

/// Exponential backoff between `initial` and `max`.
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            current: initial,
        }
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.current;
        self.current = (self.current * 2).min(self.max);
        delay
    }

    pub(crate) fn reset(&mut self) {
        self.current = self.initial;
    }
}

/// Logs a recurring warning at most once per period, counting the ones it held back.
pub(crate) struct LogThrottle {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl LogThrottle {
    pub(crate) fn new(every: Duration) -> Self {
        LogThrottle {
            every,
            last: None,
            suppressed: 0,
        }
    }

    pub(crate) fn warn(&mut self, message: fmt::Arguments<'_>) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < self.every)
        {
            self.suppressed += 1;
            return;
        }
        if self.suppressed > 0 {
            tracing::warn!(
                "{message} ({} similar warnings suppressed)",
                self.suppressed
            );
        } else {
            tracing::warn!("{message}");
        }
        self.last = Some(now);
        self.suppressed = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_ceiling_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(2));
        let delays: Vec<_> = (0..6).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [200, 400, 800, 1600, 2000, 2000]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(200));
    }
}
