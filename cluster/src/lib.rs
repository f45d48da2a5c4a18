//! Konsult's nodes over Redis: which nodes are alive, which node owns each school and under
//! which epoch, how schools move when a node joins, leaves or dies, and the bus that carries
//! bytes between nodes.
//!
//! The pattern is LiveKit's: a school lives on one node, as a room does there; any node holds
//! any client's WebSocket and bridges its frames to the school's node over the [`Bus`]. A
//! school's owner holds a lease in Redis whose epoch only grows; every write it makes for the
//! school carries that epoch as a fencing token ([`Fence`]), so a node that was paused past its
//! lease and wakes cannot act for a school that has moved on. See docs/cluster.md.
//!
//! Code map:
//! - [`redis_link`]: one reconnecting connection to Redis, with a deadline on every reply.
//! - [`keys`]: the names of every key and channel, under one prefix.
//! - [`registry`]: live nodes, each under a key that expires unless its heartbeat renews it.
//! - [`lease`]: school leases and epochs, fences, and writes refused to a stale epoch.
//! - [`placement`]: the set of schools, where a new one goes, each node's fair share.
//! - [`membership`]: the task that heartbeats, renews, claims and reports gains and losses.
//! - [`bus`]: node-to-node messages with a small routing header.

pub mod bus;
pub mod keys;
pub mod lease;
pub mod membership;
pub mod placement;
pub mod redis_link;
pub mod registry;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

pub use bus::{Bus, BusReceiver, Envelope, Kind, Outgoing};
pub use keys::Keys;
pub use lease::{Acquired, Epoch, Fence, Leases, Owner};
pub use membership::{Claimer, Event, LossReason, Membership};
pub use placement::{Placement, fair_share};
pub use redis_link::RedisLink;
pub use registry::{NodeInfo, Registry};

/// What can go wrong between a node and Redis.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Redis did not answer, refused the command, or the connection broke.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis answered within no deadline.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// A value read from Redis or the bus is not what Konsult writes there.
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
    /// A message was published to a node nobody listens for (it is dead or not yet up).
    #[error("no node listens on the bus as `{0}`")]
    NoListener(NodeId),
    /// The bus's receiving side is gone.
    #[error("the bus is closed")]
    Closed,
}

/// A node's name in the cluster, unique among live nodes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub String);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A school as the cluster names it: its code. Schools are what is sharded across nodes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SchoolId(pub String);

impl fmt::Display for SchoolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How often a node speaks for itself and how long Redis believes it without hearing again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timings {
    /// Period of the heartbeat, of lease renewals and of the sweep for unowned schools.
    pub heartbeat: Duration,
    /// Lifetime of a lease and of a node's registration, renewed every heartbeat.
    pub lease: Duration,
    /// Longest wait for one reply from Redis; a slower reply counts as a failure.
    pub reply_timeout: Duration,
}

impl Timings {
    /// The defaults: heartbeat every second, leases of 5 s, replies within 1 s.
    pub const DEFAULT: Timings = Timings {
        heartbeat: Duration::from_secs(1),
        lease: Duration::from_secs(5),
        reply_timeout: Duration::from_secs(1),
    };

    /// Timings from `bus.heartbeat` and `bus.lease`; replies may take a fifth of the lease,
    /// at most 1 s, which leaves a failed renewal time for the next one.
    pub fn new(heartbeat: Duration, lease: Duration) -> Timings {
        Timings {
            heartbeat,
            lease,
            reply_timeout: (lease / 5).min(Duration::from_secs(1)),
        }
    }

    /// The time a node keeps acting on a lease after the renewal that was sent at `sent`:
    /// the lease less a tenth, as a margin for clocks that run at slightly different rates.
    /// Redis started counting the lease no earlier than `sent`, so the node stops first.
    pub fn local_validity(&self) -> Duration {
        self.lease - self.lease / 10
    }
}

impl Default for Timings {
    fn default() -> Timings {
        Timings::DEFAULT
    }
}

/// The node id used when `bus.node_id` is empty: the host name and the listen port, such as
/// `school-srv-1:8080`, or a random name where the host name cannot be read.
pub fn default_node_id(port: u16) -> NodeId {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .take(48)
        .collect();
    if host.is_empty() {
        let random: u64 = rand::random();
        return NodeId(format!("node-{random:016x}:{port}"));
    }
    NodeId(format!("{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_from_the_config_keep_replies_within_the_lease() {
        let defaults = Timings::new(Duration::from_secs(1), Duration::from_secs(5));
        assert_eq!(defaults, Timings::DEFAULT);
        let quick = Timings::new(Duration::from_millis(100), Duration::from_millis(300));
        assert_eq!(quick.reply_timeout, Duration::from_millis(60));
        assert_eq!(quick.local_validity(), Duration::from_millis(270));
    }

    #[test]
    fn the_default_node_id_names_the_port_and_fits_the_config_rules() {
        let id = default_node_id(8080);
        assert!(id.0.ends_with(":8080"), "{id}");
        assert!(id.0.len() > ":8080".len(), "{id}");
        assert!(id.0.len() <= 64, "{id}");
        assert!(
            id.0.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)),
            "{id}"
        );
    }
}
