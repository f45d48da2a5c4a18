//! Chat messages as the store takes and gives them: a page of history, one send of a batch,
//! and what became of it. The writer and the reads are in `message_writer.rs`.

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
