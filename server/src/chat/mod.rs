//! Chat threads: the offline form of every consultation and the fallback of every live one.
//! This module owns threads and their members; its parts own durable sends with group commit
//! (`writer`), reading (`reads`), receipts and typing (`receipts`), who may create what
//! (`create`), attachments (`attachments`, `sniff`), retention (`purge`), and the WebSocket
//! entry points (`handle`).

pub mod access;
pub mod anonymous_threads;
pub mod attachments;
pub mod create;
pub mod handle;
pub mod purge;
pub mod reads;
pub mod receipts;
pub mod sniff;
pub mod writer;

use crate::directory::{ConnId, Directory};
use crate::store::threads::opening_read_seq;
pub use crate::store::threads::{NewThread, OpeningRow};
use crate::store::{Store, StoreError, Transient};
use crate::wire;
use konsult_protocol::model::ThreadSummary;
use konsult_protocol::{ErrorCode, SchoolId, ServerMessage, ThreadId, UserId};
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
    /// Anonymity asked for where it is not offered (`anonymous_support_only`).
    #[error("{0}")]
    AnonymousSupportOnly(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    /// The writer's queue is full.
    #[error("{0}")]
    Busy(String),
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
            // The database briefly out of reach (PostgreSQL restarting, a lost connection, a
            // lock held too long): nothing was stored, and a retry may well succeed.
            ChatError::Store(e) if e.is_transient() => ErrorCode::Unavailable,
            // A node of a cluster that no longer holds the school: the client resumes on its
            // new owner.
            ChatError::Store(StoreError::Stale { .. }) => ErrorCode::Unavailable,
            ChatError::Store(_) | ChatError::Invalid(_) => ErrorCode::Internal,
            ChatError::BadRequest(_) => ErrorCode::BadRequest,
            ChatError::NotFound(_) => ErrorCode::NotFound,
            ChatError::Forbidden(_) => ErrorCode::Forbidden,
            ChatError::AnonymousSupportOnly(_) => ErrorCode::AnonymousSupportOnly,
            ChatError::Conflict(_) => ErrorCode::Conflict,
            ChatError::TooLarge(_) => ErrorCode::TooLarge,
            ChatError::Busy(_) => ErrorCode::Unavailable,
        }
    }

    /// The message for the client: storage details stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            ChatError::Store(StoreError::Stale { .. }) => {
                "your school moved to another server; reconnect and send again".to_string()
            }
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

/// The start of the `client_id`s of messages the server stores; clients may not use it.
pub const SERVER_CLIENT_ID_PREFIX: &str = "konsult:";

/// The chat service, shared by connection tasks and the hub.
#[derive(Debug, Clone)]
pub struct Chat {
    store: Store,
    directory: Arc<Directory>,
    /// The group-commit writer every `send` goes through.
    pub(crate) writer: writer::Writer,
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

    /// Creates a thread of `school` with its members and tells the online ones with
    /// `thread_added`.
    pub async fn create_thread(
        &self,
        school: SchoolId,
        new: NewThread,
    ) -> Result<ThreadSummary, ChatError> {
        self.create_thread_except(school, new, None).await
    }

    /// Creates a thread; every connection of its members but `except` (the creator's, which
    /// gets the reply) is told with `thread_added`.
    pub async fn create_thread_except(
        &self,
        school: SchoolId,
        new: NewThread,
        except: Option<ConnId>,
    ) -> Result<ThreadSummary, ChatError> {
        let mut new = new;
        new.members.sort();
        new.members.dedup();
        for message in &mut new.opening {
            message.client_id = format!("{SERVER_CLIENT_ID_PREFIX}{}", message.client_id);
        }
        let (id, last_seq) = self.store.create_thread(school, &new).await?;
        if new.support_service {
            // The store added the service's active staff: tell them too. The thread exists,
            // so a failure here only costs them the notice, never the thread.
            match self.store.members(id).await {
                Ok(members) => new.members = members,
                Err(e) => tracing::warn!(error = %e, %id, "support staff not told of a thread"),
            }
        }
        // Only a thread of the support service can hold an anonymous identity; its members
        // are few (the student and the service's staff).
        let mut anonymous = false;
        if new.support_service {
            for member in &new.members {
                if self
                    .store
                    .user_by_id(*member)
                    .await?
                    .is_some_and(|u| u.anonymous)
                {
                    anonymous = true;
                    break;
                }
            }
        }
        let summary = ThreadSummary {
            id,
            kind: new.kind,
            title: new.title.clone(),
            last_seq,
            read_seq: 0,
            unread: 0,
            request: new.request,
            answered: new.request.map(|_| false),
            session: new.session,
            anonymous,
        };
        if new.opening.is_empty() {
            self.announce(&summary, &new.members, except);
        } else {
            for member in &new.members {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_out_of_reach_is_unavailable_and_a_broken_one_internal() {
        let lost = ChatError::Store(StoreError::Db(sqlx_io_error()));
        assert_eq!(lost.code(), ErrorCode::Unavailable);
        let broken = ChatError::Store(StoreError::Invalid("bad row".into()));
        assert_eq!(broken.code(), ErrorCode::Internal);
    }

    /// A lost connection, as sqlx reports it.
    fn sqlx_io_error() -> sqlx::Error {
        sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset))
    }
}
