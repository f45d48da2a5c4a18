//! Keeps a school's hub durably (docs/failover.md): claims the school under a new epoch when
//! its hub starts, reads the hub's last snapshot back, and writes a new one when the hub
//! changed, at most every `hub.snapshot_interval`, from a task of its own so that the hub never
//! waits on the database. A write that fails is logged and the next change writes again; a
//! [`StoreError::Stale`] refusal (a newer epoch claimed the school) ends the writing for good.

use crate::schools::School;
use crate::store::{Store, StoreError};
use konsult_protocol::SchoolId;
use konsult_signaling::{Hub, HubSnapshot, SNAPSHOT_FORMAT};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// What a school's hub starts from.
#[derive(Debug)]
pub struct Start {
    /// The epoch this process claimed the school with; `None` when the claim failed (the hub
    /// runs, but keeps nothing).
    pub epoch: Option<i64>,
    /// The last snapshot, when one was kept and can be read.
    pub snapshot: Option<HubSnapshot>,
}

/// Reads `school`'s last snapshot, after claiming the school under the next epoch for one node
/// alone; a node of a cluster claimed it already under its lease's epoch, `claimed`.
pub async fn claim_and_load(store: &Store, school: &School, claimed: Option<i64>) -> Start {
    let claimed = match claimed {
        Some(epoch) => Ok(epoch),
        None => store.claim_next_epoch(school.id).await,
    };
    let epoch = match claimed {
        Ok(epoch) => epoch,
        Err(e) => {
            tracing::error!(error = %e, school = %school.code, "cannot claim the school; its hub starts empty and keeps no snapshot");
            return Start {
                epoch: None,
                snapshot: None,
            };
        }
    };
    let snapshot = match store.hub_snapshot(school.id).await {
        Ok(Some(saved)) => decode(&saved.snapshot, &school.code),
        Ok(None) => None,
        Err(e) => {
            tracing::error!(error = %e, school = %school.code, "cannot read the hub's snapshot; the hub starts empty");
            None
        }
    };
    Start {
        epoch: Some(epoch),
        snapshot,
    }
}

/// The first field of every snapshot, read before the rest.
#[derive(serde::Deserialize)]
struct Head {
    format: u32,
}

/// A stored snapshot, or `None` (with a warning) when its format is unknown to this build or
/// it cannot be read: the hub then starts empty rather than not at all.
pub fn decode(bytes: &[u8], school: &str) -> Option<HubSnapshot> {
    let format = match serde_json::from_slice::<Head>(bytes) {
        Ok(head) => head.format,
        Err(e) => {
            tracing::warn!(error = %e, school, "the hub's snapshot cannot be read; the hub starts empty");
            return None;
        }
    };
    if format != SNAPSHOT_FORMAT {
        tracing::warn!(
            format,
            known = SNAPSHOT_FORMAT,
            school,
            "the hub's snapshot has a format this version does not know; the hub starts empty"
        );
        return None;
    }
    match serde_json::from_slice::<HubSnapshot>(bytes) {
        Ok(snapshot) => Some(snapshot),
        Err(e) => {
            tracing::warn!(error = %e, school, "the hub's snapshot cannot be read; the hub starts empty");
            None
        }
    }
}

/// The snapshot the writer is to write next, with the hub's change count when it was taken.
type Pending = Option<Arc<(u64, HubSnapshot)>>;

/// Takes the hub's snapshots as it changes and hands them to the writer task.
#[derive(Debug)]
pub struct Keeper {
    interval: Duration,
    /// The writer's inbox: only the latest snapshot waits.
    latest: watch::Sender<Pending>,
    /// The change count of the last snapshot taken.
    taken: u64,
    taken_at: Option<Instant>,
    /// The change count of the last snapshot written (`u64::MAX`: none yet).
    written: Arc<AtomicU64>,
    /// A newer epoch claimed the school: nothing more is written.
    stale: Arc<AtomicBool>,
    writer: JoinHandle<()>,
}

impl Keeper {
    /// Starts the writer for `school`, claimed under `epoch`. `changes` is the hub's change
    /// count now: a restored hub is already kept as it stands.
    pub fn start(
        store: Store,
        school: &School,
        epoch: i64,
        interval: Duration,
        changes: u64,
    ) -> Keeper {
        let (latest, inbox) = watch::channel(None);
        let written = Arc::new(AtomicU64::new(u64::MAX));
        let stale = Arc::new(AtomicBool::new(false));
        let writer = tokio::spawn(write(
            store,
            Target {
                school: school.id,
                code: school.code.clone(),
                epoch,
            },
            inbox,
            written.clone(),
            stale.clone(),
        ));
        Keeper {
            interval,
            latest,
            taken: changes,
            taken_at: None,
            written,
            stale,
            writer,
        }
    }

