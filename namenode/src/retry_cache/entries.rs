//! The retry cache in memory: every cached answer younger than the TTL, up to a capacity
//! beyond which the oldest go first (as HDFS bounds its retry cache by a share of the heap).
//! A lookup is one hash probe; nothing here touches the disk.

use std::collections::{HashMap, VecDeque};

use super::{created_ms, RetryKey};

#[derive(Debug)]
pub struct RetryEntries {
    answers: HashMap<RetryKey, Box<[u8]>>,
    /// Keys in the order they were added, with their creation time: expiry and eviction
    /// take from the front. A key added again leaves a stale pair behind, skipped later.
    order: VecDeque<(u64, RetryKey)>,
    capacity: usize,
    /// Entries dropped for room before their TTL ran out.
    evicted: u64,
}

impl RetryEntries {
    pub fn new(capacity: usize) -> Self {
        RetryEntries {
            answers: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            evicted: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.answers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }

    /// Entries evicted for room since start-up.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Adds (or replaces) an answer, evicting the oldest while over capacity.
    pub fn insert(&mut self, key: RetryKey, value: Box<[u8]>) {
        self.order.push_back((created_ms(&value), key));
        self.answers.insert(key, value);
        while self.answers.len() > self.capacity {
            if self.pop_oldest().is_some() {
                self.evicted += 1;
            }
        }
        if self.order.len() > 2 * self.answers.len() + 1024 {
            self.drop_stale();
        }
    }

    pub fn get(&self, key: &RetryKey) -> Option<&[u8]> {
        self.answers.get(key).map(|v| &v[..])
    }

    /// Removes up to `limit` entries created before `cutoff_ms`; returns how many. Bounded so
    /// a caller holding a lock can release it between rounds.
    pub fn expire(&mut self, cutoff_ms: u64, limit: usize) -> usize {
        let mut removed = 0;
        while removed < limit {
            match self.order.front() {
                Some(&(created, _)) if created < cutoff_ms => {}
                _ => break,
            }
            if self.pop_oldest().is_some() {
                removed += 1;
            }
        }
        removed
    }

    /// Takes the front of `order`; removes its answer unless a later insert replaced it.
    fn pop_oldest(&mut self) -> Option<RetryKey> {
        let (created, key) = self.order.pop_front()?;
        let current = self.answers.get(&key).map(|v| created_ms(v));
        (current == Some(created))
            .then(|| self.answers.remove(&key))
            .flatten()
            .map(|_| key)
    }

    /// Forgets the order pairs of keys that were added again later.
    fn drop_stale(&mut self) {
        let mut seen = std::collections::HashSet::with_capacity(self.answers.len());
        let mut kept: Vec<(u64, RetryKey)> = Vec::with_capacity(self.answers.len());
        for &(created, key) in self.order.iter().rev() {
            let current = self.answers.get(&key).map(|v| created_ms(v));
            if current == Some(created) && seen.insert(key) {
                kept.push((created, key));
            }
        }
        kept.reverse();
        self.order = kept.into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(created: u64, tag: u8) -> Box<[u8]> {
        let mut v = created.to_be_bytes().to_vec();
        v.push(tag);
        v.into()
    }

    fn key(n: u8) -> RetryKey {
        RetryKey([n; 16])
    }

    #[test]
    fn expires_oldest_first_and_keeps_replacements() {
        let mut entries = RetryEntries::new(100);
        entries.insert(key(1), answer(10, 1));
        entries.insert(key(2), answer(20, 2));
        entries.insert(key(1), answer(30, 3));
        assert_eq!(entries.len(), 2);
        // The stale pair of key 1 (created 10) does not take its newer answer with it.
        assert_eq!(entries.expire(25, 10), 1);
        assert_eq!(entries.get(&key(1)), Some(&answer(30, 3)[..]));
        assert!(entries.get(&key(2)).is_none());
        assert_eq!(entries.expire(31, 1), 1);
        assert_eq!(entries.len(), 0);
    }

    #[test]
    fn capacity_evicts_the_oldest() {
        let mut entries = RetryEntries::new(3);
        for n in 0..5 {
            entries.insert(key(n), answer(u64::from(n), n));
        }
        assert_eq!(entries.len(), 3);
        assert_eq!(entries.evicted(), 2);
        assert!(entries.get(&key(1)).is_none());
        assert!(entries.get(&key(2)).is_some());
    }

    #[test]
    fn repeated_keys_do_not_grow_the_order_without_bound() {
        let mut entries = RetryEntries::new(10);
        for i in 0..10_000u64 {
            entries.insert(key(1), answer(i, 0));
        }
        assert_eq!(entries.len(), 1);
        assert!(entries.order.len() <= 2 * entries.len() + 1024);
        assert_eq!(entries.expire(9_999, 100_000), 0);
        assert_eq!(entries.expire(10_000, 100_000), 1);
    }
}
