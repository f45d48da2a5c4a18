//! Chat threads in PostgreSQL: creating them, members and standing, read marks, thread lists.

use super::PgStore;
use crate::threads::{NewThread, OpeningRow, ReadMark, Standing, opening_read_seq};
use crate::{StoreError, now_ms};
use konsult_protocol::model::{Role, ThreadKind, ThreadSummary};
use konsult_protocol::{RequestId, SchoolId, SessionId, ThreadId, UserId};
use sqlx::PgConnection;

/// `id, kind, title, last_seq, read_seq, request_id, answered, session_id, anonymous` of a
/// listed thread.
type SummaryRow = (
    i64,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    bool,
    Option<i64>,
    bool,
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
        answered: request.map(|_| answered),
        session: session.map(SessionId),
        anonymous,
    }
}

/// `SELECT` of a member's thread summaries, followed by a constant condition.
macro_rules! select_summaries {
    ($condition:literal) => {
        concat!(
            "SELECT t.id, t.kind, t.title, t.last_seq, m.read_seq, t.request_id, t.answered, ",
            "t.session_id, EXISTS (SELECT 1 FROM thread_members am JOIN users au ",
            "ON au.id = am.user_id WHERE am.thread_id = t.id AND au.anonymous) AS anonymous ",
            "FROM thread_members m JOIN threads t ON t.id = m.thread_id ",
            $condition
        )
    };
}

impl PgStore {
    pub(crate) async fn create_thread(
        &self,
        school: SchoolId,
        new: &NewThread,
    ) -> Result<(ThreadId, i64), StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let confidential = new.support_service || has_support_member(&mut tx, &new.members).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO threads (school_id, kind, title, class, request_id, session_id, \
             confidential, support_service, created_by, created_at, last_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
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
        .fetch_one(&mut *tx)
        .await?;
        let members: Vec<i64> = new.members.iter().map(|m| m.0).collect();
        sqlx::query(
            "INSERT INTO thread_members (thread_id, user_id, joined_at) \
             SELECT $1, u, $2 FROM unnest($3::BIGINT[]) AS u ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(now)
        .bind(&members)
        .execute(&mut *tx)
        .await?;
        if new.support_service {
            // The service answers, whoever of it is active now in the thread's school. Later
            // staff join through the triggers of the schema.
            sqlx::query(
                "INSERT INTO thread_members (thread_id, user_id, joined_at) \
                 SELECT $1, id, $2 FROM users WHERE school_id = $3 AND role = $4 AND active \
                 ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(now)
            .bind(school.0)
            .bind(Role::Support.as_str())
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
             JOIN thread_members ma ON ma.thread_id = t.id AND ma.user_id = $1 \
             JOIN thread_members mb ON mb.thread_id = t.id AND mb.user_id = $2 \
             WHERE t.school_id = $3 AND t.kind = 'personal' AND t.request_id IS NULL \
             AND t.session_id IS NULL \
             AND (SELECT count(*) FROM thread_members m WHERE m.thread_id = t.id) = 2 \
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
             JOIN threads t ON t.id = m.thread_id WHERE m.thread_id = $1 AND m.user_id = $2",
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
            "UPDATE thread_members SET read_seq = $1 WHERE thread_id = $2 AND user_id = $3 \
             AND read_seq < $1",
        )
        .bind(seq)
        .bind(thread.0)
        .bind(user.0)
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
            "WHERE m.user_id = $1 ORDER BY t.last_at DESC, t.id DESC LIMIT $2"
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
            sqlx::query_as(select_summaries!("WHERE m.user_id = $1 AND t.id = $2"))
                .bind(user.0)
                .bind(thread.0)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(summary_from_row))
    }
}

/// The user's standing in a thread of their own school (a thread of another school is as
/// good as missing), on `conn` (the chat writer's transaction, or a pooled connection).
pub(super) async fn standing(
    conn: &mut PgConnection,
    thread: ThreadId,
    user: UserId,
) -> Result<Option<Standing>, StoreError> {
    let row: Option<(bool, bool, bool)> = sqlx::query_as(
        "SELECT t.confidential, t.support_service, EXISTS (SELECT 1 FROM thread_members m \
         WHERE m.thread_id = t.id AND m.user_id = $1) FROM threads t WHERE t.id = $2 \
         AND t.school_id = (SELECT school_id FROM users WHERE id = $1)",
    )
    .bind(user.0)
    .bind(thread.0)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|(confidential, support_service, member)| Standing {
        member,
        confidential,
        support_service,
    }))
}

/// The members of a thread, on `conn`.
pub(super) async fn members(
    conn: &mut PgConnection,
    thread: ThreadId,
) -> Result<Vec<UserId>, StoreError> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT user_id FROM thread_members WHERE thread_id = $1 ORDER BY user_id",
    )
    .bind(thread.0)
    .fetch_all(&mut *conn)
    .await?;
    Ok(ids.into_iter().map(UserId).collect())
}

/// Stores a new thread's opening messages as seq 1, 2, ..., and how far each member has read
/// them. Returns the thread's last seq.
async fn store_opening(
    tx: &mut PgConnection,
    thread: i64,
    opening: &[OpeningRow],
    now: i64,
) -> Result<i64, StoreError> {
    let mut seq = 0;
    for message in opening {
        seq += 1;
        sqlx::query(
            "INSERT INTO messages (thread_id, seq, sender, text, ts, client_id) \
             VALUES ($1, $2, $3, $4, $5, $6)",
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
        sqlx::query(
            "UPDATE thread_members SET read_seq = $1 WHERE thread_id = $2 AND user_id = $3",
        )
        .bind(read_seq)
        .bind(thread)
        .bind(message.author.0)
        .execute(&mut *tx)
        .await?;
    }
    if seq > 0 {
        sqlx::query("UPDATE threads SET last_seq = $1 WHERE id = $2")
            .bind(seq)
            .bind(thread)
            .execute(&mut *tx)
            .await?;
    }
    Ok(seq)
}

/// Whether any of `users` is support staff (their threads are confidential).
async fn has_support_member(tx: &mut PgConnection, users: &[UserId]) -> Result<bool, StoreError> {
    let ids: Vec<i64> = users.iter().map(|u| u.0).collect();
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = ANY($1) AND role = $2)")
            .bind(&ids)
            .bind(Role::Support.as_str())
            .fetch_one(&mut *tx)
            .await?,
    )
}
