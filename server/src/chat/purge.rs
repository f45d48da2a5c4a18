//! Retention: `konsult purge --older-than 365d` deletes messages older than the cutoff, then
//! attachments older than it that no message refers to any more, then the files no attachment
//! names. Threads keep their `last_seq`, so seqs never repeat; history simply starts later.

use super::ChatError;
use super::attachments::file_path;
use crate::store::{Store, now_ms};
use std::path::Path;
use std::time::Duration;

/// What a purge deleted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub messages: u64,
    pub attachments: u64,
    pub files: u64,
}

/// Deletes what is older than `older_than`; attachment files live under `dir`.
pub async fn purge(store: &Store, dir: &Path, older_than: Duration) -> Result<Purged, ChatError> {
    let cutoff = now_ms().saturating_sub(i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX));
    let rows = store.purge(cutoff).await?;
    let mut files = 0;
    for sha in rows.orphaned {
        match std::fs::remove_file(file_path(dir, &sha)) {
            Ok(()) => files += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(error = %e, sha256 = %sha, "cannot delete an attachment file"),
        }
    }
    Ok(Purged {
        messages: rows.messages,
        attachments: rows.attachments,
        files,
    })
}
