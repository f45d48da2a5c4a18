//! Chat threads: the offline form of every consultation and the fallback of every live one.
//! This module owns threads and their members; its parts own durable sends with group commit
//! (`writer`, its batch fast path `bulk`), reading (`reads`), receipts and typing (`receipts`), who may create what
//! (`create`), attachments (`attachments`, `sniff`), retention (`purge`), and the WebSocket
//! entry points (`handle`).

pub mod access;
pub mod attachments;
mod bulk;
pub mod create;
pub mod handle;
pub mod purge;
pub mod reads;
pub mod receipts;
pub mod sniff;
pub mod writer;

use crate::directory::{ConnId, Directory};
use crate::store::{Store, StoreError, Transient, now_ms};
use crate::wire;
use konsult_protocol::model::{Role, ThreadKind, ThreadSummary};
use konsult_protocol::{ErrorCode, RequestId, ServerMessage, SessionId, ThreadId, UserId};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A chat failure, mapped to a protocol error code at the edge.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The database contradicts itself (a thread that vanished): `internal`.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    BadRequest(String),
    /// Missing, or not visible to the sender (never told apart, so that ids leak nothing).
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    /// The writer's queue is full.
    #[error("{0}")]
    Busy(String),
}

impl From<sqlx::Error> for ChatError {
    fn from(e: sqlx::Error) -> ChatError {
        ChatError::Store(StoreError::Db(e))
    }
}

impl Transient for ChatError {
    fn is_transient(&self) -> bool {
        matches!(self, ChatError::Store(e) if e.is_transient())
    }
}

impl ChatError {
    /// The protocol error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            ChatError::Store(_) | ChatError::Invalid(_) => ErrorCode::Internal,
            ChatError::BadRequest(_) => ErrorCode::BadRequest,
            ChatError::NotFound(_) => ErrorCode::NotFound,
            ChatError::Forbidden(_) => ErrorCode::Forbidden,
            ChatError::Conflict(_) => ErrorCode::Conflict,
            ChatError::TooLarge(_) => ErrorCode::TooLarge,
            ChatError::Busy(_) => ErrorCode::Unavailable,
        }
    }

    /// The message for the client: storage details stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            ChatError::Store(e) => {
                tracing::error!(error = %e, "chat storage failed");
                "storage failed; retry".to_string()
            }
            ChatError::Invalid(e) => {
                tracing::error!(error = %e, "chat state is inconsistent");
                "internal error".to_string()
            }
            other => other.to_string(),
        }
    }
}

/// The error for a thread the user may not see; the same whether it exists or not.
pub(crate) fn no_thread(thread: ThreadId) -> ChatError {
    ChatError::NotFound(format!(
        "thread {thread} does not exist or you are not a member"
    ))
}

/// `kind, title, last_seq, request_id, answered, session_id` of a thread.
type ThreadRow = (String, String, i64, Option<i64>, i64, Option<i64>);

/// A thread to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewThread {
    pub kind: ThreadKind,
    pub title: String,
    pub members: Vec<UserId>,
    /// The class of a class thread.
    pub class: Option<String>,
    /// The help request the thread answers.
    pub request: Option<RequestId>,
    /// The live session the thread belongs to.
    pub session: Option<SessionId>,
    /// Who created it; `None` when the server did (a deferred request, a session).
    pub created_by: Option<UserId>,
    /// Messages stored with the thread, seq 1 onwards (a deferred request's question and
    /// automatic reply). Their `client_id`s get [`SERVER_CLIENT_ID_PREFIX`].
    pub opening: Vec<OpeningMessage>,
}

/// A message stored with a new thread, as if its author had sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpeningMessage {
    pub author: UserId,
    pub text: String,
    /// Unique per author and thread purpose: the message's `client_id`.
    pub client_id: String,
}

/// The start of the `client_id`s of messages the server stores; clients may not use it.
pub const SERVER_CLIENT_ID_PREFIX: &str = "konsult:";

