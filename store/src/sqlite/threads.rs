//! Chat threads in SQLite: creating them, members and standing, read marks, thread lists.

use super::SqliteStore;
use crate::threads::{NewThread, OpeningRow, ReadMark, Standing, opening_read_seq};
use crate::{StoreError, now_ms};
use konsult_protocol::model::{Role, ThreadKind, ThreadSummary};
use konsult_protocol::{RequestId, SchoolId, SessionId, ThreadId, UserId};
use sqlx::SqliteConnection;

/// `id, kind, title, last_seq, read_seq, request_id, answered, session_id, anonymous` of a
/// listed thread.
type SummaryRow = (
    i64,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    i64,
    Option<i64>,
    i64,
);

fn summary_from_row(row: SummaryRow) -> ThreadSummary {
    let (id, kind, title, last_seq, read_seq, request, answered, session, anonymous) = row;
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
        anonymous: anonymous != 0,
    }
}

/// `SELECT` of a member's thread summaries, followed by a constant condition.
macro_rules! select_summaries {
    ($condition:literal) => {
        concat!(
            "SELECT t.id, t.kind, t.title, t.last_seq, m.read_seq, t.request_id, t.answered, ",
            "t.session_id, EXISTS (SELECT 1 FROM thread_members am JOIN users au ",
            "ON au.id = am.user_id WHERE am.thread_id = t.id AND au.anonymous = 1) AS anonymous ",
            "FROM thread_members m JOIN threads t ON t.id = m.thread_id ",
            $condition
        )
    };
}

impl SqliteStore {
    pub(crate) async fn create_thread(
        &self,
        school: SchoolId,
        new: &NewThread,
    ) -> Result<(ThreadId, i64), StoreError> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let confidential = new.support_service || has_support_member(&mut tx, &new.members).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO threads (school_id, kind, title, class, request_id, session_id, \
             confidential, support_service, created_by, created_at, last_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(school.0)
        .bind(new.kind.as_str())
        .bind(&new.title)
        .bind(&new.class)
        .bind(new.request.map(|r| r.0))
        .bind(new.session.map(|s| s.0))
        .bind(confidential)
        .bind(new.support_service)
        .bind(new.created_by.map(|u| u.0))
        .bind(now)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        for member in &new.members {
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
        if new.support_service {
            // The service answers, whoever of it is active now: not the hub's view of the
            // moment. Later staff join through the triggers of migration 0006.
            sqlx::query(
                "INSERT OR IGNORE INTO thread_members (thread_id, user_id, joined_at) \
                 SELECT ?, id, ? FROM users WHERE role = ? AND active = 1 AND school_id = ?",
            )
            .bind(id)
            .bind(now)
            .bind(Role::Support.as_str())
            .bind(school.0)
            .execute(&mut *tx)
            .await?;
        }
        let last_seq = store_opening(&mut tx, id, &new.opening, now).await?;
        tx.commit().await?;
        Ok((ThreadId(id), last_seq))
    }

    pub(crate) async fn personal_thread(
        &self,
        school: SchoolId,
        a: UserId,
        b: UserId,
    ) -> Result<Option<ThreadId>, StoreError> {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT t.id FROM threads t \
             JOIN thread_members ma ON ma.thread_id = t.id AND ma.user_id = ? \
             JOIN thread_members mb ON mb.thread_id = t.id AND mb.user_id = ? \
             WHERE t.kind = 'personal' AND t.request_id IS NULL AND t.session_id IS NULL \
             AND t.school_id = ? \
             AND (SELECT COUNT(*) FROM thread_members m WHERE m.thread_id = t.id) = 2 \
             ORDER BY t.id LIMIT 1",
        )
        .bind(a.0)
        .bind(b.0)
        .bind(school.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(id.map(ThreadId))
    }

    pub(crate) async fn standing(
        &self,
        thread: ThreadId,
        user: UserId,
    ) -> Result<Option<Standing>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        standing(&mut conn, thread, user).await
    }

