//! Chat threads: creating them with their members and opening messages, who stands where in
//! them, read marks, and a member's thread list; the rows, and the [`Store`] methods.

use crate::{Store, StoreError};
use konsult_protocol::model::{Role, ThreadKind, ThreadSummary};
use konsult_protocol::{RequestId, SchoolId, SessionId, ThreadId, UserId};

/// A thread to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewThread {
    pub kind: ThreadKind,
    pub title: String,
    /// Sorted, without repeats.
    pub members: Vec<UserId>,
    /// The class of a class thread.
    pub class: Option<String>,
    /// The help request the thread answers.
    pub request: Option<RequestId>,
    /// The live session the thread belongs to.
    pub session: Option<SessionId>,
    /// Who created it; `None` when the server did.
    pub created_by: Option<UserId>,
    /// A thread of the support service (a help request or session with the psychologist):
    /// confidential whoever its members are, every active support staff member is in it (and
    /// joins it on becoming one later), and no administrator reads it, member or not.
    pub support_service: bool,
    /// Messages stored with the thread, seq 1 onwards (a deferred request's question and
    /// automatic reply), as if their authors had sent them.
    pub opening: Vec<OpeningRow>,
}

/// A message stored with a new thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpeningRow {
    pub author: UserId,
    pub text: String,
    /// Unique per author and thread purpose: the message's `client_id`, stored as given (the
    /// chat puts the server's prefix in front).
    pub client_id: String,
}

/// How far `member` has read a thread that starts with `opening`: the leading messages they
/// wrote themselves (a student's question; not an automatic reply after it).
pub fn opening_read_seq(opening: &[OpeningRow], member: UserId) -> i64 {
    opening.iter().take_while(|m| m.author == member).count() as i64
}

/// A user's standing in one thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    pub member: bool,
    /// A support staff member is in it, or it is the support service's.
    pub confidential: bool,
    /// It is a thread of the support service (see [`NewThread::support_service`]).
    pub support_service: bool,
}

impl Standing {
    /// Whether a user of `role` with this standing may read the thread: members, and admins
    /// when it is not confidential; never an admin in a thread of the support service.
    pub fn may_read(self, role: Role) -> bool {
        if self.support_service && role == Role::Admin {
            return false;
        }
        self.member || (role == Role::Admin && !self.confidential)
    }

    /// Whether this read is an administrator's of a thread they are not in (audited).
    pub fn admin_reads_as_outsider(self, role: Role) -> bool {
        role == Role::Admin && !self.member
    }
}

/// What became of a request to move a read mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadMark {
    /// The user is not a member (or the thread does not exist).
    NotMember,
    /// The mark was already there or further.
    Unchanged,
    /// The mark moved forward to this seq.
    Moved(i64),
}

impl Store {
    delegate! {
        /// Creates a thread of `school` with its members and opening messages in one
        /// transaction; it is confidential when a support staff member is in it or it is the
        /// support service's (whose active staff of the school all become members). Returns its id and last seq.
        pub async fn create_thread(&self, school: SchoolId, thread: &NewThread) -> Result<(ThreadId, i64), StoreError>;
        /// The personal thread of these two people opened with `create_thread` (not a
        /// request's or a session's), if there is one.
        pub async fn personal_thread(&self, school: SchoolId, a: UserId, b: UserId) -> Result<Option<ThreadId>, StoreError>;
        /// The user's standing in a thread, `None` when the thread does not exist or belongs
        /// to another school than the user's (so no school's admin reaches another's).
        pub async fn standing(&self, thread: ThreadId, user: UserId) -> Result<Option<Standing>, StoreError>;
        /// The members of a thread, by id.
        pub async fn members(&self, thread: ThreadId) -> Result<Vec<UserId>, StoreError>;
        /// Moves `user`'s read mark in `thread` forward to `seq` (clamped to the newest
        /// message), never back.
        pub async fn mark_read(&self, user: UserId, thread: ThreadId, seq: i64) -> Result<ReadMark, StoreError>;
        /// The user's threads, newest activity first, at most `limit`.
        pub async fn threads(&self, user: UserId, limit: i64) -> Result<Vec<ThreadSummary>, StoreError>;
        /// One thread as a member sees it.
        pub async fn summary(&self, user: UserId, thread: ThreadId) -> Result<Option<ThreadSummary>, StoreError>;
    }
}
