//! The consultation record: the rows the hub reports and the administration reads back, and
//! the [`Store`] methods for them.

use crate::{Store, StoreError};
use konsult_protocol::model::{Form, Mode};
use konsult_protocol::{RequestId, SchoolId, SessionId, ThreadId, UserId};

/// What identifies a consultation across its writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKey {
    /// A help request (and the session it led to).
    Request(RequestId),
    /// A session a teacher started without a request.
    Session(SessionId),
}

/// A consultation to insert, or to update when its key was written before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub key: RecordKey,
    pub form: Form,
    pub mode: Mode,
    pub subject: String,
    pub topic: String,
    pub staff: Option<UserId>,
    pub students: Vec<UserId>,
    pub session: Option<SessionId>,
    pub thread: Option<ThreadId>,
    /// Milliseconds since the Unix epoch, UTC, as every time here.
    pub requested_at_ms: Option<i64>,
    pub started_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    pub wait_secs: Option<i64>,
    /// `in_progress`, `held`, `deferred` or `cancelled`.
    pub outcome: &'static str,
    pub confidential: bool,
}

/// The first request and session ids never used by the record or a thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextIds {
    pub request: i64,
    pub session: i64,
}

/// Which consultations to read back; `None` matches everything.
#[derive(Clone, Debug, Default)]
pub struct RecordFilter<'a> {
    /// `happened_at` at or after, in milliseconds.
    pub from: Option<i64>,
    /// `happened_at` before, in milliseconds.
    pub to: Option<i64>,
    pub form: Option<&'a str>,
    pub staff: Option<UserId>,
    pub mode: Option<&'a str>,
    /// Never matches a confidential consultation.
    pub subject: Option<&'a str>,
    /// Consultations one of the class's students took part in; never a confidential one.
    pub class: Option<&'a str>,
    pub outcome: Option<&'a str>,
}

/// A consultation as stored, with the names of the people in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordRow {
    pub id: i64,
    pub form: String,
    pub mode: String,
    pub subject: String,
    pub topic: String,
    /// The staff member's name.
    pub staff: Option<String>,
    /// The students' names.
    pub students: Vec<String>,
    pub requested_at: Option<i64>,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub wait_secs: Option<i64>,
    /// When staff first answered the thread the request became (a deferred, offline
    /// question), in milliseconds.
    pub answered_at: Option<i64>,
    pub outcome: String,
    pub confidential: bool,
    /// A student asked anonymously (see `anonymous.rs`): counted, never named.
    pub anonymous: bool,
}

impl Store {
    delegate! {
        /// The school's next request and session ids: past every id its record or threads have
        /// seen (each school's hub counts its own).
        pub async fn next_ids(&self, school: SchoolId) -> Result<NextIds, StoreError>;
        /// Inserts or updates records of the school in one transaction; the latest write of a key wins, and
        /// times already known are kept when an update lacks them.
        /// With `epoch` (the one the writer claimed the school under), the transaction first
        /// locks the school's epoch and is refused with [`StoreError::Stale`] unless it is still
        /// that one: a node that lost the school writes no more records for it.
        pub async fn write_records(&self, school: SchoolId, epoch: Option<i64>, records: &[Record]) -> Result<(), StoreError>;
        /// At most `limit` consultations of the school the filter selects, by the time they happened.
        pub async fn records(&self, school: SchoolId, filter: &RecordFilter<'_>, limit: i64) -> Result<Vec<RecordRow>, StoreError>;
    }
}
