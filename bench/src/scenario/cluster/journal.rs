//! The scenario's log of every client of the crowd, whichever process holds its socket: the
//! crowd processes' [`Event`]s, each put on this process's clock (an `Instant`, so that it
//! compares with the kill and the other instants the scenario takes) and appended to its
//! client's log.

use super::event::Failure;
use super::event::{Event, Stamp, What};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// A `welcome` a client got.
#[derive(Clone, Copy, Debug)]
pub struct Welcomed {
    pub at: Instant,
    pub resumed: bool,
    pub node: usize,
}

/// A socket that closed after its `welcome`.
#[derive(Clone, Copy, Debug)]
pub struct Dropped {
    pub at: Instant,
    /// The close code, when the server sent a close frame.
    pub code: Option<u16>,
    /// The `retry_after_ms` of a `server_shutdown` that came first.
    pub retry_after: Option<Duration>,
}

/// Everything one client went through.
#[derive(Debug, Default)]
pub struct ClientLog {
    pub welcomes: Vec<Welcomed>,
    pub drops: Vec<Dropped>,
    pub failures: Vec<(Instant, Failure)>,
    /// What the first failure of each kind said, when it said something (an `error` reply, an
    /// upgrade error, an unexpected first message).
    pub details: Vec<(Failure, String)>,
}

impl ClientLog {
    /// Appends what happened at `at`.
    fn record(&mut self, at: Instant, what: What) {
        match what {
            What::Welcome { resumed, node } => self.welcomes.push(Welcomed { at, resumed, node }),
            What::Drop { code, retry_after } => self.drops.push(Dropped {
                at,
                code,
                retry_after,
            }),
            What::Failed { failure, detail } => {
                self.failures.push((at, failure));
                if let Some(detail) = detail
                    && !self.details.iter().any(|(kind, _)| *kind == failure)
                {
                    self.details.push((failure, detail));
                }
            }
        }
    }
}

/// A client's log, written by the reader of its process's report, read by the scenario.
pub type SharedLog = Mutex<ClientLog>;

/// Reads a log.
pub fn read(log: &SharedLog) -> MutexGuard<'_, ClientLog> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The wall clock and this process's monotonic clock read together: turns a [`Stamp`] from
/// any process into an `Instant` of this one.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    instant: Instant,
    stamp: Stamp,
}

impl Clock {
    pub fn now() -> Clock {
        Clock {
            instant: Instant::now(),
            stamp: Stamp::now(),
        }
    }

    /// The instant of this process that `stamp` names.
    pub fn instant(&self, stamp: Stamp) -> Instant {
        if stamp >= self.stamp {
            self.instant + Duration::from_micros(stamp.0 - self.stamp.0)
        } else {
            let before = Duration::from_micros(self.stamp.0 - stamp.0);
            self.instant.checked_sub(before).unwrap_or(self.instant)
        }
    }
}

/// Appends `event` to its client's log in `logs` (the whole crowd's, by client index).
pub fn record(logs: &[SharedLog], clock: &Clock, event: Event) -> anyhow::Result<()> {
    let log = logs.get(event.client).ok_or_else(|| {
        anyhow::anyhow!(
            "an event of client {} in a crowd of {}",
            event.client,
            logs.len()
        )
    })?;
    read(log).record(clock.instant(event.at), event.what);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_land_on_this_process_s_clock() {
        let clock = Clock::now();
        let later = Stamp(clock.stamp.0 + 2_500);
        assert_eq!(
            clock.instant(later) - clock.instant,
            Duration::from_micros(2_500)
        );
        let earlier = Stamp(clock.stamp.0 - 1_000);
        assert!(clock.instant(earlier) <= clock.instant);
    }

    #[test]
    fn events_go_to_their_client_s_log_and_keep_one_detail_per_kind() {
        let logs: Vec<SharedLog> = (0..3).map(|_| SharedLog::default()).collect();
        let clock = Clock::now();
        let at = |ms: u64| Stamp(clock.stamp.0 + ms * 1_000);
        let failed = |detail: &str| What::Failed {
            failure: Failure::Status(429),
            detail: Some(detail.to_string()),
        };
        let events = [
            (2, at(1), failed("first")),
            (2, at(2), failed("second")),
            (
                2,
                at(3),
                What::Welcome {
                    resumed: false,
                    node: 1,
                },
            ),
            (
                0,
                at(4),
                What::Drop {
                    code: Some(1001),
                    retry_after: None,
                },
            ),
        ];
        for (client, at, what) in events {
            record(&logs, &clock, Event { client, at, what }).expect("a client of the crowd");
        }
        let third = read(&logs[2]);
        assert_eq!(third.failures.len(), 2);
        assert_eq!(third.details, vec![(Failure::Status(429), "first".into())]);
        assert_eq!(third.welcomes.len(), 1);
        assert_eq!(
            third.welcomes[0].at - clock.instant,
            Duration::from_millis(3)
        );
        assert_eq!(read(&logs[0]).drops.len(), 1);
        assert!(read(&logs[1]).welcomes.is_empty());
        let stray = Event {
            client: 3,
            at: at(5),
            what: What::Welcome {
                resumed: true,
                node: 0,
            },
        };
        assert!(record(&logs, &clock, stray).is_err());
    }
}
