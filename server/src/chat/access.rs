//! Who may read and write a thread: members read and write; admins may read threads they are
//! not in, for the school's record, except confidential ones (a support staff member is in
//! them). Everyone else learns nothing, not even that the thread exists.

use super::{ChatError, no_thread};
use konsult_protocol::model::Role;
use konsult_protocol::{ThreadId, UserId};
use sqlx::SqliteConnection;

/// A user's standing in one thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    pub member: bool,
    pub confidential: bool,
}

impl Standing {
    /// Whether a user of `role` with this standing may read the thread.
    pub fn may_read(self, role: Role) -> bool {
        self.member || (role == Role::Admin && !self.confidential)
    }
}

/// The user's standing in a thread, `None` when the thread does not exist.
pub async fn standing(
    conn: &mut SqliteConnection,
    thread: ThreadId,
    user: UserId,
) -> Result<Option<Standing>, ChatError> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT t.confidential, EXISTS (SELECT 1 FROM thread_members m \
         WHERE m.thread_id = t.id AND m.user_id = ?) FROM threads t WHERE t.id = ?",
    )
    .bind(user.0)
    .bind(thread.0)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|(confidential, member)| Standing {
        member: member != 0,
        confidential: confidential != 0,
    }))
}

/// Refuses (as `not_found`) a user who may not read the thread.
pub async fn require_read(
    conn: &mut SqliteConnection,
    thread: ThreadId,
    user: UserId,
    role: Role,
) -> Result<Standing, ChatError> {
    match standing(conn, thread, user).await? {
        Some(s) if s.may_read(role) => Ok(s),
        _ => Err(no_thread(thread)),
    }
}

/// Refuses (as `not_found`) a user who is not a member of the thread.
pub async fn require_member(
    conn: &mut SqliteConnection,
    thread: ThreadId,
    user: UserId,
) -> Result<(), ChatError> {
    match standing(conn, thread, user).await? {
        Some(s) if s.member => Ok(()),
        _ => Err(no_thread(thread)),
    }
}

/// The members of a thread.
pub async fn members(
    conn: &mut SqliteConnection,
    thread: ThreadId,
) -> Result<Vec<UserId>, ChatError> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT user_id FROM thread_members WHERE thread_id = ? ORDER BY user_id",
    )
    .bind(thread.0)
    .fetch_all(&mut *conn)
    .await?;
    Ok(ids.into_iter().map(UserId).collect())
}
