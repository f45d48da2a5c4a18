//! Chat messages through the [`Store`]: the writer that stores a batch of sends in one
//! transaction (one commit, one fsync, shared by every sender in the batch), and pages of a
//! thread's history.

use crate::messages::{NewMessage, Page, SendOutcome};
use crate::{Backend, Store, StoreError, postgres, sqlite};
use konsult_protocol::model::ChatMessage;
use konsult_protocol::{SchoolId, ThreadId};

/// A school and the epoch its writer claimed it under.
pub type Fence = (SchoolId, i64);

/// The first of `fences` whose epoch is not the one `current` reports (none: the school was
/// never claimed), as the [`StoreError::Stale`] that refuses the write.
pub(crate) fn first_stale(fences: &[Fence], current: &[(i64, i64)]) -> Option<StoreError> {
    fences.iter().find_map(|(school, epoch)| {
        let now = current
            .iter()
            .find(|(id, _)| *id == school.0)
            .map_or(0, |(_, e)| *e);
        (now != *epoch).then_some(StoreError::Stale {
            school: *school,
            epoch: *epoch,
            current: now,
        })
    })
}

/// Stores batches of sends, each in one transaction on a connection of its own. One task
/// owns it (the chat writer), so batches never wait on each other's locks.
#[derive(Debug)]
pub struct MessageWriter {
    backend: WriterBackend,
}

#[derive(Debug)]
enum WriterBackend {
    Sqlite(sqlite::messages::Writer),
    Postgres(postgres::messages::Writer),
}

impl MessageWriter {
    /// Stores `batch` in one transaction and commits it: every outcome holds only once the
    /// commit is durable. On `Err` nothing of the batch was stored.
    ///
    /// `fences` are the schools the batch writes for, each with the epoch its writer claimed
    /// it under (a node of a cluster; none for one node alone): the transaction first locks
    /// those schools' epochs and is refused with [`StoreError::Stale`], naming the first
    /// school whose epoch moved on, before anything is written.
    pub async fn write(
        &mut self,
        batch: &[NewMessage<'_>],
        fences: &[Fence],
    ) -> Result<Vec<SendOutcome>, StoreError> {
        match &mut self.backend {
            WriterBackend::Sqlite(writer) => writer.write(batch, fences).await,
            WriterBackend::Postgres(writer) => writer.write(batch, fences).await,
        }
    }
}

impl Store {
    /// The writer of chat sends; see [`MessageWriter`].
    pub fn message_writer(&self) -> MessageWriter {
        let backend = match &self.backend {
            Backend::Sqlite(db) => WriterBackend::Sqlite(db.message_writer()),
            Backend::Postgres(db) => WriterBackend::Postgres(db.message_writer()),
        };
        MessageWriter { backend }
    }

    delegate! {
        /// A page of a thread's messages, oldest first, with their attachments, and whether
        /// more remain in that direction. Whether the reader may see it is the caller's check.
        pub async fn history(&self, thread: ThreadId, page: Page, limit: u32) -> Result<(Vec<ChatMessage>, bool), StoreError>;
    }
}
