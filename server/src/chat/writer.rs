//! Durable `send` with group commit. One task owns the store's [`MessageWriter`]; it takes
//! every send waiting in its queue (up to [`MAX_BATCH`]), has them stored in one transaction
//! with one commit (the commit is the fsync), and only then answers each sender with `sent`
//! and pushes `message` to the members. Concurrent senders share one fsync; a lone sender
//! waits for nobody. A retry with the same `client_id` is answered with the original message
//! and pushes nothing.

use super::{ChatError, no_thread};
use crate::directory::{ConnId, Directory, Outbox};
use crate::store::Store;
use crate::store::StoreError;
use crate::store::fence::Fence;
use crate::store::message_writer::MessageWriter;
use crate::store::messages::{NewMessage, Refusal, SendOutcome};
use crate::wire;
use konsult_protocol::SchoolId;
use konsult_protocol::{AttachmentId, ClientId, Rid, ServerMessage, ThreadId, UserId};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Most sends stored by one commit.
pub const MAX_BATCH: usize = 256;
/// Sends waiting for the writer before new ones are refused with `unavailable`.
const QUEUE: usize = 8_192;

/// Where a send's answer goes: the connection that sent it.
#[derive(Clone, Debug)]
pub struct ReplyTo {
    pub conn: ConnId,
    pub outbox: Outbox,
}

impl ReplyTo {
    /// Queues a reply; a closed connection's client retries with the same `client_id`.
    pub fn send(&self, msg: &ServerMessage, re: Option<&Rid>) {
        let _closing = self.outbox.push(wire::encode(msg, re));
    }

    /// Queues an error reply.
    pub fn error(&self, re: Option<&Rid>, e: &ChatError) {
        self.send(&ServerMessage::error(e.code(), e.public_message()), re);
    }
}

/// One validated `send`, or a message the server posts on its own (a poll's result).
#[derive(Debug)]
pub struct SendJob {
    /// The sending connection; `None` for a message the server posts, which nobody awaits.
    pub reply: Option<ReplyTo>,
    pub rid: Option<Rid>,
    pub sender: UserId,
    /// Whether the sender is not a student: their first reply answers a deferred request.
    pub answers_requests: bool,
    pub thread: ThreadId,
    pub client_id: ClientId,
    pub text: String,
    pub attachments: Vec<AttachmentId>,
    /// The school and the epoch this node holds it under, on a node of a cluster: the write
    /// is refused once another node claimed the school.
    pub fence: Option<Fence>,
}

impl SendJob {
    /// Answers the sender, if a connection sent it.
    fn answer(&self, msg: &ServerMessage) {
        if let Some(reply) = &self.reply {
            reply.send(msg, self.rid.as_ref());
        }
    }

    /// Answers the sender with an error; a message the server posts logs it.
    pub fn fail(&self, e: &ChatError) {
        match &self.reply {
            Some(reply) => reply.error(self.rid.as_ref(), e),
            None => {
                tracing::error!(error = %e, thread = %self.thread, "a message the server posts was not stored")
            }
        }
    }
}

/// The handle senders use.
#[derive(Clone, Debug)]
pub struct Writer {
    tx: mpsc::Sender<SendJob>,
}

impl Writer {
    /// Starts the writer task.
    pub fn start(store: Store, directory: Arc<Directory>) -> Writer {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, directory, rx));
        Writer { tx }
    }

    /// Queues a send without waiting; a full queue gives the job back.
    pub fn submit(&self, job: SendJob) -> Result<(), Box<SendJob>> {
        self.tx.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job) => {
                Box::new(job)
            }
        })
    }
}

async fn run(store: Store, directory: Arc<Directory>, mut rx: mpsc::Receiver<SendJob>) {
    let mut writer = store.message_writer();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let outcomes = commit(&mut writer, &batch).await;
        for (job, outcome) in batch.drain(..).zip(outcomes) {
            deliver(&directory, job, outcome);
        }
    }
}

