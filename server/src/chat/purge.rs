//! Retention: `konsult purge --older-than 365d` deletes messages older than the cutoff, then
//! attachments older than it that no message refers to any more, then the files no attachment
//! names. It works in batches, each its own short transaction, and reports after each one, so
//! that a large purge neither holds the database nor stays silent. Threads keep their
//! `last_seq`, so seqs never repeat; history simply starts later.

use super::ChatError;
use super::attachments::file_path;
use crate::store::{Store, now_ms};
use std::path::Path;
use std::time::Duration;

/// The batch a purge deletes in one transaction when the caller names none.
pub const DEFAULT_BATCH: u32 = 1_000;

/// What a purge deleted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub messages: u64,
    pub attachments: u64,
    pub files: u64,
}

/// Which rows a [`PurgeProgress`] counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PurgeStage {
    Messages,
    Attachments,
}

impl PurgeStage {
    /// The rows' name in a progress line.
    pub fn noun(self) -> &'static str {
        match self {
            PurgeStage::Messages => "messages",
            PurgeStage::Attachments => "attachments",
        }
    }
}

/// Where a purge stands after a batch: `done` of the `total` rows of `stage` deleted. `total`
/// is counted when the stage begins; rows that grow old meanwhile may take `done` past it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PurgeProgress {
    pub stage: PurgeStage,
    pub done: u64,
    pub total: u64,
}

/// Deletes what is older than `older_than`, `batch` rows per transaction (at least 1);
/// attachment files live under `dir`. `progress` hears of every batch.
pub async fn purge(
    store: &Store,
    dir: &Path,
    older_than: Duration,
    batch: u32,
    progress: &mut dyn FnMut(PurgeProgress),
) -> Result<Purged, ChatError> {
    let cutoff = now_ms().saturating_sub(i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX));
    let batch = batch.max(1);
    let mut purged = Purged::default();

    let total = store.old_messages(cutoff).await?;
    loop {
        let deleted = store.purge_messages(cutoff, batch).await?;
        if deleted == 0 {
            break;
        }
        purged.messages += deleted;
        progress(PurgeProgress {
            stage: PurgeStage::Messages,
            done: purged.messages,
            total: total.max(purged.messages),
        });
    }

    let total = store.unreferenced_attachments(cutoff).await?;
    loop {
        let rows = store.purge_attachments(cutoff, batch).await?;
        if rows.attachments == 0 {
            break;
        }
        purged.attachments += rows.attachments;
        for sha in rows.orphaned {
            match std::fs::remove_file(file_path(dir, &sha)) {
                Ok(()) => purged.files += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(error = %e, sha256 = %sha, "cannot delete an attachment file");
                }
            }
        }
        progress(PurgeProgress {
            stage: PurgeStage::Attachments,
            done: purged.attachments,
            total: total.max(purged.attachments),
        });
    }
    Ok(purged)
}
