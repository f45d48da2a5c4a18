//! The database: opening SQLite in WAL mode with durable commits, migrations, and the typed
//! queries each part of the server uses. SQL lives here and nowhere else.

pub mod checkpoint;
pub mod school;
pub mod users;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::time::Duration;

/// A storage failure; the edge maps it to `internal`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Invalid(String),
}

/// A failure after which the same write may succeed when tried again.
pub trait Transient {
    fn is_transient(&self) -> bool;
}

impl Transient for StoreError {
    /// SQLite stayed locked past the busy timeout, or no pooled connection came free in time.
    fn is_transient(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::PoolTimedOut) => true,
            StoreError::Db(sqlx::Error::Database(e)) => e
                .code()
                .and_then(|code| code.parse::<i32>().ok())
                // SQLITE_BUSY and SQLITE_LOCKED, with any extended code.
                .is_some_and(|code| matches!(code & 0xff, 5 | 6)),
            _ => false,
        }
    }
}

/// How long a write that keeps failing transiently is tried again before it is given up.
pub const RETRY_FOR: Duration = Duration::from_secs(120);

/// Runs `write` until it succeeds, fails for good, or has failed transiently for
/// [`RETRY_FOR`]; the pauses between tries grow from 50 ms to 2 s.
pub async fn retry_transient<T, E, F, Fut>(what: &str, mut write: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: Transient + std::fmt::Display,
{
    let deadline = tokio::time::Instant::now() + RETRY_FOR;
    let mut pause = Duration::from_millis(50);
    loop {
        match write().await {
            Err(e) if e.is_transient() && tokio::time::Instant::now() + pause < deadline => {
                tracing::warn!(error = %e, what, retry_in = ?pause, "storage busy; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            done => return done,
        }
    }
}

/// The database handle shared by the server's tasks.
#[derive(Clone, Debug)]
pub struct Store {
    /// Readers and occasional writers; SQLite serialises writers itself.
    pub pool: SqlitePool,
}

/// The database file inside the data folder.
pub const DB_FILE: &str = "konsult.db";

impl Store {
    /// Opens (creating when missing) the database in `data_dir` and migrates it.
    pub async fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Invalid(format!("data folder {}: {e}", data_dir.display())))?;
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join(DB_FILE))
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
        Ok(Store { pool })
    }
}

impl Store {
    /// A write transaction. It takes SQLite's write lock at `BEGIN` (`IMMEDIATE`): a
    /// transaction that reads first and then writes would fail with "database is locked" when
    /// another writer committed in between, instead of waiting its turn.
    pub async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// Milliseconds since the Unix epoch, UTC: how every time is stored.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