    /// When the hub's latest change is due to be kept, if one is waiting.
    pub fn deadline(&self, hub: &Hub) -> Option<Instant> {
        if hub.changes() == self.taken || self.stale.load(Ordering::Relaxed) {
            return None;
        }
        Some(match self.taken_at {
            Some(at) => at + self.interval,
            None => Instant::now(),
        })
    }

    /// After the hub handled something: takes a snapshot when it changed and the interval
    /// since the last one has passed.
    pub fn step(&mut self, hub: &Hub) {
        if self.deadline(hub).is_some_and(|at| at <= Instant::now()) {
            self.take(hub);
        }
    }

    fn take(&mut self, hub: &Hub) {
        self.taken = hub.changes();
        self.taken_at = Some(Instant::now());
        self.latest
            .send_replace(Some(Arc::new((self.taken, hub.snapshot()))));
    }

    /// On a clean shutdown: writes the hub as it stands unless that is written already, and
    /// waits for the writer, at most `wait`.
    pub async fn finish(mut self, hub: &Hub, wait: Duration) {
        let written = self.written.load(Ordering::Relaxed);
        if !self.stale.load(Ordering::Relaxed) && written != hub.changes() {
            self.take(hub);
        }
        drop(self.latest);
        if tokio::time::timeout(wait, &mut self.writer).await.is_err() {
            tracing::warn!("the hub's last snapshot was not written in time");
            self.writer.abort();
        }
    }
}

/// Whose snapshots a writer writes.
struct Target {
    school: SchoolId,
    code: String,
    epoch: i64,
}

/// Writes each snapshot handed over, the latest first, until the keeper is gone or the school
/// was claimed by a newer epoch.
async fn write(
    store: Store,
    target: Target,
    mut inbox: watch::Receiver<Pending>,
    written: Arc<AtomicU64>,
    stale: Arc<AtomicBool>,
) {
    let Target {
        school,
        code,
        epoch,
    } = target;
    while inbox.changed().await.is_ok() {
        let Some(pending) = inbox.borrow_and_update().clone() else {
            continue;
        };
        let (changes, snapshot) = &*pending;
        let bytes = match serde_json::to_vec(snapshot) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::error!(error = %e, school = %code, "cannot encode the hub's snapshot");
                continue;
            }
        };
        match store.save_hub_snapshot(school, epoch, &bytes).await {
            Ok(()) => {
                written.store(*changes, Ordering::Relaxed);
                tracing::debug!(school = %code, bytes = bytes.len(), "hub snapshot written");
            }
            Err(StoreError::Stale { current, .. }) => {
                stale.store(true, Ordering::Relaxed);
                tracing::error!(
                    school = %code,
                    epoch,
                    current,
                    "a newer owner claimed the school: this hub writes no more snapshots"
                );
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, school = %code, "cannot write the hub's snapshot; it is written again at the next change");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use konsult_signaling::{IdSeeds, Now};

    fn empty_hub() -> Hub {
        let config = crate::hub::hub_config(&konsult_config::Config::default());
        let now = Now {
            mono: std::time::Instant::now(),
            unix_ms: 1_700_000_000_000,
            utc_offset_secs: 0,
        };
        let seeds = IdSeeds {
            next_request: 1,
            next_session: 1,
        };
        Hub::new(config, seeds, now)
    }

    #[test]
    fn a_snapshot_of_this_format_is_read_back() {
        let snapshot = empty_hub().snapshot();
        let bytes = serde_json::to_vec(&snapshot).expect("encode");
        assert!(bytes.starts_with(format!("{{\"format\":{SNAPSHOT_FORMAT},").as_bytes()));
        assert_eq!(decode(&bytes, "main"), Some(snapshot));
    }

    #[test]
    fn an_unknown_format_or_unreadable_bytes_give_no_snapshot() {
        assert_eq!(decode(br#"{"format":99,"people":"later"}"#, "main"), None);
        assert_eq!(decode(b"\x00\x01not json", "main"), None);
        let mut truncated = serde_json::to_vec(&empty_hub().snapshot()).expect("encode");
        truncated.truncate(truncated.len() / 2);
        assert_eq!(decode(&truncated, "main"), None);
    }
}
