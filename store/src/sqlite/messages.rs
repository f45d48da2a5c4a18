//! Chat messages in SQLite: history pages, and the writer's transaction per batch. Per
//! thread, `seq` comes from the thread row incremented in the same transaction as the insert,
//! so it is gap-free; `UNIQUE (sender, client_id)` makes a retry find the original message.
//! A batch of plain text sends takes the fast path of [`super::bulk`]; anything else is stored
//! one by one here.

use super::{SqliteStore, bulk, threads};
use crate::message_writer::{Fence, first_stale};
use crate::messages::{NewMessage, Page, Refusal, SendOutcome};
use crate::{StoreError, now_ms};
use konsult_protocol::model::{AttachmentInfo, ChatMessage};
use konsult_protocol::{AttachmentId, ClientId, MessageId, RequestId, ThreadId, UserId};
use sqlx::{Connection, SqliteConnection, SqlitePool};
use std::collections::HashMap;
use std::sync::Arc;

/// `id, thread_id, seq, sender, text, ts, client_id` of a message.
type MessageRow = (i64, i64, i64, i64, String, i64, String);

/// `SELECT` of every message column, followed by a constant condition.
macro_rules! select_messages {
    ($condition:literal) => {
        concat!(
            "SELECT id, thread_id, seq, sender, text, ts, client_id FROM messages ",
            $condition
        )
    };
}

fn message_from_row(row: MessageRow) -> ChatMessage {
    let (id, thread, seq, from, text, ts, client_id) = row;
    ChatMessage {
        id: MessageId(id),
        thread: ThreadId(thread),
        seq,
        from: UserId(from),
        text,
        ts,
        client_id: ClientId(client_id),
        attachments: Vec::new(),
    }
}

impl SqliteStore {
    pub(crate) async fn history(
        &self,
        thread: ThreadId,
        page: Page,
        limit: u32,
    ) -> Result<(Vec<ChatMessage>, bool), StoreError> {
        let mut conn = self.pool.acquire().await?;
        let fetch = i64::from(limit) + 1;
        let rows: Vec<MessageRow> = match page {
            Page::Latest => {
                sqlx::query_as(select_messages!(
                    "WHERE thread_id = ? \
                     ORDER BY seq DESC LIMIT ?"
                ))
                .bind(thread.0)
                .bind(fetch)
                .fetch_all(&mut *conn)
                .await?
            }
            Page::Before(before) => {
                sqlx::query_as(select_messages!(
                    "WHERE thread_id = ? AND seq < ? \
                     ORDER BY seq DESC LIMIT ?"
                ))
                .bind(thread.0)
                .bind(before)
                .bind(fetch)
                .fetch_all(&mut *conn)
                .await?
            }
            Page::After(after) => {
                sqlx::query_as(select_messages!(
                    "WHERE thread_id = ? AND seq > ? \
                     ORDER BY seq ASC LIMIT ?"
                ))
                .bind(thread.0)
                .bind(after)
                .bind(fetch)
                .fetch_all(&mut *conn)
                .await?
            }
        };
        let has_more = rows.len() > limit as usize;
        let mut messages: Vec<ChatMessage> = rows
            .into_iter()
            .take(limit as usize)
            .map(message_from_row)
            .collect();
        if !matches!(page, Page::After(_)) {
            messages.reverse();
        }
        if let (Some(first), Some(last)) = (messages.first(), messages.last()) {
            let (low, high) = (first.seq, last.seq);
            let attached = attachments_between(&mut conn, thread, low, high).await?;
            for (message_id, info) in attached {
                if let Some(m) = messages.iter_mut().find(|m| m.id.0 == message_id) {
                    m.attachments.push(info);
                }
            }
        }
        Ok((messages, has_more))
    }

    pub(crate) fn message_writer(&self) -> Writer {
        Writer {
            pool: self.pool.clone(),
            conn: None,
        }
    }
}

/// The attachments of a thread's messages with seq in `low..=high`, by message, in order.
async fn attachments_between(
    conn: &mut SqliteConnection,
    thread: ThreadId,
    low: i64,
    high: i64,
) -> Result<Vec<(i64, AttachmentInfo)>, StoreError> {
    let rows: Vec<(i64, String, String, String, i64)> = sqlx::query_as(
        "SELECT ma.message_id, a.id, a.name, a.content_type, a.size \
         FROM messages m JOIN message_attachments ma ON ma.message_id = m.id \
         JOIN attachments a ON a.id = ma.attachment_id \
         WHERE m.thread_id = ? AND m.seq BETWEEN ? AND ? \
         ORDER BY ma.message_id, ma.position",
    )
    .bind(thread.0)
    .bind(low)
    .bind(high)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(message, id, name, content_type, size)| {
            (
                message,
                AttachmentInfo {
                    id: AttachmentId(id),
                    name,
                    content_type,
                    size: size.max(0) as u64,
                },
            )
        })
        .collect())
}

/// One message with its attachments.
async fn message(
    conn: &mut SqliteConnection,
    id: MessageId,
) -> Result<Option<ChatMessage>, StoreError> {
    let row: Option<MessageRow> = sqlx::query_as(select_messages!("WHERE id = ?"))
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(mut message) = row.map(message_from_row) else {
        return Ok(None);
    };
    let attached = attachments_between(conn, message.thread, message.seq, message.seq).await?;
    message.attachments = attached.into_iter().map(|(_, info)| info).collect();
    Ok(Some(message))
}

