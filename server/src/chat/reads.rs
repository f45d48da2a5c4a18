//! Reading chat: pages of a thread's history (by `before` or `after`, so that a client that was
//! away catches up without gaps) for those who may read it, and a user's thread list with
//! unread counts.

use super::{ChatError, access};
use crate::store::Store;
pub use crate::store::messages::Page;
use konsult_protocol::limits::{DEFAULT_HISTORY_PAGE, MAX_HISTORY_PAGE};
use konsult_protocol::model::{ChatMessage, Role, ThreadSummary};
use konsult_protocol::{ThreadId, UserId};

/// Most threads `threads` lists, newest activity first.
pub const MAX_THREADS_LISTED: i64 = 500;

/// The page asked for, or `bad_request` for both directions at once.
pub fn page(before: Option<i64>, after: Option<i64>) -> Result<Page, ChatError> {
    match (before, after) {
        (None, None) => Ok(Page::Latest),
        (Some(b), None) => Ok(Page::Before(b)),
        (None, Some(a)) => Ok(Page::After(a)),
        (Some(_), Some(_)) => Err(ChatError::BadRequest(
            "give `before` or `after`, not both".into(),
        )),
    }
}

/// The page size for a requested `limit`: 50 by default, at most 200, at least 1.
pub fn page_size(limit: Option<u32>) -> u32 {
    limit
        .unwrap_or(DEFAULT_HISTORY_PAGE)
        .clamp(1, MAX_HISTORY_PAGE)
}

/// A page of a thread's messages, oldest first, and whether more remain in that direction.
/// Only those who may read the thread get it; an admin's read of a thread they are not in is
/// audited first.
pub async fn history(
    store: &Store,
    user: UserId,
    role: Role,
    thread: ThreadId,
    page: Page,
    limit: u32,
) -> Result<(Vec<ChatMessage>, bool), ChatError> {
    let standing = access::require_read(store, thread, user, role).await?;
    if standing.admin_reads_as_outsider(role) {
        let details = serde_json::json!({ "via": "history" });
        access::audit_outsider_read(store, user, thread, details).await?;
    }
    Ok(store.history(thread, page, limit).await?)
}

/// The user's threads, newest activity first (at most [`MAX_THREADS_LISTED`]).
pub async fn threads(store: &Store, user: UserId) -> Result<Vec<ThreadSummary>, ChatError> {
    Ok(store.threads(user, MAX_THREADS_LISTED).await?)
}
