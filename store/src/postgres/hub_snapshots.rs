//! Hub snapshots and school epochs in PostgreSQL, fenced as docs/cluster.md ("Fencing store
//! writes") says: a claim updates the school's epoch row only upwards; a save first reads that
//! row `FOR SHARE`, which waits for a claim in flight and keeps the row from changing until the
//! save commits, so a save racing a claim either commits before the new epoch lands or is
//! refused after it.

use super::PgStore;
use crate::hub_snapshots::SavedSnapshot;
use crate::{StoreError, now_ms};
use konsult_protocol::SchoolId;

impl PgStore {
    pub(crate) async fn claim_school(
        &self,
        school: SchoolId,
        epoch: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let claimed: Option<i64> = sqlx::query_scalar(
            "INSERT INTO school_epochs (school_id, epoch) VALUES ($1, $2) \
             ON CONFLICT (school_id) DO UPDATE SET epoch = EXCLUDED.epoch \
             WHERE school_epochs.epoch < EXCLUDED.epoch RETURNING epoch",
        )
        .bind(school.0)
        .bind(epoch)
        .fetch_optional(&mut *tx)
        .await?;
        if claimed.is_none() {
            let current: i64 =
                sqlx::query_scalar("SELECT epoch FROM school_epochs WHERE school_id = $1")
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
        let epoch: i64 = sqlx::query_scalar(
            "INSERT INTO school_epochs (school_id, epoch) VALUES ($1, 1) \
             ON CONFLICT (school_id) DO UPDATE SET epoch = school_epochs.epoch + 1 \
             RETURNING epoch",
        )
        .bind(school.0)
        .fetch_one(&self.pool)
        .await?;
        Ok(epoch)
    }

    pub(crate) async fn save_hub_snapshot(
        &self,
        school: SchoolId,
        epoch: i64,
        snapshot: &[u8],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT epoch FROM school_epochs WHERE school_id = $1 FOR SHARE")
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
             VALUES ($1, $2, $3, $4) ON CONFLICT (school_id) DO UPDATE SET \
             epoch = EXCLUDED.epoch, snapshot = EXCLUDED.snapshot, written_at = EXCLUDED.written_at",
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
            "SELECT snapshot, epoch, written_at FROM hub_snapshots WHERE school_id = $1",
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