    pub(crate) async fn members(&self, thread: ThreadId) -> Result<Vec<UserId>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        members(&mut conn, thread).await
    }

    pub(crate) async fn mark_read(
        &self,
        user: UserId,
        thread: ThreadId,
        seq: i64,
    ) -> Result<ReadMark, StoreError> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT m.read_seq, t.last_seq FROM thread_members m \
             JOIN threads t ON t.id = m.thread_id WHERE m.thread_id = ? AND m.user_id = ?",
        )
        .bind(thread.0)
        .bind(user.0)
        .fetch_optional(&self.pool)
        .await?;
        let Some((read_seq, last_seq)) = row else {
            return Ok(ReadMark::NotMember);
        };
        let seq = seq.min(last_seq);
        if seq <= read_seq {
            return Ok(ReadMark::Unchanged);
        }
        let moved = sqlx::query(
            "UPDATE thread_members SET read_seq = ? WHERE thread_id = ? AND user_id = ? \
             AND read_seq < ?",
        )
        .bind(seq)
        .bind(thread.0)
        .bind(user.0)
        .bind(seq)
        .execute(&self.pool)
        .await?;
        Ok(if moved.rows_affected() > 0 {
            ReadMark::Moved(seq)
        } else {
            ReadMark::Unchanged
        })
    }

    pub(crate) async fn threads(
        &self,
        user: UserId,
        limit: i64,
    ) -> Result<Vec<ThreadSummary>, StoreError> {
        let rows: Vec<SummaryRow> = sqlx::query_as(select_summaries!(
            "WHERE m.user_id = ? ORDER BY t.last_at DESC, t.id DESC LIMIT ?"
        ))
        .bind(user.0)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(summary_from_row).collect())
    }

    pub(crate) async fn summary(
        &self,
        user: UserId,
        thread: ThreadId,
    ) -> Result<Option<ThreadSummary>, StoreError> {
        let row: Option<SummaryRow> =
            sqlx::query_as(select_summaries!("WHERE m.user_id = ? AND t.id = ?"))
                .bind(user.0)
                .bind(thread.0)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(summary_from_row))
    }
}

/// The user's standing in a thread of their own school, on `conn` (the chat writer's transaction, or a pooled
/// connection).
pub(super) async fn standing(
    conn: &mut SqliteConnection,
    thread: ThreadId,
    user: UserId,
) -> Result<Option<Standing>, StoreError> {
    let row: Option<(i64, i64, i64)> = sqlx::query_as(
        "SELECT t.confidential, t.support_service, EXISTS (SELECT 1 FROM thread_members m \
         WHERE m.thread_id = t.id AND m.user_id = ?1) FROM threads t WHERE t.id = ?2 \
         AND t.school_id = (SELECT school_id FROM users WHERE id = ?1)",
    )
    .bind(user.0)
    .bind(thread.0)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|(confidential, support_service, member)| Standing {
        member: member != 0,
        confidential: confidential != 0,
        support_service: support_service != 0,
    }))
}

/// The members of a thread, on `conn`.
pub(super) async fn members(
    conn: &mut SqliteConnection,
    thread: ThreadId,
) -> Result<Vec<UserId>, StoreError> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT user_id FROM thread_members WHERE thread_id = ? ORDER BY user_id",
    )
    .bind(thread.0)
    .fetch_all(&mut *conn)
    .await?;
    Ok(ids.into_iter().map(UserId).collect())
}

/// Stores a new thread's opening messages as seq 1, 2, ..., and how far each member has read
/// them. Returns the thread's last seq.
async fn store_opening(
    tx: &mut SqliteConnection,
    thread: i64,
    opening: &[OpeningRow],
    now: i64,
) -> Result<i64, StoreError> {
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
        .bind(&message.client_id)
        .execute(&mut *tx)
        .await?;
        let read_seq = opening_read_seq(opening, message.author);
        sqlx::query("UPDATE thread_members SET read_seq = ? WHERE thread_id = ? AND user_id = ?")
            .bind(read_seq)
            .bind(thread)
            .bind(message.author.0)
            .execute(&mut *tx)
            .await?;
    }
    if seq > 0 {
        sqlx::query("UPDATE threads SET last_seq = ? WHERE id = ?")
            .bind(seq)
            .bind(thread)
            .execute(&mut *tx)
            .await?;
    }
    Ok(seq)
}

/// Whether any of `users` is support staff (their threads are confidential).
async fn has_support_member(
    tx: &mut SqliteConnection,
    users: &[UserId],
) -> Result<bool, StoreError> {
    for user in users {
        let role: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE id = ?")
            .bind(user.0)
            .fetch_optional(&mut *tx)
            .await?;
        if role.as_deref() == Some(Role::Support.as_str()) {
            return Ok(true);
        }
    }
    Ok(false)
}
