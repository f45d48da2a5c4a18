//! Retention: `konsult purge --older-than 365d` deletes messages older than the cutoff, then
//! attachments older than it that no message refers to any more, then the files no attachment
//! names. Threads keep their `last_seq`, so seqs never repeat; history simply starts later.

use super::ChatError;
use super::attachments::file_path;
use crate::store::{Store, now_ms};
use std::collections::BTreeSet;
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
    let mut tx = store.write_tx().await?;
    // Their message_attachments rows go with them (ON DELETE CASCADE).
    let messages = sqlx::query("DELETE FROM messages WHERE ts < ?")
        .bind(cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    // An upload younger than the cutoff may still be about to be sent: it stays.
    let shas: Vec<String> = sqlx::query_scalar(
        "DELETE FROM attachments WHERE created_at < ? AND NOT EXISTS \
         (SELECT 1 FROM message_attachments ma WHERE ma.attachment_id = attachments.id) \
         RETURNING sha256",
    )
    .bind(cutoff)
    .fetch_all(&mut *tx)
    .await?;
    let attachments = shas.len() as u64;
    let shas: BTreeSet<String> = shas.into_iter().collect();
    let mut orphaned = Vec::new();
    for sha in shas {
        let still_used: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM attachments WHERE sha256 = ? LIMIT 1")
                .bind(&sha)
                .fetch_optional(&mut *tx)
                .await?;
        if still_used.is_none() {
            orphaned.push(sha);
        }
    }
    tx.commit().await?;
    let mut files = 0;
    for sha in orphaned {
        match std::fs::remove_file(file_path(dir, &sha)) {
            Ok(()) => files += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(error = %e, sha256 = %sha, "cannot delete an attachment file"),
        }
    }
    Ok(Purged {
        messages,
        attachments,
        files,
    })
}
