//! Chat messages: pages of a thread's history, and the writer that stores a batch of sends in
//! one transaction (one commit, one fsync, shared by every sender in the batch); the rows, and
//! the [`Store`] methods.

use crate::{Backend, Store, StoreError, sqlite};
use konsult_protocol::model::ChatMessage;
use konsult_protocol::{AttachmentId, ClientId, RequestId, ThreadId, UserId};
use std::sync::Arc;

/// Where a page of history starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    /// The newest messages.
    Latest,
    /// The newest messages with `seq < before`.
    Before(i64),
    /// The oldest messages with `seq > after`.
    After(i64),
}

/// One send to store.
#[derive(Clone, Copy, Debug)]
pub struct NewMessage<'a> {
    pub sender: UserId,
    /// Whether the sender is not a student: their first reply answers a deferred request.
    pub answers_requests: bool,
    pub thread: ThreadId,
    /// `UNIQUE (sender, client_id)`: a retry finds the message stored the first time.
    pub client_id: &'a ClientId,
    pub text: &'a str,
    pub attachments: &'a [AttachmentId],
}

/// What became of one send of a batch.
#[derive(Debug)]
pub enum SendOutcome {
    /// Stored by this commit, with the thread's members, and the deferred request it
    /// answered if it was the first staff reply.
    Stored {
        message: ChatMessage,
        members: Arc<Vec<UserId>>,
        answered: Option<RequestId>,
    },
    /// The same `client_id` was stored before: the original message.
    Duplicate(ChatMessage),
    /// Nothing was written for it.
    Refused(Refusal),
}

/// Why a send was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The thread does not exist or the sender is not a member.
    NoThread(ThreadId),
    /// The sender used this `client_id` for a message in another thread.
    ClientIdReused,
    /// The attachment does not exist or another user uploaded it.
    NoAttachment(AttachmentId),
}

/// Stores batches of sends, each in one transaction on a connection of its own. One task
/// owns it (the chat writer), so batches never wait on each other's locks.
#[derive(Debug)]
pub struct MessageWriter {
    backend: WriterBackend,
}

#[derive(Debug)]
enum WriterBackend {
    Sqlite(sqlite::messages::Writer),
}

impl MessageWriter {
    /// Stores `batch` in one transaction and commits it: every outcome holds only once the
    /// commit is durable. On `Err` nothing of the batch was stored.
    pub async fn write(
        &mut self,
        batch: &[NewMessage<'_>],
    ) -> Result<Vec<SendOutcome>, StoreError> {
        match &mut self.backend {
            WriterBackend::Sqlite(writer) => writer.write(batch).await,
        }
    }
}

impl Store {
    /// The writer of chat sends; see [`MessageWriter`].
    pub fn message_writer(&self) -> MessageWriter {
        let backend = match &self.backend {
            Backend::Sqlite(db) => WriterBackend::Sqlite(db.message_writer()),
        };
        MessageWriter { backend }
    }

    delegate! {
        /// A page of a thread's messages, oldest first, with their attachments, and whether
        /// more remain in that direction. Whether the reader may see it is the caller's check.
        pub async fn history(&self, thread: ThreadId, page: Page, limit: u32) -> Result<(Vec<ChatMessage>, bool), StoreError>;
    }
}