/// Stores a batch in one transaction; on a storage failure every send of it fails (none was
/// acknowledged, and each client retries with its `client_id`). Sends for a school whose epoch
/// moved on (a node of a cluster that lost it) are refused, and the rest written without them.
async fn commit(
    writer: &mut MessageWriter,
    batch: &[SendJob],
) -> Vec<Result<SendOutcome, ChatError>> {
    // (school, the epoch sent, the epoch that holds it)
    let mut stale: Vec<(SchoolId, i64, i64)> = Vec::new();
    let stale_error = |stale: &[(SchoolId, i64, i64)], job: &SendJob| {
        let (school, _) = job.fence?;
        let &(school, epoch, current) = stale.iter().find(|(s, _, _)| *s == school)?;
        Some(ChatError::Store(StoreError::Stale {
            school,
            epoch,
            current,
        }))
    };
    let written = loop {
        let live: Vec<&SendJob> = batch
            .iter()
            .filter(|job| stale_error(&stale, job).is_none())
            .collect();
        if live.is_empty() {
            break Ok(Vec::new());
        }
        let sends: Vec<NewMessage> = live
            .iter()
            .map(|job| NewMessage {
                sender: job.sender,
                answers_requests: job.answers_requests,
                thread: job.thread,
                client_id: &job.client_id,
                text: &job.text,
                attachments: &job.attachments,
            })
            .collect();
        let mut fences: Vec<Fence> = live.iter().filter_map(|job| job.fence).collect();
        fences.sort_unstable();
        fences.dedup();
        match writer.write(&sends, &fences).await {
            Err(StoreError::Stale {
                school,
                epoch,
                current,
            }) => {
                tracing::warn!(%school, epoch, current, "chat sends for a school this node no longer holds are refused");
                stale.push((school, epoch, current));
            }
            written => break written,
        }
    };
    let not_stored = || ChatError::Invalid("the message was not stored".into());
    match written {
        Ok(outcomes) => {
            let stored = outcomes
                .iter()
                .filter(|o| matches!(o, SendOutcome::Stored { .. }))
                .count();
            metrics::counter!(crate::metrics::CHAT_COMMITS).increment(1);
            metrics::counter!(crate::metrics::CHAT_MESSAGES_STORED).increment(stored as u64);
            metrics::histogram!(crate::metrics::CHAT_COMMIT_BATCH).record(batch.len() as f64);
            let mut outcomes = outcomes.into_iter();
            batch
                .iter()
                .map(|job| match stale_error(&stale, job) {
                    Some(e) => Err(e),
                    None => outcomes.next().ok_or_else(not_stored),
                })
                .collect()
        }
        Err(e) => {
            tracing::error!(error = %e, sends = batch.len(), "chat commit failed");
            batch
                .iter()
                .map(|job| Err(stale_error(&stale, job).unwrap_or_else(not_stored)))
                .collect()
        }
    }
}

/// The error a refused send is answered with.
fn refused(refusal: Refusal) -> ChatError {
    match refusal {
        Refusal::NoThread(thread) => no_thread(thread),
        Refusal::ClientIdReused => ChatError::Conflict(
            "this client_id was already used for a message in another thread".into(),
        ),
        Refusal::NoAttachment(id) => ChatError::NotFound(format!(
            "attachment {id} does not exist or was not uploaded by you"
        )),
    }
}

/// Answers the sender and pushes to the members, after the commit.
fn deliver(directory: &Directory, job: SendJob, outcome: Result<SendOutcome, ChatError>) {
    match outcome {
        Err(e @ ChatError::Store(StoreError::Stale { .. })) => {
            // The school moved to another node: the client resumes there and sends again.
            job.fail(&e);
            if let Some(reply) = &job.reply {
                reply.outbox.close(konsult_protocol::CloseCode::GoingAway);
            }
        }
        Err(e) => job.fail(&e),
        Ok(SendOutcome::Refused(refusal)) => job.fail(&refused(refusal)),
        Ok(SendOutcome::Duplicate(message)) => job.answer(&ServerMessage::Sent { message }),
        Ok(SendOutcome::Stored {
            message,
            members,
            answered,
        }) => {
            let thread = message.thread;
            let sent = ServerMessage::Sent {
                message: message.clone(),
            };
            job.answer(&sent);
            let push = ServerMessage::Message { message };
            let frame = wire::encode_for(&push, None, members.len() as u64);
            for member in members.iter() {
                if *member == job.sender {
                    // The sender's other devices see it too; the sending one has `sent`.
                    let sending = job.reply.as_ref().map(|r| r.conn);
                    for conn in directory.user_conns(*member) {
                        if Some(conn) != sending {
                            directory.send_to_conn(conn, &frame);
                        }
                    }
                } else {
                    directory.send_to_user(*member, &frame);
                }
            }
            if let Some(request) = answered {
                let msg = ServerMessage::RequestAnswered {
                    request,
                    thread,
                    by: job.sender,
                };
                let frame = wire::encode_for(&msg, None, members.len() as u64);
                for member in members.iter() {
                    directory.send_to_user(*member, &frame);
                }
            }
        }
    }
}