/// The chat writer's side of SQLite: a connection of its own, outside the pool's turnover.
#[derive(Debug)]
pub(crate) struct Writer {
    pool: SqlitePool,
    /// Opened on the first batch, and again after a failed one in case it is broken. The WAL
    /// is checkpointed by a task of its own (`checkpoint`): every commit here is fsynced to
    /// the WAL before anyone is answered, and none waits for a copy into the database file.
    conn: Option<SqliteConnection>,
}

impl Writer {
    pub(crate) async fn write(
        &mut self,
        batch: &[NewMessage<'_>],
        fences: &[Fence],
    ) -> Result<Vec<SendOutcome>, StoreError> {
        let connection = match &mut self.conn {
            Some(connection) => connection,
            slot @ None => slot.insert(self.pool.acquire().await?.detach()),
        };
        let written = write_batch(connection, batch, fences).await;
        if matches!(written, Err(ref e) if !matches!(e, StoreError::Stale { .. })) {
            self.conn = None;
        }
        written
    }
}

async fn write_batch(
    conn: &mut SqliteConnection,
    batch: &[NewMessage<'_>],
    fences: &[Fence],
) -> Result<Vec<SendOutcome>, StoreError> {
    let now = now_ms();
    // `IMMEDIATE` takes the write lock first: no epoch changes until the commit.
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    if !fences.is_empty() {
        let mut current = Vec::with_capacity(fences.len());
        for (school, _) in fences {
            let epoch: Option<i64> =
                sqlx::query_scalar("SELECT epoch FROM school_epochs WHERE school_id = ?")
                    .bind(school.0)
                    .fetch_optional(&mut *tx)
                    .await?;
            current.extend(epoch.map(|e| (school.0, e)));
        }
        if let Some(stale) = first_stale(fences, &current) {
            return Err(stale);
        }
    }
    let outcomes = match bulk::write(&mut tx, batch, now).await? {
        Some(outcomes) => outcomes,
        None => {
            let mut members = HashMap::new();
            let mut outcomes = Vec::with_capacity(batch.len());
            for send in batch {
                outcomes.push(write_one(&mut tx, send, now, &mut members).await?);
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
    send: &NewMessage<'_>,
    now: i64,
    members: &mut HashMap<ThreadId, Arc<Vec<UserId>>>,
) -> Result<SendOutcome, StoreError> {
    let earlier: Option<(i64, i64)> =
        sqlx::query_as("SELECT id, thread_id FROM messages WHERE sender = ? AND client_id = ?")
            .bind(send.sender.0)
            .bind(&send.client_id.0)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some((id, thread)) = earlier {
        if thread != send.thread.0 {
            return Ok(SendOutcome::Refused(Refusal::ClientIdReused));
        }
        return match message(tx, MessageId(id)).await? {
            Some(message) => Ok(SendOutcome::Duplicate(message)),
            None => Err(StoreError::Invalid(format!("message {id} vanished"))),
        };
    }
    let member = threads::standing(tx, send.thread, send.sender)
        .await?
        .is_some_and(|s| s.member);
    if !member {
        return Ok(SendOutcome::Refused(Refusal::NoThread(send.thread)));
    }
    let mut attachments = Vec::with_capacity(send.attachments.len());
    for id in send.attachments {
        let row: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT name, content_type, size FROM attachments WHERE id = ? AND uploader = ?",
        )
        .bind(&id.0)
        .bind(send.sender.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((name, content_type, size)) = row else {
            return Ok(SendOutcome::Refused(Refusal::NoAttachment(id.clone())));
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
    .bind(send.thread.0)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((seq, request, answered)) = row else {
        return Ok(SendOutcome::Refused(Refusal::NoThread(send.thread)));
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO messages (thread_id, seq, sender, text, ts, client_id) \
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(send.thread.0)
    .bind(seq)
    .bind(send.sender.0)
    .bind(send.text)
    .bind(now)
    .bind(&send.client_id.0)
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
        .bind(send.thread.0)
        .bind(send.sender.0)
        .execute(&mut *tx)
        .await?;
    let answered = match request {
        Some(request) if answered == 0 && send.answers_requests => {
            sqlx::query("UPDATE threads SET answered = 1, answered_at = ? WHERE id = ?")
                .bind(now)
                .bind(send.thread.0)
                .execute(&mut *tx)
                .await?;
            Some(RequestId(request))
        }
        _ => None,
    };
    let thread_members = match members.get(&send.thread) {
        Some(m) => m.clone(),
        None => {
            let m = Arc::new(threads::members(tx, send.thread).await?);
            members.insert(send.thread, m.clone());
            m
        }
    };
    Ok(SendOutcome::Stored {
        message: ChatMessage {
            id: MessageId(id),
            thread: send.thread,
            seq,
            from: send.sender,
            text: send.text.to_string(),
            ts: now,
            client_id: send.client_id.clone(),
            attachments,
        },
        members: thread_members,
        answered,
    })
}
