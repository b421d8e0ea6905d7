//! Which retry-cache keys may exist: a Bloom filter over every entry staged, journaled or in
//! sled. Nearly every call carries a new request id; the filter answers those without a sled
//! lookup. A false positive only costs that lookup. Entries are never removed from a filter;
//! the retry-cache sweep, which reads every entry anyway, builds a fresh one.

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

/// Bits per expected entry: about 1% false positives with `PROBES` probes.
const BITS_PER_ENTRY: usize = 10;
const PROBES: u64 = 7;
/// Entries the smallest filter is sized for (1.25 MB).
pub const MIN_CAPACITY: usize = 1 << 20;

#[derive(Debug)]
pub struct RetryFilter {
    bits: Vec<u64>,
    /// Bit count - 1 (a power of two).
    mask: u64,
    len: usize,
}

impl Default for RetryFilter {
    fn default() -> Self {
        RetryFilter::with_capacity(0)
    }
}

impl RetryFilter {
    /// A filter for about `capacity` entries (at least [`MIN_CAPACITY`]); more still work,
    /// with more false positives.
    pub fn with_capacity(capacity: usize) -> Self {
        let bits = (capacity.max(MIN_CAPACITY) * BITS_PER_ENTRY).next_power_of_two();
        RetryFilter {
            bits: vec![0; bits / 64],
            mask: bits as u64 - 1,
            len: 0,
        }
    }

    /// Entries inserted.
    pub fn inserted(&self) -> usize {
        self.len
    }

    pub fn insert(&mut self, key: &[u8]) {
        self.insert_hash(hash(key));
    }

    pub fn insert_hash(&mut self, hash: u64) {
        for bit in probes(hash, self.mask) {
            self.bits[(bit / 64) as usize] |= 1 << (bit % 64);
        }
        self.len += 1;
    }

    /// False only if `key` was never inserted.
    pub fn may_contain(&self, key: &[u8]) -> bool {
        probes(hash(key), self.mask)
            .all(|bit| self.bits[(bit / 64) as usize] & (1 << (bit % 64)) != 0)
    }
}

/// Double hashing: probe `i` is `h1 + i * h2`.
fn probes(hash: u64, mask: u64) -> impl Iterator<Item = u64> {
    let step = hash.rotate_left(32) | 1;
    (0..PROBES).map(move |i| hash.wrapping_add(i.wrapping_mul(step)) & mask)
}

/// The key's hash, as [`RetryFilter::insert_hash`] takes it (SipHash with fixed keys: request
/// ids are chosen by clients, but a collision only costs a lookup).
pub fn hash(key: &[u8]) -> u64 {
    BuildHasherDefault::<DefaultHasher>::default().hash_one(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserted_keys_are_found_and_few_others() {
        let mut filter = RetryFilter::with_capacity(0);
        for i in 0..100_000 {
            filter.insert(format!("r/in-{i}").as_bytes());
        }
        assert_eq!(filter.inserted(), 100_000);
        assert!((0..100_000).all(|i| filter.may_contain(format!("r/in-{i}").as_bytes())));
        let false_positives = (0..100_000)
            .filter(|i| filter.may_contain(format!("r/out-{i}").as_bytes()))
            .count();
        assert!(false_positives < 100, "{false_positives} false positives");
    }
}
