//! Access tokens revoked by logout, in PostgreSQL.

use super::PgStore;
use crate::StoreError;

impl PgStore {
    pub(crate) async fn revoke_token(
        &self,
        id: &str,
        expires: u64,
        now: u64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM revoked_tokens WHERE expires < $1")
            .bind(now as i64)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO revoked_tokens (id, expires) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET expires = excluded.expires",
        )
        .bind(id)
        .bind(expires as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn revoked_tokens(&self, now: u64) -> Result<Vec<(String, u64)>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT id, expires FROM revoked_tokens WHERE expires >= $1")
                .bind(now as i64)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(id, expires)| (id, expires.max(0) as u64))
            .collect())
    }
}
