//! The waits between retries of something that is expected to clear up on its own (busy
//! datanodes, a namenode that has not heard of a block's replicas yet): doubling from a first
//! wait, up to a cap.

use std::time::Duration;

use crate::config::BUSY_BACKOFF_FIRST;

/// A doubling wait.
#[derive(Clone, Debug)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// Waits of `first`, twice that, and so on, none longer than `max`.
    pub fn new(first: Duration, max: Duration) -> Self {
        Backoff {
            next: first.min(max),
            max,
        }
    }

    /// The back-off before busy datanodes are tried again: doubling from
    /// [`BUSY_BACKOFF_FIRST`], uncapped (the retries are counted by `busy_retries`, so five of
    /// them span about 6 s).
    pub fn busy() -> Self {
        Backoff::new(BUSY_BACKOFF_FIRST, Duration::MAX)
    }

    /// The next wait, doubling the one after it.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        wait
    }

    /// Sleeps for the next wait.
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next_wait()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap() {
        let ms = Duration::from_millis;
        let mut backoff = Backoff::new(ms(200), ms(1000));
        let waits: Vec<Duration> = (0..5).map(|_| backoff.next_wait()).collect();
        assert_eq!(waits, [ms(200), ms(400), ms(800), ms(1000), ms(1000)]);
        let mut busy = Backoff::busy();
        let total: Duration = (0..5).map(|_| busy.next_wait()).sum();
        assert_eq!(total, ms(6200));
    }
}
