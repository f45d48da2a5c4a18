//! Attachments' rows (the files themselves are the server's), and retention: deleting what
//! is older than a cutoff. The rows, and the [`Store`] methods.

use crate::{Store, StoreError};
use konsult_protocol::{AttachmentId, UserId};

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

/// What a purge deleted from the database.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PurgedRows {
    pub messages: u64,
    pub attachments: u64,
    /// The sha256 of files no attachment names any more.
    pub orphaned: Vec<String>,
}

impl Store {
    delegate! {
        /// Records an upload.
        pub async fn insert_attachment(&self, attachment: &NewAttachment<'_>) -> Result<(), StoreError>;
        /// An upload by its id.
        pub async fn attachment(&self, id: &str) -> Result<Option<AttachmentRow>, StoreError>;
        /// Whether a message with the attachment is in a thread `user` is a member of, or, for
        /// an admin, in a thread that is not confidential.
        pub async fn attachment_in_readable_thread(&self, id: &str, user: UserId, admin: bool) -> Result<bool, StoreError>;
        /// Deletes messages older than `cutoff` (milliseconds), then attachments older than it
        /// that no message refers to any more, in one transaction.
        pub async fn purge(&self, cutoff: i64) -> Result<PurgedRows, StoreError>;
    }
}
