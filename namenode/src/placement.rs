//! Block placement: which datanodes form a new block's write pipeline.
//!
//! Up to R distinct live nodes, none excluded. The writer's own datanode first when the request
//! comes from a datanode's address (the first copy costs no network); with more than one rack,
//! the second copy on another rack than the first and the third on the second's rack (HDFS's
//! default: survives a rack loss while writing across racks only once); everything else goes
//! to the least used nodes, random among equals so consecutive blocks spread out.

use std::net::IpAddr;

use granary_client::protocol::DatanodeInfo;
use granary_client::DatanodeId;
use rand::seq::SliceRandom;
use rand::Rng;

/// A live datanode as placement sees it.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub info: DatanodeInfo,
    /// Used bytes plus bytes already scheduled onto it since its last heartbeat.
    pub load: u64,
}

/// The pipeline for a new block: up to `replication` distinct candidates, in order.
pub fn choose_pipeline(
    mut pool: Vec<Candidate>,
    replication: usize,
    writer_ip: Option<IpAddr>,
    excluded: &[DatanodeId],
    rng: &mut impl Rng,
) -> Vec<DatanodeInfo> {
    pool.retain(|c| !excluded.contains(&c.info.id));
    // Shuffle, then a stable sort: least used first, random among equals.
    pool.shuffle(rng);
    pool.sort_by_key(|c| c.load);
    let multi_rack = pool.iter().any(|c| c.info.rack != pool[0].info.rack);
    let writer_ip = writer_ip.map(|ip| ip.to_canonical());

    let mut chosen: Vec<DatanodeInfo> = Vec::with_capacity(replication.min(pool.len()));
    while chosen.len() < replication && !pool.is_empty() {
        let preferred = match chosen.len() {
            0 => {
                writer_ip.and_then(|ip| take(&mut pool, |c| c.info.addr.ip().to_canonical() == ip))
            }
            1 if multi_rack => take(&mut pool, |c| c.info.rack != chosen[0].rack),
            2 if multi_rack => take(&mut pool, |c| c.info.rack == chosen[1].rack),
            _ => None,
        };
        let next = preferred.unwrap_or_else(|| pool.remove(0));
        chosen.push(next.info);
    }
    chosen
}

/// Targets for new copies of an existing block: up to `count` distinct candidates, least used
/// first. When every existing replica sits on one rack and another rack has a candidate, the
/// first copy goes to that other rack, so the block survives the loss of a rack again.
pub fn choose_copy_targets(
    mut pool: Vec<Candidate>,
    count: usize,
    existing_racks: &[String],
    rng: &mut impl Rng,
) -> Vec<DatanodeInfo> {
    pool.shuffle(rng);
    pool.sort_by_key(|c| c.load);
    let mut chosen = Vec::with_capacity(count.min(pool.len()));
    let one_rack = existing_racks
        .first()
        .filter(|r| existing_racks.iter().all(|x| x == *r));
    if let Some(rack) = one_rack.filter(|_| count > 0) {
        if let Some(other) = take(&mut pool, |c| c.info.rack != *rack) {
            chosen.push(other.info);
        }
    }
    while chosen.len() < count && !pool.is_empty() {
        chosen.push(pool.remove(0).info);
    }
    chosen
}

/// Orders a block's replica locations for a reader: its own datanode first (same IP), then
/// the rest in random order so that reads spread over the cluster.
pub fn order_for_reader(
    locations: &mut [DatanodeInfo],
    reader_ip: Option<IpAddr>,
    rng: &mut impl Rng,
) {
    locations.shuffle(rng);
    if let Some(ip) = reader_ip.map(|ip| ip.to_canonical()) {
        locations.sort_by_key(|d| d.addr.ip().to_canonical() != ip);
    }
}

