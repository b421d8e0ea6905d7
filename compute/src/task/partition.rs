//! Which reducer gets a key. Every map of a job must agree, whatever process it runs in, so the
//! hash is FNV-1a (fixed, unseeded) rather than std's randomly seeded one.

use granary_client::protocol::{KeyBytes, Partitioner};

use crate::error::TaskError;

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// 64-bit FNV-1a.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET_BASIS, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

/// A job's partitioner, ready to place keys.
#[derive(Debug)]
pub(crate) enum KeyPartitioner {
    Hash { reducers: u32 },
    Range { boundaries: Vec<Vec<u8>> },
}

impl KeyPartitioner {
    pub(crate) fn new(partitioner: &Partitioner, reducers: u32) -> Result<Self, TaskError> {
        if reducers == 0 {
            return Err(TaskError::Invalid("a partitioner needs reducers".into()));
        }
        match partitioner {
            Partitioner::Hash => Ok(KeyPartitioner::Hash { reducers }),
            Partitioner::Range { boundaries } => {
                if boundaries.len() >= reducers as usize {
                    return Err(TaskError::Invalid(format!(
                        "{} range boundaries for {reducers} reducers",
                        boundaries.len()
                    )));
                }
                if boundaries.windows(2).any(|pair| pair[0] >= pair[1]) {
                    return Err(TaskError::Invalid(
                        "range boundaries are not strictly increasing".into(),
                    ));
                }
                Ok(KeyPartitioner::Range {
                    boundaries: boundaries.iter().map(|b| b.0.clone()).collect(),
                })
            }
        }
    }

    /// The partition of `key`, below the reducer count.
    pub(crate) fn partition(&self, key: &[u8]) -> u32 {
        match self {
            KeyPartitioner::Hash { reducers: 1 } => 0,
            KeyPartitioner::Hash { reducers } => (fnv1a64(key) % u64::from(*reducers)) as u32,
            // Keys below boundaries[0] go to 0; boundaries[i-1] <= key < boundaries[i] to i.
            KeyPartitioner::Range { boundaries } => {
                boundaries.partition_point(|b| b.as_slice() <= key) as u32
            }
        }
    }
}

/// Up to `reducers - 1` strictly increasing cut points at the sample's quantiles. A cut point
/// equal to the smallest sampled key is dropped: it would leave reducer 0 nothing.
pub(crate) fn boundaries_from_sample(mut sample: Vec<Vec<u8>>, reducers: u32) -> Vec<KeyBytes> {
    if reducers < 2 || sample.is_empty() {
        return Vec::new();
    }
    sample.sort_unstable();
    let n = sample.len() as u64;
    let mut boundaries: Vec<KeyBytes> = Vec::new();
    for i in 1..u64::from(reducers) {
        let candidate = &sample[(i * n / u64::from(reducers)) as usize];
        let above_last = match boundaries.last() {
            Some(last) => candidate > &last.0,
            None => candidate > &sample[0],
        };
        if above_last {
            boundaries.push(KeyBytes(candidate.clone()));
        }
    }
    boundaries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn hash_partitions_are_stable_and_in_range() {
        let p = KeyPartitioner::new(&Partitioner::Hash, 7).unwrap();
        assert_eq!(
            p.partition(b"foobar"),
            (0x8594_4171_f739_67e8u64 % 7) as u32
        );
        for key in [&b"a"[..], b"b", b"hello", b""] {
            assert!(p.partition(key) < 7);
        }
    }

    #[test]
    fn range_partitions_follow_the_boundaries() {
        let boundaries = vec![KeyBytes(b"g".to_vec()), KeyBytes(b"p".to_vec())];
        let p = KeyPartitioner::new(&Partitioner::Range { boundaries }, 3).unwrap();
        let cases: [(&[u8], u32); 7] = [
            (b"", 0),
            (b"apple", 0),
            (b"g", 1),
            (b"gz", 1),
            (b"p", 2),
            (b"zebra", 2),
            (&[0xff], 2),
        ];
        for (key, partition) in cases {
            assert_eq!(p.partition(key), partition, "{key:?}");
        }
    }

    #[test]
    fn bad_ranges_are_rejected() {
        let two = vec![KeyBytes(b"a".to_vec()), KeyBytes(b"b".to_vec())];
        assert!(KeyPartitioner::new(&Partitioner::Range { boundaries: two }, 2).is_err());
        let unsorted = vec![KeyBytes(b"b".to_vec()), KeyBytes(b"a".to_vec())];
        assert!(KeyPartitioner::new(
            &Partitioner::Range {
                boundaries: unsorted
            },
            3
        )
        .is_err());
        assert!(KeyPartitioner::new(&Partitioner::Hash, 0).is_err());
    }

    #[test]
    fn boundaries_are_quantiles_of_the_sample() {
        let sample: Vec<Vec<u8>> = (0..100u8).rev().map(|i| vec![i]).collect();
        let cuts = boundaries_from_sample(sample, 4);
        assert_eq!(
            cuts,
            vec![KeyBytes(vec![25]), KeyBytes(vec![50]), KeyBytes(vec![75])]
        );
    }

    #[test]
    fn boundaries_are_strictly_increasing_with_few_distinct_keys() {
        let sample = vec![b"a".to_vec(), b"a".to_vec(), b"a".to_vec(), b"b".to_vec()];
        assert_eq!(
            boundaries_from_sample(sample, 8),
            vec![KeyBytes(b"b".to_vec())]
        );
        assert!(boundaries_from_sample(vec![b"x".to_vec(); 10], 4).is_empty());
        assert!(boundaries_from_sample(Vec::new(), 4).is_empty());
        assert!(boundaries_from_sample(vec![b"x".to_vec()], 1).is_empty());
    }
}
