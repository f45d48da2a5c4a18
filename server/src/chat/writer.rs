//! Durable `send` with group commit. One task owns a write connection; it takes every send
//! waiting in its queue (up to [`MAX_BATCH`]), stores them in one `BEGIN IMMEDIATE`
//! transaction and commits once (WAL with `synchronous = FULL`: the commit is the fsync), and
//! only then answers each sender with `sent` and pushes `message` to the members. Concurrent
//! senders share one fsync; a lone sender waits for nobody.
//!
//! Per thread, `seq` comes from the thread row incremented in the same transaction as the
//! insert, so it is gap-free; `UNIQUE (sender, client_id)` makes a retry return the original
//! message without a new push.

use super::{ChatError, access, bulk, no_thread, reads};
use crate::directory::{ConnId, Directory, Outbox};
use crate::store::{Store, now_ms};
use crate::wire;
use konsult_protocol::model::{AttachmentInfo, ChatMessage};
use konsult_protocol::{
    AttachmentId, ClientId, MessageId, RequestId, Rid, ServerMessage, ThreadId, UserId,
};
use sqlx::{Connection, SqliteConnection};
use std::collections::HashMap;
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

/// One validated `send`.
#[derive(Debug)]
pub struct SendJob {
    pub reply: ReplyTo,
    pub rid: Option<Rid>,
    pub sender: UserId,
    /// Whether the sender is not a student: their first reply answers a deferred request.
    pub answers_requests: bool,
    pub thread: ThreadId,
    pub client_id: ClientId,
    pub text: String,
    pub attachments: Vec<AttachmentId>,
}

/// What became of one send.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Stored now: answer `sent`, push `message` (and `request_answered` when it answered a
    /// deferred request).
    Stored {
        message: ChatMessage,
        members: Arc<Vec<UserId>>,
        answered: Option<RequestId>,
    },
    /// The same `client_id` was stored before: answer the original, push nothing.
    Duplicate(ChatMessage),
    Refused(ChatError),
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
    let mut conn: Option<SqliteConnection> = None;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let outcomes = commit(&store, &mut conn, &batch).await;
        for (job, outcome) in batch.drain(..).zip(outcomes) {
            deliver(&directory, job, outcome);
        }
    }
}

/// Stores a batch in one transaction; on a storage failure every send of it fails (none was
/// acknowledged, and each client retries with its `client_id`).
async fn commit(
    store: &Store,
    conn: &mut Option<SqliteConnection>,
    batch: &[SendJob],
) -> Vec<Outcome> {
    let failed = |batch: &[SendJob]| {
        batch
            .iter()
            .map(|_| Outcome::Refused(ChatError::Invalid("the message was not stored".into())))
            .collect()
    };
    if conn.is_none() {
        match store.sqlite_pool().acquire().await {
            // The writer keeps its own connection, outside the pool's turnover.
            // The WAL is checkpointed by a task of its own (`store::checkpoint`): every
            // commit here is fsynced to the WAL before anyone is answered, and none waits
            // for a copy into the database file.
            Ok(pooled) => *conn = Some(pooled.detach()),
            Err(e) => {
                tracing::error!(error = %e, "chat writer cannot open its connection");
                return failed(batch);
            }
        }
    }
    let Some(connection) = conn.as_mut() else {
        return failed(batch);
    };
    match write_batch(connection, batch).await {
        Ok(outcomes) => {
            let stored = outcomes
                .iter()
                .filter(|o| matches!(o, Outcome::Stored { .. }))
                .count();
            metrics::counter!(crate::metrics::CHAT_COMMITS).increment(1);
            metrics::counter!(crate::metrics::CHAT_MESSAGES_STORED).increment(stored as u64);
            metrics::histogram!(crate::metrics::CHAT_COMMIT_BATCH).record(batch.len() as f64);
            outcomes
        }
        Err(e) => {
            tracing::error!(error = %e, sends = batch.len(), "chat commit failed");
            // A fresh connection for the next batch, in case this one is broken.
            *conn = None;
            failed(batch)
        }
    }
}

async fn write_batch(
    conn: &mut SqliteConnection,
    batch: &[SendJob],
) -> Result<Vec<Outcome>, ChatError> {
    let now = now_ms();
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let outcomes = match bulk::write(&mut tx, batch, now).await? {
        Some(outcomes) => outcomes,
        None => {
            let mut members = HashMap::new();
            let mut outcomes = Vec::with_capacity(batch.len());
            for job in batch {
                outcomes.push(write_one(&mut tx, job, now, &mut members).await?);
            }
            outcomes
        }
    };
    tx.commit().await?;
    Ok(outcomes)
}

