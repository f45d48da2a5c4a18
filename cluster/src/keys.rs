//! The names of everything Konsult keeps in Redis, under one prefix so that several
//! clusters (or tests) share a Redis without meeting.

use crate::{NodeId, SchoolId};

/// Key and channel names under one prefix, such as `konsult:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    /// Put before every key and channel.
    prefix: String,
}

impl Keys {
    /// Names under `prefix`, which is used as given (end it with `:`).
    pub fn new(prefix: impl Into<String>) -> Keys {
        Keys {
            prefix: prefix.into(),
        }
    }

    /// The prefix every name starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A set of the ids of nodes that have registered; the dead are pruned when listed.
    pub fn nodes(&self) -> String {
        format!("{}nodes", self.prefix)
    }

    /// A node's registration (JSON [`crate::NodeInfo`]), expiring unless heartbeats renew it.
    pub fn node(&self, node: &NodeId) -> String {
        format!("{}node:{}", self.prefix, node.0)
    }

    /// The set of every school the cluster serves.
    pub fn schools(&self) -> String {
        format!("{}schools", self.prefix)
    }

    /// A school's lease: `"<epoch> <node>"`, expiring unless its holder renews it.
    pub fn lease(&self, school: &SchoolId) -> String {
        format!("{}lease:{}", self.prefix, school.0)
    }

    /// A school's epoch counter, incremented for every new owner; it never expires.
    pub fn epoch(&self, school: &SchoolId) -> String {
        format!("{}epoch:{}", self.prefix, school.0)
    }

    /// The node chosen for a school that is not yet owned, for a short while.
    pub fn placement(&self, school: &SchoolId) -> String {
        format!("{}place:{}", self.prefix, school.0)
    }

    /// The pub/sub channel a node receives its bus messages on.
    pub fn bus(&self, node: &NodeId) -> String {
        format!("{}bus:{}", self.prefix, node.0)
    }
}
