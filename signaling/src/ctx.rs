//! What every part of the hub works with while it handles one input: the time of the input,
//! the limits, the deadlines it may set and the outbox it writes to. The parts own their state;
//! this is the shared plumbing the hub lends them for one call.

use crate::config::HubConfig;
use crate::io::Now;
use crate::outputs::Outputs;
use crate::timers::{Timer, Timers};
use std::time::Duration;

#[derive(Debug)]
pub(crate) struct Ctx {
    /// The time of the input being handled.
    pub now: Now,
    pub config: HubConfig,
    pub timers: Timers,
    pub out: Outputs,
}

impl Ctx {
    /// Sets `timer` to fire `wait` from now.
    pub fn after(&mut self, wait: Duration, timer: Timer) {
        self.timers.set(self.now.mono + wait, timer);
    }
}