/// Stores one send inside the batch's transaction. A refusal writes nothing; an `Err` is a
/// storage failure that aborts the batch.
async fn write_one(
    tx: &mut SqliteConnection,
    job: &SendJob,
    now: i64,
    members: &mut HashMap<ThreadId, Arc<Vec<UserId>>>,
) -> Result<Outcome, ChatError> {
    let earlier: Option<(i64, i64)> =
        sqlx::query_as("SELECT id, thread_id FROM messages WHERE sender = ? AND client_id = ?")
            .bind(job.sender.0)
            .bind(&job.client_id.0)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some((id, thread)) = earlier {
        if thread != job.thread.0 {
            return Ok(Outcome::Refused(ChatError::Conflict(
                "this client_id was already used for a message in another thread".into(),
            )));
        }
        return match reads::message(tx, MessageId(id)).await? {
            Some(message) => Ok(Outcome::Duplicate(message)),
            None => Err(ChatError::Invalid(format!("message {id} vanished"))),
        };
    }
    if let Err(refused) = access::require_member(tx, job.thread, job.sender).await {
        return Ok(Outcome::Refused(refused));
    }
    let mut attachments = Vec::with_capacity(job.attachments.len());
    for id in &job.attachments {
        let row: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT name, content_type, size FROM attachments WHERE id = ? AND uploader = ?",
        )
        .bind(&id.0)
        .bind(job.sender.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((name, content_type, size)) = row else {
            return Ok(Outcome::Refused(ChatError::NotFound(format!(
                "attachment {id} does not exist or was not uploaded by you"
            ))));
        };
        attachments.push(AttachmentInfo {
            id: id.clone(),
            name,
            content_type,
            size: size.max(0) as u64,
        });
    }
    let row: Option<(i64, Option<i64>, i64)> = sqlx::query_as(
        "UPDATE threads SET last_seq = last_seq + 1, last_at = ? WHERE id = ? \
         RETURNING last_seq, request_id, answered",
    )
    .bind(now)
    .bind(job.thread.0)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((seq, request, answered)) = row else {
        return Ok(Outcome::Refused(no_thread(job.thread)));
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO messages (thread_id, seq, sender, text, ts, client_id) \
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(job.thread.0)
    .bind(seq)
    .bind(job.sender.0)
    .bind(&job.text)
    .bind(now)
    .bind(&job.client_id.0)
    .fetch_one(&mut *tx)
    .await?;
    for (position, attachment) in attachments.iter().enumerate() {
        sqlx::query(
            "INSERT INTO message_attachments (message_id, attachment_id, position) \
             VALUES (?, ?, ?)",
        )
        .bind(id)
        .bind(&attachment.id.0)
        .bind(position as i64)
        .execute(&mut *tx)
        .await?;
    }
    // The sender has read their own message.
    sqlx::query("UPDATE thread_members SET read_seq = ? WHERE thread_id = ? AND user_id = ?")
        .bind(seq)
        .bind(job.thread.0)
        .bind(job.sender.0)
        .execute(&mut *tx)
        .await?;
    let answered = match request {
        Some(request) if answered == 0 && job.answers_requests => {
            sqlx::query("UPDATE threads SET answered = 1 WHERE id = ?")
                .bind(job.thread.0)
                .execute(&mut *tx)
                .await?;
            Some(RequestId(request))
        }
        _ => None,
    };
    let thread_members = match members.get(&job.thread) {
        Some(m) => m.clone(),
        None => {
            let m = Arc::new(access::members(tx, job.thread).await?);
            members.insert(job.thread, m.clone());
            m
        }
    };
    Ok(Outcome::Stored {
        message: ChatMessage {
            id: MessageId(id),
            thread: job.thread,
            seq,
            from: job.sender,
            text: job.text.clone(),
            ts: now,
            client_id: job.client_id.clone(),
            attachments,
        },
        members: thread_members,
        answered,
    })
}

/// Answers the sender and pushes to the members, after the commit.
fn deliver(directory: &Directory, job: SendJob, outcome: Outcome) {
    let re = job.rid.as_ref();
    match outcome {
        Outcome::Refused(e) => job.reply.error(re, &e),
        Outcome::Duplicate(message) => job.reply.send(&ServerMessage::Sent { message }, re),
        Outcome::Stored {
            message,
            members,
            answered,
        } => {
            let thread = message.thread;
            let sent = ServerMessage::Sent {
                message: message.clone(),
            };
            job.reply.send(&sent, re);
            let push = ServerMessage::Message { message };
            let frame = wire::encode_for(&push, None, members.len() as u64);
            for member in members.iter() {
                if *member == job.sender {
                    // The sender's other devices see it too; the sending one has `sent`.
                    for conn in directory.user_conns(*member) {
                        if conn != job.reply.conn {
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
