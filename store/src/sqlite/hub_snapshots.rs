//! Hub snapshots and school epochs in SQLite: each claim and each save is one `BEGIN
//! IMMEDIATE` transaction, so a save reads the epoch and writes under the same write lock.

use super::SqliteStore;
use crate::hub_snapshots::SavedSnapshot;
use crate::{StoreError, now_ms};
use konsult_protocol::SchoolId;

impl SqliteStore {
    pub(crate) async fn claim_school(
        &self,
        school: SchoolId,
        epoch: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let claimed: Option<i64> = sqlx::query_scalar(
            "INSERT INTO school_epochs (school_id, epoch) VALUES (?, ?) \
             ON CONFLICT (school_id) DO UPDATE SET epoch = excluded.epoch \
             WHERE school_epochs.epoch < excluded.epoch RETURNING epoch",
        )
        .bind(school.0)
        .bind(epoch)
        .fetch_optional(&mut *tx)
        .await?;
        if claimed.is_none() {
            let current: i64 =
                sqlx::query_scalar("SELECT epoch FROM school_epochs WHERE school_id = ?")
                    .bind(school.0)
                    .fetch_one(&mut *tx)
                    .await?;
            return Err(StoreError::Stale {
                school,
                epoch,
                current,
            });
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn claim_next_epoch(&self, school: SchoolId) -> Result<i64, StoreError> {
        let mut tx = self.write_tx().await?;
        let epoch: i64 = sqlx::query_scalar(
            "INSERT INTO school_epochs (school_id, epoch) VALUES (?, 1) \
             ON CONFLICT (school_id) DO UPDATE SET epoch = school_epochs.epoch + 1 \
             RETURNING epoch",
        )
        .bind(school.0)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(epoch)
    }

    pub(crate) async fn save_hub_snapshot(
        &self,
        school: SchoolId,
        epoch: i64,
        snapshot: &[u8],
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT epoch FROM school_epochs WHERE school_id = ?")
                .bind(school.0)
                .fetch_optional(&mut *tx)
                .await?;
        if current != Some(epoch) {
            return Err(StoreError::Stale {
                school,
                epoch,
                current: current.unwrap_or(0),
            });
        }
        sqlx::query(
            "INSERT INTO hub_snapshots (school_id, epoch, snapshot, written_at) \
             VALUES (?, ?, ?, ?) ON CONFLICT (school_id) DO UPDATE SET \
             epoch = excluded.epoch, snapshot = excluded.snapshot, written_at = excluded.written_at",
        )
        .bind(school.0)
        .bind(epoch)
        .bind(snapshot)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn hub_snapshot(
        &self,
        school: SchoolId,
    ) -> Result<Option<SavedSnapshot>, StoreError> {
        let row: Option<(Vec<u8>, i64, i64)> = sqlx::query_as(
            "SELECT snapshot, epoch, written_at FROM hub_snapshots WHERE school_id = ?",
        )
        .bind(school.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(snapshot, epoch, written_at)| SavedSnapshot {
            snapshot,
            epoch,
            written_at,
        }))
    }
}