/// The chat service, shared by connection tasks and the hub.
#[derive(Debug, Clone)]
pub struct Chat {
    store: Store,
    directory: Arc<Directory>,
    /// The group-commit writer every `send` goes through.
    writer: writer::Writer,
    /// Which `typing` notices were forwarded lately, per user and thread.
    typing: Arc<receipts::TypingGate>,
    /// `attachments/` in the data folder: files named by their sha256.
    attachments_dir: PathBuf,
    /// Uploads per user and minute.
    uploads: Arc<attachments::UploadGate>,
}

impl Chat {
    /// The chat service on `store`, keeping attachments under `data_dir`. Starts the writer
    /// task, so it must be called within the runtime.
    pub fn new(
        store: Store,
        directory: Arc<Directory>,
        data_dir: &Path,
        uploads_per_minute: u32,
    ) -> Chat {
        Chat {
            writer: writer::Writer::start(store.clone(), directory.clone()),
            store,
            directory,
            typing: Arc::new(receipts::TypingGate::default()),
            attachments_dir: data_dir.join(attachments::DIR),
            uploads: Arc::new(attachments::UploadGate::new(uploads_per_minute)),
        }
    }

    /// Refuses an upload beyond the per-user rate, with the time until the next one.
    pub fn allow_upload(&self, user: UserId) -> Result<(), std::time::Duration> {
        self.uploads.allow(user, std::time::Instant::now())
    }

    /// Where attachment files live.
    pub fn attachments_dir(&self) -> &Path {
        &self.attachments_dir
    }

    /// Creates a thread with its members and tells the online ones with `thread_added`.
    pub async fn create_thread(&self, new: NewThread) -> Result<ThreadSummary, ChatError> {
        self.create_thread_except(new, None).await
    }

