//! Attachments' rows (the files themselves are the server's), and retention: deleting what
//! is older than a cutoff. The rows, and the [`Store`] methods.

use crate::{Store, StoreError};
use konsult_protocol::{AttachmentId, ThreadId, UserId};

/// An upload to record; its file is already durable under its sha256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAttachment<'a> {
    pub id: &'a AttachmentId,
    pub sha256: &'a str,
    pub name: &'a str,
    pub content_type: &'a str,
    pub size: u64,
    pub uploader: UserId,
}

/// A recorded upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachmentRow {
    pub sha256: String,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub uploader: UserId,
}

/// The thread through which a user may download an attachment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadAccess {
    pub thread: ThreadId,
    /// The user is a member (else an admin reading a thread they are not in).
    pub member: bool,
}

/// What one batch of a purge deleted from the attachments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PurgedAttachments {
    /// Attachment rows deleted.
    pub attachments: u64,
    /// The sha256 of files no attachment names any more: the caller deletes them.
    pub orphaned: Vec<String>,
}

impl Store {
    delegate! {
        /// Records an upload.
        pub async fn insert_attachment(&self, attachment: &NewAttachment<'_>) -> Result<(), StoreError>;
        /// An upload by its id.
        pub async fn attachment(&self, id: &str) -> Result<Option<AttachmentRow>, StoreError>;
        /// A thread holding a message with the attachment that `user` may read: one they are a
        /// member of first, else, for an admin, one of their school that is not confidential
        /// (never one of the support service, member or not). `None` when there is none.
        pub async fn attachment_access(&self, id: &str, user: UserId, admin: bool) -> Result<Option<ThreadAccess>, StoreError>;
        /// How many messages are older than `cutoff` (milliseconds): what a purge has before it.
        pub async fn old_messages(&self, cutoff: i64) -> Result<u64, StoreError>;
        /// Deletes at most `limit` of the messages older than `cutoff`, oldest first, in one
        /// transaction; returns how many. A purge calls it until it returns 0, so that no
        /// transaction grows with the backlog.
        pub async fn purge_messages(&self, cutoff: i64, limit: u32) -> Result<u64, StoreError>;
        /// How many attachments are older than `cutoff` and referred to by no message.
        pub async fn unreferenced_attachments(&self, cutoff: i64) -> Result<u64, StoreError>;
        /// Deletes at most `limit` attachments older than `cutoff` that no message refers to,
        /// in one transaction. An upload younger than the cutoff may still be about to be sent:
        /// it stays.
        pub async fn purge_attachments(&self, cutoff: i64, limit: u32) -> Result<PurgedAttachments, StoreError>;
    }
}
