//! The hub's limits and deadlines, and the ids it starts from.

use std::time::Duration;

/// The hub's limits and deadlines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubConfig {
    /// How long a teacher has to accept an offer.
    pub offer_timeout: Duration,
    /// How long a request may wait in a queue before it is deferred.
    pub max_wait: Duration,
    /// How long a dropped user keeps their queue place, and a dropped host the session.
    pub grace: Duration,
    /// How long an individual session may take to connect peer to peer.
    pub p2p_timeout: Duration,
    /// Most members (host included) of one session.
    pub session_members: usize,
    /// Least time between two queue snapshots pushed to a subject's staff.
    pub queue_push_interval: Duration,
    /// How often students further back than [`HubConfig::immediate_positions`] hear that
    /// their place changed (the latest place, once per interval).
    pub position_interval: Duration,
    /// Places at the head of a queue that hear every change at once.
    pub immediate_positions: u32,
}

impl Default for HubConfig {
    fn default() -> HubConfig {
        HubConfig {
            offer_timeout: Duration::from_secs(30),
            max_wait: Duration::from_secs(600),
            grace: Duration::from_secs(60),
            p2p_timeout: Duration::from_secs(15),
            session_members: 1_000,
            queue_push_interval: Duration::from_secs(1),
            position_interval: Duration::from_secs(1),
            immediate_positions: 10,
        }
    }
}

/// The first ids to hand out, so that ids stay unique across restarts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdSeeds {
    pub next_request: i64,
    pub next_session: i64,
}