    /// Creates a thread; every connection of its members but `except` (the creator's, which
    /// gets the reply) is told with `thread_added`.
    pub async fn create_thread_except(
        &self,
        new: NewThread,
        except: Option<ConnId>,
    ) -> Result<ThreadSummary, ChatError> {
        let mut members = new.members.clone();
        members.sort();
        members.dedup();
        let now = now_ms();
        let mut tx = self.store.write_tx().await?;
        let confidential = has_support_member(&mut tx, &members).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO threads (kind, title, class, request_id, session_id, confidential, \
             created_by, created_at, last_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(new.kind.as_str())
        .bind(&new.title)
        .bind(&new.class)
        .bind(new.request.map(|r| r.0))
        .bind(new.session.map(|s| s.0))
        .bind(confidential)
        .bind(new.created_by.map(|u| u.0))
        .bind(now)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        for member in &members {
            sqlx::query(
                "INSERT OR IGNORE INTO thread_members (thread_id, user_id, joined_at) \
                 VALUES (?, ?, ?)",
            )
            .bind(id)
            .bind(member.0)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let last_seq = store_opening(&mut tx, id, &new.opening, now).await?;
        tx.commit().await?;
        let summary = ThreadSummary {
            id: ThreadId(id),
            kind: new.kind,
            title: new.title,
            last_seq,
            read_seq: 0,
            unread: 0,
            request: new.request,
            answered: new.request.map(|_| false),
            session: new.session,
        };
        if new.opening.is_empty() {
            self.announce(&summary, &members, except);
        } else {
            for member in &members {
                let read_seq = opening_read_seq(&new.opening, *member);
                let mine = ThreadSummary {
                    read_seq,
                    unread: last_seq - read_seq,
                    ..summary.clone()
                };
                self.announce(&mine, std::slice::from_ref(member), except);
            }
        }
        Ok(summary)
    }

    /// Adds members to a thread; the new ones get `thread_added`.
    pub async fn add_members(&self, thread: ThreadId, members: &[UserId]) -> Result<(), ChatError> {
        let now = now_ms();
        let mut tx = self.store.write_tx().await?;
        let mut added = Vec::new();
        for member in members {
            let done = sqlx::query(
                "INSERT OR IGNORE INTO thread_members (thread_id, user_id, joined_at) \
                 VALUES (?, ?, ?)",
            )
            .bind(thread.0)
            .bind(member.0)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() > 0 {
                added.push(*member);
            }
        }
        if has_support_member(&mut tx, &added).await? {
            sqlx::query("UPDATE threads SET confidential = 1 WHERE id = ?")
                .bind(thread.0)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        if added.is_empty() {
            return Ok(());
        }
        let row: Option<ThreadRow> = sqlx::query_as(
            "SELECT kind, title, last_seq, request_id, answered, session_id FROM threads \
             WHERE id = ?",
        )
        .bind(thread.0)
        .fetch_optional(&self.store.pool)
        .await?;
        let Some((kind, title, last_seq, request, answered, session)) = row else {
            return Err(ChatError::Invalid(format!("thread {thread} vanished")));
        };
        let summary = ThreadSummary {
            id: thread,
            kind: ThreadKind::parse(&kind).unwrap_or(ThreadKind::Group),
            title,
            last_seq,
            read_seq: 0,
            unread: last_seq,
            request: request.map(RequestId),
            answered: request.map(|_| answered != 0),
            session: session.map(SessionId),
        };
        self.announce(&summary, &added, None);
        Ok(())
    }

    /// Pushes `thread_added` to the online members among `members`, but not to `except`.
    fn announce(&self, summary: &ThreadSummary, members: &[UserId], except: Option<ConnId>) {
        let msg = ServerMessage::ThreadAdded {
            thread: summary.clone(),
        };
        let frame = wire::encode_for(&msg, None, members.len() as u64);
        for member in members {
            let mine = except.is_some_and(|c| self.directory.user_conns(*member).contains(&c));
            if mine {
                for conn in self.directory.user_conns(*member) {
                    if Some(conn) != except {
                        self.directory.send_to_conn(conn, &frame);
                    }
                }
            } else {
                self.directory.send_to_user(*member, &frame);
            }
        }
    }
}

/// How far `member` has read a thread that starts with `opening`: the leading messages they
/// wrote themselves (a student's question; not an automatic reply after it).
fn opening_read_seq(opening: &[OpeningMessage], member: UserId) -> i64 {
    opening.iter().take_while(|m| m.author == member).count() as i64
}

/// Stores a new thread's opening messages as seq 1, 2, ..., and how far each member has read
/// them. Returns the thread's last seq.
async fn store_opening(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    thread: i64,
    opening: &[OpeningMessage],
    now: i64,
) -> Result<i64, ChatError> {
    let mut seq = 0;
    for message in opening {
        seq += 1;
        sqlx::query(
            "INSERT INTO messages (thread_id, seq, sender, text, ts, client_id) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(thread)
        .bind(seq)
        .bind(message.author.0)
        .bind(&message.text)
        .bind(now)
        .bind(format!("{SERVER_CLIENT_ID_PREFIX}{}", message.client_id))
        .execute(&mut **tx)
        .await?;
        let read_seq = opening_read_seq(opening, message.author);
        sqlx::query("UPDATE thread_members SET read_seq = ? WHERE thread_id = ? AND user_id = ?")
            .bind(read_seq)
            .bind(thread)
            .bind(message.author.0)
            .execute(&mut **tx)
            .await?;
    }
    if seq > 0 {
        sqlx::query("UPDATE threads SET last_seq = ? WHERE id = ?")
            .bind(seq)
            .bind(thread)
            .execute(&mut **tx)
            .await?;
    }
    Ok(seq)
}

/// Whether any of `users` is support staff (their threads are confidential).
async fn has_support_member(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    users: &[UserId],
) -> Result<bool, ChatError> {
    for user in users {
        let role: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE id = ?")
            .bind(user.0)
            .fetch_optional(&mut **tx)
            .await?;
        if role.as_deref() == Some(Role::Support.as_str()) {
            return Ok(true);
        }
    }
    Ok(false)
}
