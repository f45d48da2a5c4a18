//! Where schools go: the set of schools the cluster serves, the node a new school is given
//! to (the least loaded live one), and the fair share a node may hold when it claims schools
//! left without an owner.

use crate::registry::millis;
use crate::{ClusterError, Keys, NodeId, NodeInfo, RedisLink, Registry, SchoolId};
use std::time::Duration;

/// The most schools one of `nodes` live nodes should hold of `schools`: the count rounded up
/// so that the shares cover every school.
pub fn fair_share(schools: usize, nodes: usize) -> usize {
    schools.div_ceil(nodes.max(1))
}

/// The live node with the least load, then the fewest schools, then the smallest id.
pub fn least_loaded(nodes: &[NodeInfo]) -> Option<&NodeInfo> {
    nodes
        .iter()
        .min_by(|a, b| (a.load, a.schools, &a.id).cmp(&(b.load, b.schools, &b.id)))
}

/// The schools of one cluster and the placement of new ones.
#[derive(Clone, Debug)]
pub struct Placement {
    /// The connection to Redis.
    link: RedisLink,
    /// Where schools and placements live.
    keys: Keys,
    /// Live nodes and their loads.
    registry: Registry,
    /// How long a placement waits for its node to claim the school; after it, any node may.
    hold: Duration,
}

impl Placement {
    /// Placements last `hold`: a few heartbeats, so a node that dies before claiming its new
    /// school does not keep it unowned for long.
    pub fn new(link: RedisLink, keys: Keys, registry: Registry, hold: Duration) -> Placement {
        Placement {
            link,
            keys,
            registry,
            hold,
        }
    }

    /// Every school the cluster serves, by id.
    pub async fn schools(&self) -> Result<Vec<SchoolId>, ClusterError> {
        let mut ids: Vec<String> = self
            .link
            .query(redis::cmd("SMEMBERS").arg(self.keys.schools()))
            .await?;
        ids.sort();
        Ok(ids.into_iter().map(SchoolId).collect())
    }

    /// Adds `school` to the cluster and gives it to the least loaded live node, which claims
    /// it on its next sweep; returns that node. `None` when no node is alive: the first node
    /// to sweep takes it.
    pub async fn place(&self, school: &SchoolId) -> Result<Option<NodeId>, ClusterError> {
        let nodes = self.registry.live().await?;
        let chosen = least_loaded(&nodes).map(|n| n.id.clone());
        if let Some(node) = &chosen {
            let _: () = self
                .link
                .query(
                    redis::cmd("SET")
                        .arg(self.keys.placement(school))
                        .arg(&node.0)
                        .arg("PX")
                        .arg(millis(self.hold)),
                )
                .await?;
        }
        let _: i64 = self
            .link
            .query(redis::cmd("SADD").arg(self.keys.schools()).arg(&school.0))
            .await?;
        Ok(chosen)
    }

    /// Takes `school` out of the cluster; its lease, if held, is left to its holder.
    pub async fn remove(&self, school: &SchoolId) -> Result<(), ClusterError> {
        let _: i64 = self
            .link
            .query(redis::cmd("SREM").arg(self.keys.schools()).arg(&school.0))
            .await?;
        Ok(())
    }

    /// The node each of `schools` was recently given to, if any, in one round trip.
    pub async fn placements(
        &self,
        schools: &[SchoolId],
    ) -> Result<Vec<Option<NodeId>>, ClusterError> {
        if schools.is_empty() {
            return Ok(Vec::new());
        }
        let mut mget = redis::cmd("MGET");
        for school in schools {
            mget.arg(self.keys.placement(school));
        }
        let values: Vec<Option<String>> = self.link.query(&mget).await?;
        Ok(values.into_iter().map(|v| v.map(NodeId)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, load: u32) -> NodeInfo {
        NodeInfo {
            id: NodeId(id.into()),
            http: String::new(),
            media: String::new(),
            load,
            schools: load,
        }
    }

    #[test]
    fn fair_shares_cover_every_school() {
        assert_eq!(fair_share(30, 3), 10);
        assert_eq!(fair_share(31, 3), 11);
        assert_eq!(fair_share(30, 2), 15);
        assert_eq!(fair_share(5, 0), 5);
        assert_eq!(fair_share(0, 3), 0);
    }

    #[test]
    fn the_least_loaded_node_wins_and_ties_go_to_the_smallest_id() {
        let nodes = [node("c", 2), node("b", 1), node("a", 1), node("d", 5)];
        assert_eq!(least_loaded(&nodes).map(|n| n.id.0.as_str()), Some("a"));
        assert!(least_loaded(&[]).is_none());
    }
}
