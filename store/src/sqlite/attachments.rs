//! Attachments' rows and retention in SQLite.

use super::SqliteStore;
use crate::attachments::{AttachmentRow, NewAttachment, PurgedAttachments, ThreadAccess};
use crate::{StoreError, now_ms};
use konsult_protocol::{ThreadId, UserId};
use std::collections::BTreeSet;

impl SqliteStore {
    pub(crate) async fn insert_attachment(
        &self,
        attachment: &NewAttachment<'_>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO attachments (id, sha256, name, content_type, size, uploader, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&attachment.id.0)
        .bind(attachment.sha256)
        .bind(attachment.name)
        .bind(attachment.content_type)
        .bind(attachment.size as i64)
        .bind(attachment.uploader.0)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn attachment(&self, id: &str) -> Result<Option<AttachmentRow>, StoreError> {
        let row: Option<(String, String, String, i64, i64)> = sqlx::query_as(
            "SELECT sha256, name, content_type, size, uploader FROM attachments WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(
            |(sha256, name, content_type, size, uploader)| AttachmentRow {
                sha256,
                name,
                content_type,
                size: size.max(0) as u64,
                uploader: UserId(uploader),
            },
        ))
    }

    pub(crate) async fn attachment_access(
        &self,
        id: &str,
        user: UserId,
        admin: bool,
    ) -> Result<Option<ThreadAccess>, StoreError> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT t.id, EXISTS (SELECT 1 FROM thread_members tm \
             WHERE tm.thread_id = t.id AND tm.user_id = ?1) AS member \
             FROM message_attachments ma JOIN messages m ON m.id = ma.message_id \
             JOIN threads t ON t.id = m.thread_id \
             WHERE ma.attachment_id = ?2 AND NOT (?3 AND t.support_service = 1) \
             AND t.school_id = (SELECT school_id FROM users WHERE id = ?1) \
             AND (member OR (?3 AND t.confidential = 0)) \
             ORDER BY member DESC, t.id LIMIT 1",
        )
        .bind(user.0)
        .bind(id)
        .bind(admin)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(thread, member)| ThreadAccess {
            thread: ThreadId(thread),
            member: member != 0,
        }))
    }

    pub(crate) async fn old_messages(&self, cutoff: i64) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE ts < ?")
            .bind(cutoff)
            .fetch_one(&self.pool)
            .await?;
        Ok(count.max(0) as u64)
    }

    pub(crate) async fn purge_messages(&self, cutoff: i64, limit: u32) -> Result<u64, StoreError> {
        let mut tx = self.write_tx().await?;
        // Their message_attachments rows go with them (ON DELETE CASCADE).
        let deleted = sqlx::query(
            "DELETE FROM messages WHERE id IN \
             (SELECT id FROM messages WHERE ts < ? ORDER BY id LIMIT ?)",
        )
        .bind(cutoff)
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(deleted)
    }

    pub(crate) async fn unreferenced_attachments(&self, cutoff: i64) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM attachments WHERE created_at < ? AND NOT EXISTS \
             (SELECT 1 FROM message_attachments ma WHERE ma.attachment_id = attachments.id)",
        )
        .bind(cutoff)
        .fetch_one(&self.pool)
        .await?;
        Ok(count.max(0) as u64)
    }

    pub(crate) async fn purge_attachments(
        &self,
        cutoff: i64,
        limit: u32,
    ) -> Result<PurgedAttachments, StoreError> {
        let mut tx = self.write_tx().await?;
        let shas: Vec<String> = sqlx::query_scalar(
            "DELETE FROM attachments WHERE id IN \
             (SELECT id FROM attachments WHERE created_at < ? AND NOT EXISTS \
              (SELECT 1 FROM message_attachments ma WHERE ma.attachment_id = attachments.id) \
              ORDER BY created_at, id LIMIT ?) \
             RETURNING sha256",
        )
        .bind(cutoff)
        .bind(i64::from(limit))
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
        Ok(PurgedAttachments {
            attachments,
            orphaned,
        })
    }
}
