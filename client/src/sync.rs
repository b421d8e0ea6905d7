//! Taking a lock. A lock whose holder panicked may guard a half-applied change (a namespace
//! edit staged but not its block, a tracker transition half made), and going on would serve or
//! persist that state. Every Granary lock is therefore taken through [`lock`], which stops the
//! process instead: a daemon restarts from its durable state (journal, history, block store),
//! which holds only complete changes.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, named `what` in the message; aborts the process if a holder panicked.
pub fn lock<'a, T>(mutex: &'a Mutex<T>, what: &str) -> MutexGuard<'a, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(_) => poisoned(what),
    }
}

#[cold]
fn poisoned(what: &str) -> ! {
    let message = format!(
        "the {what} lock is poisoned: a thread panicked while holding it, so its state may be \
         half-changed; stopping (restart to recover from durable state)"
    );
    tracing::error!("{message}");
    eprintln!("{message}");
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unpoisoned_lock_is_taken() {
        let m = Mutex::new(1);
        *lock(&m, "test") += 1;
        assert_eq!(*lock(&m, "test"), 2);
    }
}
