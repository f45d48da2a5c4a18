//! The SQLite backend: the pool (WAL, durable commits), migrations, the background
//! checkpoint, and the queries of each area in a module of its own.

mod anonymous;
mod attachments;
mod bookings;
mod bulk;
mod checkpoint;
mod hub_snapshots;
pub(crate) mod messages;
mod records;
mod school;
mod schools;
mod threads;
mod tokens;
mod users;

use crate::{DB_FILE, StoreError};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::time::Duration;

/// A SQLite database in WAL mode.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// Readers and occasional writers; SQLite serialises writers itself.
    pub(crate) pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating when missing) the database in `data_dir` and migrates it.
    pub(crate) async fn open(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        let invalid = |path: &Path, e: std::io::Error| {
            StoreError::Invalid(format!("data folder {}: {e}", path.display()))
        };
        crate::private::dir(data_dir).map_err(|e| invalid(data_dir, e))?;
        // The database is made here, 0600, before SQLite opens it: SQLite gives its WAL and
        // shared-memory files the database's mode.
        let db = data_dir.join(DB_FILE);
        crate::private::file(&db).map_err(|e| invalid(&db, e))?;
        for suffix in ["-wal", "-shm"] {
            let mut name = db.clone().into_os_string();
            name.push(suffix);
            let path = std::path::PathBuf::from(name);
            crate::private::tighten(&path, crate::private::FILE_MODE)
                .map_err(|e| invalid(&path, e))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(&db)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: every commit is fsynced to the WAL, so an acknowledged write survives a
            // crash or power loss.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // A commit checkpoints only when the background task has fallen this far behind.
            .pragma("wal_autocheckpoint", checkpoint::WAL_AUTOCHECKPOINT_PAGES);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        tokio::spawn(checkpoint::run(pool.clone()));
        Ok(SqliteStore { pool })
    }

    /// Closes the pool; the checkpoint task ends with it.
    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }

    /// A write transaction. It takes SQLite's write lock at `BEGIN` (`IMMEDIATE`): a
    /// transaction that reads first and then writes would fail with "database is locked" when
    /// another writer committed in between, instead of waiting its turn.
    pub(crate) async fn write_tx(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

#[cfg(test)]
mod schools_tests;
