//! Schools in PostgreSQL: a code is unique whatever its case (`schools_code` on `lower(code)`).

use super::{PgStore, school};
use crate::schools::{School, normalize_code};
use crate::{StoreError, now_ms};
use konsult_protocol::SchoolId;

type SchoolRow = (i64, String, String, String);

fn school_from_row((id, code, name, timezone): SchoolRow) -> School {
    School {
        id: SchoolId(id),
        code,
        name,
        timezone,
    }
}

impl PgStore {
    pub(crate) async fn create_school(
        &self,
        code: &str,
        name: &str,
        timezone: &str,
    ) -> Result<SchoolId, StoreError> {
        let code = normalize_code(code)?;
        let mut tx = self.pool.begin().await?;
        // A code taken concurrently leaves this insert with nothing to return.
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO schools (code, name, timezone, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (lower(code)) DO NOTHING RETURNING id",
        )
        .bind(&code)
        .bind(name)
        .bind(timezone)
        .bind(now_ms())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Err(StoreError::Invalid(format!(
                "a school with code {code:?} already exists"
            )));
        };
        school::default_help_links(&mut tx, id).await?;
        tx.commit().await?;
        Ok(SchoolId(id))
    }

    pub(crate) async fn schools(&self) -> Result<Vec<School>, StoreError> {
        let rows: Vec<SchoolRow> =
            sqlx::query_as("SELECT id, code, name, timezone FROM schools ORDER BY code")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(school_from_row).collect())
    }

    pub(crate) async fn school_by_code(&self, code: &str) -> Result<Option<School>, StoreError> {
        let row: Option<SchoolRow> = sqlx::query_as(
            "SELECT id, code, name, timezone FROM schools WHERE lower(code) = lower($1)",
        )
        .bind(code.trim())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(school_from_row))
    }

    pub(crate) async fn school_by_id(&self, id: SchoolId) -> Result<Option<School>, StoreError> {
        let row: Option<SchoolRow> =
            sqlx::query_as("SELECT id, code, name, timezone FROM schools WHERE id = $1")
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(school_from_row))
    }

    pub(crate) async fn update_school(
        &self,
        id: SchoolId,
        name: &str,
        timezone: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE schools SET name = $1, timezone = $2 WHERE id = $3")
            .bind(name)
            .bind(timezone)
            .bind(id.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
