//! Which replicas to delete when a block has more than it should: never below the
//! replication; from racks that hold more than one replica first, so the survivors stay
//! spread over racks; among those, the fullest node (highest used/capacity) first.

use granary_client::DatanodeId;

/// A live replica that may be trimmed.
#[derive(Clone, Debug)]
pub struct Holder {
    pub id: DatanodeId,
    pub rack: String,
    pub fullness: f64,
}

/// The holders to delete so that `keep` remain.
pub fn choose_excess(mut holders: Vec<Holder>, keep: usize) -> Vec<DatanodeId> {
    let mut victims = Vec::new();
    while holders.len() > keep.max(1) {
        let shared_rack = |h: &Holder| holders.iter().filter(|o| o.rack == h.rack).count() > 1;
        let racks_differ = holders.iter().any(|h| h.rack != holders[0].rack);
        let crowded: Vec<usize> = (0..holders.len())
            .filter(|&i| !racks_differ || shared_rack(&holders[i]))
            .collect();
        let pool = if crowded.is_empty() {
            (0..holders.len()).collect()
        } else {
            crowded
        };
        let fullest = pool.into_iter().max_by(|&a, &b| {
            let (a, b) = (&holders[a], &holders[b]);
            a.fullness
                .total_cmp(&b.fullness)
                .then_with(|| a.id.cmp(&b.id))
        });
        let Some(index) = fullest else { break };
        victims.push(holders.remove(index).id);
    }
    victims
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(id: &str, rack: &str, fullness: f64) -> Holder {
        Holder {
            id: DatanodeId(id.into()),
            rack: rack.into(),
            fullness,
        }
    }

    #[test]
    fn the_fullest_go_first_and_never_below_keep() {
        let holders = vec![
            holder("a", "/r", 0.2),
            holder("b", "/r", 0.9),
            holder("c", "/r", 0.5),
            holder("d", "/r", 0.1),
        ];
        let victims = choose_excess(holders.clone(), 2);
        assert_eq!(
            victims,
            vec![DatanodeId("b".into()), DatanodeId("c".into())]
        );
        assert!(choose_excess(holders.clone(), 4).is_empty());
        assert_eq!(
            choose_excess(holders, 0).len(),
            3,
            "the last replica is never trimmed"
        );
    }

    #[test]
    fn replicas_stay_spread_over_racks() {
        let holders = vec![
            holder("a1", "/a", 0.1),
            holder("a2", "/a", 0.2),
            holder("b1", "/b", 0.99),
        ];
        // b1 is the fullest but the only replica on its rack.
        assert_eq!(choose_excess(holders, 2), vec![DatanodeId("a2".into())]);
    }
}
