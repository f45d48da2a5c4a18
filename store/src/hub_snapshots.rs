//! A school's hub state kept durably: the latest snapshot of each school's hub, and the epochs
//! that fence its writes (`school_epochs`). A node claims a school with an epoch that only
//! grows; a save carries the epoch it was claimed with and is refused with
//! [`StoreError::Stale`] once a larger epoch has claimed the school, so that a node which lost
//! a school (paused past its lease, or a second process on the same data) cannot overwrite
//! what the new owner keeps.

use crate::{Store, StoreError};
use konsult_protocol::SchoolId;

/// A school's latest snapshot as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedSnapshot {
    /// The encoded snapshot, as the server wrote it (its own format and version inside).
    pub snapshot: Vec<u8>,
    /// The epoch of the owner that wrote it.
    pub epoch: i64,
    /// When it was written (ms since the Unix epoch, UTC).
    pub written_at: i64,
}

impl Store {
    delegate! {
        /// Records that `epoch` now owns `school`, when it is larger than every epoch that
        /// claimed it before; otherwise refuses with [`StoreError::Stale`] naming the epoch the
        /// database holds (an epoch is one owner's: the same epoch twice is refused too). Its
        /// own transaction, which waits for every save of the previous owner in flight.
        pub async fn claim_school(&self, school: SchoolId, epoch: i64) -> Result<(), StoreError>;
        /// Claims `school` with one more than the largest epoch that claimed it (1 for the
        /// first): how a server that is one node alone owns its schools. Returns the epoch.
        pub async fn claim_next_epoch(&self, school: SchoolId) -> Result<i64, StoreError>;
        /// Keeps `snapshot` as `school`'s latest, written by the owner of `epoch`, in one
        /// transaction that first locks the school's epoch: refused with
        /// [`StoreError::Stale`] (nothing written) unless `epoch` is the one that claimed the
        /// school last.
        pub async fn save_hub_snapshot(&self, school: SchoolId, epoch: i64, snapshot: &[u8]) -> Result<(), StoreError>;
        /// `school`'s latest snapshot, if one was ever written.
        pub async fn hub_snapshot(&self, school: SchoolId) -> Result<Option<SavedSnapshot>, StoreError>;
    }
}
