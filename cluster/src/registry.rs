//! The registry of live nodes: each node writes its description under a key that expires
//! unless the next heartbeat renews it, so a node that stops (killed, paused, cut off) drops
//! out of every listing within one expiry.

use crate::{ClusterError, Keys, NodeId, RedisLink};
use redis::Script;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;
use std::time::Duration;

/// What a node tells the others about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Its name in the cluster.
    pub id: NodeId,
    /// Where its HTTP and WebSocket listener is reached by other nodes and the balancer.
    pub http: String,
    /// The address its SFU announces to clients (`media.announce`).
    pub media: String,
    /// How busy it is: the schools it holds, or a number it reports; lower is freer.
    /// New schools go to the node with the least.
    pub load: u32,
    /// The schools it holds, which fair shares are counted in.
    pub schools: u32,
}

/// Writes the node's description with an expiry and adds its id to the set of nodes.
static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return 1
",
    )
});

/// The live nodes of one cluster.
#[derive(Clone, Debug)]
pub struct Registry {
    /// The connection to Redis.
    link: RedisLink,
    /// Where the registry lives.
    keys: Keys,
}

impl Registry {
    pub fn new(link: RedisLink, keys: Keys) -> Registry {
        Registry { link, keys }
    }

    /// Registers or refreshes `node`, alive for `ttl` unless refreshed again.
    pub async fn heartbeat(&self, node: &NodeInfo, ttl: Duration) -> Result<(), ClusterError> {
        let json = serde_json::to_string(node).map_err(|e| ClusterError::Malformed {
            what: "node description",
            reason: e.to_string(),
        })?;
        let mut call = HEARTBEAT.prepare_invoke();
        call.key(self.keys.node(&node.id))
            .key(self.keys.nodes())
            .arg(json)
            .arg(millis(ttl))
            .arg(&node.id.0);
        let _: i64 = self.link.invoke(&call).await?;
        Ok(())
    }

    /// Every node whose registration has not expired, by id.
    pub async fn live(&self) -> Result<Vec<NodeInfo>, ClusterError> {
        let ids: Vec<String> = self
            .link
            .query(redis::cmd("SMEMBERS").arg(self.keys.nodes()))
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut mget = redis::cmd("MGET");
        for id in &ids {
            mget.arg(self.keys.node(&NodeId(id.clone())));
        }
        let values: Vec<Option<String>> = self.link.query(&mget).await?;
        let mut live = Vec::new();
        let mut dead = Vec::new();
        for (id, value) in ids.into_iter().zip(values) {
            match value {
                Some(json) => live.push(serde_json::from_str::<NodeInfo>(&json).map_err(|e| {
                    ClusterError::Malformed {
                        what: "node description",
                        reason: e.to_string(),
                    }
                })?),
                None => dead.push(id),
            }
        }
        if !dead.is_empty() {
            // A node that heartbeats again between the MGET and here re-adds itself next beat.
            let _: i64 = self
                .link
                .query(redis::cmd("SREM").arg(self.keys.nodes()).arg(&dead))
                .await?;
        }
        live.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(live)
    }

    /// Removes `node` at once, as a node leaving on purpose does.
    pub async fn deregister(&self, node: &NodeId) -> Result<(), ClusterError> {
        let _: i64 = self
            .link
            .query(redis::cmd("DEL").arg(self.keys.node(node)))
            .await?;
        let _: i64 = self
            .link
            .query(redis::cmd("SREM").arg(self.keys.nodes()).arg(&node.0))
            .await?;
        Ok(())
    }
}

/// A duration as whole milliseconds for `PX`, at least 1.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}
