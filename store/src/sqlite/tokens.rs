//! Access tokens revoked by logout, in SQLite.

use super::SqliteStore;
use crate::StoreError;

impl SqliteStore {
    pub(crate) async fn revoke_token(
        &self,
        id: &str,
        expires: u64,
        now: u64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM revoked_tokens WHERE expires < ?")
            .bind(now as i64)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT OR REPLACE INTO revoked_tokens (id, expires) VALUES (?, ?)")
            .bind(id)
            .bind(expires as i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn revoked_tokens(&self, now: u64) -> Result<Vec<(String, u64)>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT id, expires FROM revoked_tokens WHERE expires >= ?")
                .bind(now as i64)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(id, expires)| (id, expires.max(0) as u64))
            .collect())
    }
}
