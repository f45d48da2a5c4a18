//! Reading chat: pages of a thread's history (by `before` or `after`, so that a client that was
//! away catches up without gaps), single messages, and a user's thread list with unread counts.

use super::{ChatError, access};
use konsult_protocol::limits::{DEFAULT_HISTORY_PAGE, MAX_HISTORY_PAGE};
use konsult_protocol::model::{AttachmentInfo, ChatMessage, Role, ThreadKind, ThreadSummary};
use konsult_protocol::{AttachmentId, ClientId, MessageId, RequestId, SessionId, ThreadId, UserId};
use sqlx::SqliteConnection;

/// Most threads `threads` lists, newest activity first.
pub const MAX_THREADS_LISTED: i64 = 500;

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

impl Page {
    /// The page asked for, or `bad_request` for both directions at once.
    pub fn from_request(before: Option<i64>, after: Option<i64>) -> Result<Page, ChatError> {
        match (before, after) {
            (None, None) => Ok(Page::Latest),
            (Some(b), None) => Ok(Page::Before(b)),
            (None, Some(a)) => Ok(Page::After(a)),
            (Some(_), Some(_)) => Err(ChatError::BadRequest(
                "give `before` or `after`, not both".into(),
            )),
        }
    }
}

/// The page size for a requested `limit`: 50 by default, at most 200, at least 1.
pub fn page_size(limit: Option<u32>) -> u32 {
    limit
        .unwrap_or(DEFAULT_HISTORY_PAGE)
        .clamp(1, MAX_HISTORY_PAGE)
}

/// A page of a thread's messages, oldest first, and whether more remain in that direction.
/// Only those who may read the thread get it.
pub async fn history(
    conn: &mut SqliteConnection,
    user: UserId,
    role: Role,
    thread: ThreadId,
    page: Page,
    limit: u32,
) -> Result<(Vec<ChatMessage>, bool), ChatError> {
    access::require_read(conn, thread, user, role).await?;
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
        let attached = attachments_between(conn, thread, low, high).await?;
        for (message_id, info) in attached {
            if let Some(m) = messages.iter_mut().find(|m| m.id.0 == message_id) {
                m.attachments.push(info);
            }
        }
    }
    Ok((messages, has_more))
}

/// The attachments of a thread's messages with seq in `low..=high`, by message, in order.
async fn attachments_between(
    conn: &mut SqliteConnection,
    thread: ThreadId,
    low: i64,
    high: i64,
) -> Result<Vec<(i64, AttachmentInfo)>, ChatError> {
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
pub async fn message(
    conn: &mut SqliteConnection,
    id: MessageId,
) -> Result<Option<ChatMessage>, ChatError> {
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

/// `id, kind, title, last_seq, read_seq, request_id, answered, session_id` of a listed thread.
type SummaryRow = (i64, String, String, i64, i64, Option<i64>, i64, Option<i64>);

fn summary_from_row(row: SummaryRow) -> ThreadSummary {
    let (id, kind, title, last_seq, read_seq, request, answered, session) = row;
    ThreadSummary {
        id: ThreadId(id),
        kind: ThreadKind::parse(&kind).unwrap_or(ThreadKind::Group),
        title,
        last_seq,
        read_seq,
        unread: (last_seq - read_seq).max(0),
        request: request.map(RequestId),
        answered: request.map(|_| answered != 0),
        session: session.map(SessionId),
    }
}

/// `SELECT` of a member's thread summaries, followed by a constant condition.
macro_rules! select_summaries {
    ($condition:literal) => {
        concat!(
            "SELECT t.id, t.kind, t.title, t.last_seq, m.read_seq, t.request_id, t.answered, ",
            "t.session_id FROM thread_members m JOIN threads t ON t.id = m.thread_id ",
            $condition
        )
    };
}

/// The user's threads, newest activity first (at most [`MAX_THREADS_LISTED`]).
pub async fn threads(
    conn: &mut SqliteConnection,
    user: UserId,
) -> Result<Vec<ThreadSummary>, ChatError> {
    let rows: Vec<SummaryRow> = sqlx::query_as(select_summaries!(
        "WHERE m.user_id = ? ORDER BY t.last_at DESC, t.id DESC LIMIT ?"
    ))
    .bind(user.0)
    .bind(MAX_THREADS_LISTED)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(summary_from_row).collect())
}

/// One thread as a member sees it.
pub async fn summary(
    conn: &mut SqliteConnection,
    user: UserId,
    thread: ThreadId,
) -> Result<Option<ThreadSummary>, ChatError> {
    let row: Option<SummaryRow> =
        sqlx::query_as(select_summaries!("WHERE m.user_id = ? AND t.id = ?"))
            .bind(user.0)
            .bind(thread.0)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.map(summary_from_row))
}