/// Removes and returns the first (least used) candidate matching `wanted`.
fn take(pool: &mut Vec<Candidate>, wanted: impl Fn(&Candidate) -> bool) -> Option<Candidate> {
    let index = pool.iter().position(wanted)?;
    Some(pool.remove(index))
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    fn node(id: &str, ip: [u8; 4], rack: &str, load: u64) -> Candidate {
        let info = DatanodeInfo {
            id: DatanodeId(id.into()),
            addr: (ip, 9866).into(),
            rack: rack.into(),
        };
        Candidate { info, load }
    }

    fn ids(pipeline: &[DatanodeInfo]) -> Vec<&str> {
        pipeline.iter().map(|d| d.id.as_str()).collect()
    }

    fn one_rack(n: usize) -> Vec<Candidate> {
        (0..n)
            .map(|i| node(&format!("dn{i}"), [10, 0, 0, i as u8 + 1], "/r1", 0))
            .collect()
    }

    #[test]
    fn picks_distinct_nodes_and_at_most_replication() {
        let mut rng = StdRng::seed_from_u64(1);
        for r in 1..=6 {
            let pipeline = choose_pipeline(one_rack(5), r, None, &[], &mut rng);
            assert_eq!(pipeline.len(), r.min(5));
            let distinct: HashSet<_> = pipeline.iter().map(|d| &d.id).collect();
            assert_eq!(distinct.len(), pipeline.len());
        }
        assert!(choose_pipeline(Vec::new(), 3, None, &[], &mut rng).is_empty());
    }

    #[test]
    fn writer_local_node_comes_first() {
        let mut rng = StdRng::seed_from_u64(2);
        let mut pool = one_rack(4);
        pool[2].load = 1 << 40;
        let writer = Some(IpAddr::from([10, 0, 0, 3]));
        for _ in 0..20 {
            let pipeline = choose_pipeline(pool.clone(), 3, writer, &[], &mut rng);
            assert_eq!(pipeline[0].id.as_str(), "dn2");
        }
        let mapped: IpAddr = "::ffff:10.0.0.3".parse().unwrap();
        assert_eq!(
            choose_pipeline(pool, 1, Some(mapped), &[], &mut rng)[0]
                .id
                .as_str(),
            "dn2"
        );
    }

    #[test]
    fn second_replica_leaves_the_rack_and_third_joins_it() {
        let mut rng = StdRng::seed_from_u64(3);
        let pool = vec![
            node("a1", [10, 0, 1, 1], "/a", 0),
            node("a2", [10, 0, 1, 2], "/a", 0),
            node("b1", [10, 0, 2, 1], "/b", 0),
            node("b2", [10, 0, 2, 2], "/b", 0),
            node("c1", [10, 0, 3, 1], "/c", 0),
            node("c2", [10, 0, 3, 2], "/c", 0),
        ];
        for _ in 0..50 {
            let pipeline = choose_pipeline(
                pool.clone(),
                3,
                Some(IpAddr::from([10, 0, 1, 2])),
                &[],
                &mut rng,
            );
            assert_eq!(pipeline[0].id.as_str(), "a2");
            assert_ne!(pipeline[1].rack, "/a");
            assert_eq!(pipeline[2].rack, pipeline[1].rack);
        }
        // No room left on the second's rack: the third goes anywhere else.
        let pool = vec![
            node("a1", [10, 0, 1, 1], "/a", 0),
            node("a2", [10, 0, 1, 2], "/a", 0),
            node("b1", [10, 0, 2, 1], "/b", 9),
        ];
        let pipeline = choose_pipeline(pool, 3, None, &[], &mut rng);
        assert_eq!(pipeline[1].id.as_str(), "b1");
        assert_eq!(pipeline.len(), 3);
    }

    #[test]
    fn least_used_first_with_random_ties() {
        let mut rng = StdRng::seed_from_u64(4);
        let mut pool = one_rack(4);
        pool[0].load = 500;
        pool[1].load = 100;
        pool[2].load = 300;
        pool[3].load = 100;
        let mut firsts = HashMap::new();
        for _ in 0..200 {
            let pipeline = choose_pipeline(pool.clone(), 3, None, &[], &mut rng);
            let mut got = ids(&pipeline)[..2].to_vec();
            got.sort();
            assert_eq!(got, vec!["dn1", "dn3"]);
            assert_eq!(pipeline[2].id.as_str(), "dn2");
            *firsts.entry(pipeline[0].id.clone()).or_insert(0) += 1;
        }
        assert_eq!(
            firsts.len(),
            2,
            "ties should be broken randomly: {firsts:?}"
        );
    }

    #[test]
    fn excluded_nodes_are_never_chosen() {
        let mut rng = StdRng::seed_from_u64(5);
        let excluded = vec![DatanodeId("dn0".into()), DatanodeId("dn3".into())];
        for _ in 0..20 {
            let pipeline = choose_pipeline(
                one_rack(4),
                3,
                Some(IpAddr::from([10, 0, 0, 1])),
                &excluded,
                &mut rng,
            );
            let mut got = ids(&pipeline);
            got.sort();
            assert_eq!(got, vec!["dn1", "dn2"]);
        }
    }

    #[test]
    fn reader_local_replica_first() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut locations: Vec<DatanodeInfo> = one_rack(4).into_iter().map(|c| c.info).collect();
        let mut firsts = HashSet::new();
        for _ in 0..50 {
            order_for_reader(&mut locations, Some(IpAddr::from([10, 0, 0, 4])), &mut rng);
            assert_eq!(locations[0].id.as_str(), "dn3");
            order_for_reader(&mut locations, None, &mut rng);
            firsts.insert(locations[0].id.clone());
        }
        assert!(firsts.len() > 1, "reads should spread over replicas");
    }

    #[test]
    fn copies_leave_a_single_rack_and_prefer_the_least_used() {
        let mut rng = StdRng::seed_from_u64(8);
        let pool = vec![
            node("a1", [10, 0, 1, 1], "/a", 0),
            node("a2", [10, 0, 1, 2], "/a", 0),
            node("b1", [10, 0, 2, 1], "/b", 900),
        ];
        for _ in 0..20 {
            let targets = choose_copy_targets(pool.clone(), 1, &["/a".to_string()], &mut rng);
            assert_eq!(ids(&targets), vec!["b1"]);
            let spread = ["/a".to_string(), "/b".to_string()];
            let targets = choose_copy_targets(pool.clone(), 2, &spread, &mut rng);
            let mut got = ids(&targets);
            got.sort();
            assert_eq!(got, vec!["a1", "a2"], "least used when racks are covered");
        }
        assert!(choose_copy_targets(pool, 0, &[], &mut rng).is_empty());
    }

    #[test]
    fn fewer_nodes_than_replication_returns_what_there_is() {
        let mut rng = StdRng::seed_from_u64(6);
        let pipeline = choose_pipeline(one_rack(2), 3, None, &[], &mut rng);
        assert_eq!(pipeline.len(), 2);
        let two_racks = vec![
            node("a", [10, 0, 0, 1], "/a", 0),
            node("b", [10, 0, 0, 2], "/b", 0),
        ];
        let pipeline = choose_pipeline(two_racks, 3, None, &[], &mut rng);
        assert_eq!(pipeline.len(), 2);
        assert_ne!(pipeline[0].rack, pipeline[1].rack);
    }
}
