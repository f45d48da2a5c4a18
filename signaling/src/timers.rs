//! The hub's deadlines: a heap of (instant, timer), validated lazily when they fire, so that
//! cancelling a deadline costs nothing.

use konsult_protocol::{RequestId, SessionId, UserId};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// A deadline the hub set.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    /// An offer to a teacher expires.
    Offer(RequestId, UserId),
    /// A queued request reaches the wait limit.
    WaitLimit(RequestId),
    /// A user's grace period after their last connection dropped.
    Grace(UserId),
    /// An individual session's peer-to-peer path must have connected by now.
    P2p(SessionId),
    /// A subject's queue snapshot may be pushed to its staff again.
    QueueBroadcast(String),
    /// Held-back `queue_position`s of a subject may be sent.
    Positions(String),
    /// A large session's throttled snapshot is due.
    Snapshot(SessionId),
    /// One of a staff member's consultation hours may begin.
    Hours(UserId),
    /// A staff member's booked slot beginning at this time (ms since the Unix epoch) begins.
    BookedSlot(UserId, i64),
    /// The booked slot of this session ends.
    BookedSlotEnd(SessionId),
    /// A session's poll counts may be sent again.
    PollCounts(SessionId),
}

/// Deadlines in time order.
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, Timer)>>,
}

impl Timers {
    pub fn set(&mut self, at: Instant, timer: Timer) {
        self.heap.push(Reverse((at, timer)));
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Every deadline, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = &(Instant, Timer)> + '_ {
        self.heap.iter().map(|Reverse(entry)| entry)
    }

    /// Removes and returns a deadline that has passed.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, Timer)> {
        if self.next()? <= now {
            self.heap.pop().map(|Reverse(entry)| entry)
        } else {
            None
        }
    }
}
