//! Schools in SQLite.

use super::SqliteStore;
use crate::schools::{School, normalize_code};
use crate::{StoreError, now_ms};
use konsult_protocol::SchoolId;

/// The links a new school's help page starts with.
const DEFAULT_HELP_LINKS: [(&str, &str); 2] = [
    ("Российская электронная школа", "https://resh.edu.ru/"),
    ("Библиотека МЭШ", "https://uchebnik.mos.ru/"),
];

type SchoolRow = (i64, String, String, String);

fn school_from_row((id, code, name, timezone): SchoolRow) -> School {
    School {
        id: SchoolId(id),
        code,
        name,
        timezone,
    }
}

impl SqliteStore {
    pub(crate) async fn create_school(
        &self,
        code: &str,
        name: &str,
        timezone: &str,
    ) -> Result<SchoolId, StoreError> {
        let code = normalize_code(code)?;
        let mut tx = self.write_tx().await?;
        let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM schools WHERE code = ?")
            .bind(&code)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(StoreError::Invalid(format!(
                "a school with code {code:?} already exists"
            )));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO schools (code, name, timezone, created_at) VALUES (?, ?, ?, ?) \
             RETURNING id",
        )
        .bind(&code)
        .bind(name)
        .bind(timezone)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        for (position, (title, url)) in DEFAULT_HELP_LINKS.iter().enumerate() {
            sqlx::query(
                "INSERT INTO help_links (school_id, title, url, position) VALUES (?, ?, ?, ?)",
            )
            .bind(id)
            .bind(title)
            .bind(url)
            .bind(position as i64 + 1)
            .execute(&mut *tx)
            .await?;
        }
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
        let row: Option<SchoolRow> =
            sqlx::query_as("SELECT id, code, name, timezone FROM schools WHERE code = ?")
                .bind(code.trim())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(school_from_row))
    }

    pub(crate) async fn school_by_id(&self, id: SchoolId) -> Result<Option<School>, StoreError> {
        let row: Option<SchoolRow> =
            sqlx::query_as("SELECT id, code, name, timezone FROM schools WHERE id = ?")
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
        sqlx::query("UPDATE schools SET name = ?, timezone = ? WHERE id = ?")
            .bind(name)
            .bind(timezone)
            .bind(id.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
