//! Booked slots of staff members' consultation hours: those ahead, waiting for their start, and
//! those under way, each with its session. It owns when a booked slot begins and ends; opening
//! and ending the session is `Sessions`', and the hub does the step between the two.

use crate::ctx::Ctx;
use crate::io::BookedSlot;
use crate::timers::Timer;
use konsult_protocol::{SessionId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Every booked slot the hub knows of that has not ended.
#[derive(Debug, Default)]
pub(crate) struct Bookings {
    /// Each staff member's booked slots that have not begun, by start (ms since the epoch).
    ahead: BTreeMap<UserId, BTreeMap<i64, BookedSlot>>,
    /// Booked slots under way, by their session.
    live: BTreeMap<SessionId, LiveSlot>,
}

/// A booked slot under way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LiveSlot {
    pub teacher: UserId,
    pub starts_ms: i64,
    pub ends_ms: i64,
}

/// The bookings' section of a hub snapshot.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct BookingsState {
    ahead: Vec<(UserId, BookedSlot)>,
    live: Vec<(SessionId, LiveSlot)>,
}

impl Bookings {
    /// Replaces a staff member's booked slots with `slots` (all those not ended), and sets a
    /// deadline for each new start. A slot under way keeps its session; one that should have
    /// begun already (the hub was down, or it was booked in its last moments) begins at once.
    pub fn replace(&mut self, teacher: UserId, slots: Vec<BookedSlot>, cx: &mut Ctx) {
        let now_ms = cx.now.unix_ms;
        let under_way: Vec<i64> = self
            .live
            .values()
            .filter(|l| l.teacher == teacher)
            .map(|l| l.starts_ms)
            .collect();
        let before = self.ahead.remove(&teacher).unwrap_or_default();
        let mut ahead = BTreeMap::new();
        for slot in slots {
            if slot.ends_ms <= now_ms
                || slot.students.is_empty()
                || under_way.contains(&slot.starts_ms)
            {
                continue;
            }
            if !before.contains_key(&slot.starts_ms) {
                let wait = u64::try_from(slot.starts_ms - now_ms).unwrap_or(0);
                cx.after(
                    Duration::from_millis(wait),
                    Timer::BookedSlot(teacher, slot.starts_ms),
                );
            }
            ahead.insert(slot.starts_ms, slot);
        }
        if !ahead.is_empty() {
            self.ahead.insert(teacher, ahead);
        }
    }

    /// The slot beginning now, taken out of those ahead; `None` when it was cancelled (or
    /// moved) since its deadline was set.
    pub fn begin(&mut self, teacher: UserId, starts_ms: i64) -> Option<BookedSlot> {
        let slots = self.ahead.get_mut(&teacher)?;
        let slot = slots.remove(&starts_ms)?;
        if slots.is_empty() {
            self.ahead.remove(&teacher);
        }
        Some(slot)
    }

    /// The slot's session is open: it is under way until `ends_ms`.
    pub fn began(&mut self, session: SessionId, teacher: UserId, slot: &BookedSlot, cx: &mut Ctx) {
        self.live.insert(
            session,
            LiveSlot {
                teacher,
                starts_ms: slot.starts_ms,
                ends_ms: slot.ends_ms,
            },
        );
        let wait = u64::try_from(slot.ends_ms - cx.now.unix_ms).unwrap_or(0);
        cx.after(Duration::from_millis(wait), Timer::BookedSlotEnd(session));
    }

    /// The slot of `session` is over (its time ran out, or its session ended): the staff
    /// member it held is theirs again. The slot, if the session was one.
    pub fn over(&mut self, session: SessionId) -> Option<LiveSlot> {
        self.live.remove(&session)
    }

    /// Whether a booked slot of the staff member is under way: it outranks the queues.
    pub fn holds(&self, teacher: UserId) -> bool {
        self.live.values().any(|l| l.teacher == teacher)
    }

    pub fn save(&self) -> BookingsState {
        BookingsState {
            ahead: self
                .ahead
                .iter()
                .flat_map(|(t, slots)| slots.values().map(|s| (*t, s.clone())))
                .collect(),
            live: self.live.iter().map(|(id, l)| (*id, l.clone())).collect(),
        }
    }

    pub fn load(state: BookingsState) -> Bookings {
        let mut bookings = Bookings::default();
        for (teacher, slot) in state.ahead {
            bookings
                .ahead
                .entry(teacher)
                .or_default()
                .insert(slot.starts_ms, slot);
        }
        bookings.live = state.live.into_iter().collect();
        bookings
    }
}
