//! Who may read and write a thread: members read and write; admins may read threads they are
//! not in, for the school's record, except confidential ones (a support staff member is in
//! them, or they are the support service's), and each such read is audited. Everyone else
//! learns nothing, not even that the thread exists.

use super::{ChatError, no_thread};
use crate::store::Store;
pub use crate::store::threads::Standing;
use konsult_protocol::model::Role;
use konsult_protocol::{ThreadId, UserId};

/// Refuses (as `not_found`) a user who may not read the thread.
pub async fn require_read(
    store: &Store,
    thread: ThreadId,
    user: UserId,
    role: Role,
) -> Result<Standing, ChatError> {
    match store.standing(thread, user).await? {
        Some(s) if s.may_read(role) => Ok(s),
        _ => Err(no_thread(thread)),
    }
}

/// The audit log's action for an admin reading a thread they are not in.
pub const OUTSIDER_READ: &str = "thread.read";

/// Writes who read which thread they are not a member of (the time is the entry's), in the
/// reader's school's log. The read is refused when this cannot be written: no unaudited reads.
pub async fn audit_outsider_read(
    store: &Store,
    reader: UserId,
    thread: ThreadId,
    details: serde_json::Value,
) -> Result<(), ChatError> {
    let school = store
        .user_by_id(reader)
        .await?
        .map(|u| u.school)
        .ok_or_else(|| no_thread(thread))?;
    store
        .audit(
            school,
            Some(reader),
            OUTSIDER_READ,
            Some(&thread.to_string()),
            details,
        )
        .await?;
    Ok(())
}

/// Refuses (as `not_found`) a user who is not a member of the thread.
pub async fn require_member(
    store: &Store,
    thread: ThreadId,
    user: UserId,
) -> Result<(), ChatError> {
    match store.standing(thread, user).await? {
        Some(s) if s.member => Ok(()),
        _ => Err(no_thread(thread)),
    }
}
