//! Storage failures, and trying a write again while the database is only busy.

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
    /// A write for a school carried an epoch that no longer owns it: a larger one (`current`)
    /// claimed the school since (0: none ever did). The writer lost the school and must stop
    /// acting for it.
    #[error("school {school}: epoch {epoch} is stale, the school is claimed by epoch {current}")]
    Stale {
        school: konsult_protocol::SchoolId,
        epoch: i64,
        current: i64,
    },
}

/// A failure after which the same write may succeed when tried again.
pub trait Transient {
    fn is_transient(&self) -> bool;
}

impl Transient for StoreError {
    /// SQLite stayed locked past the busy timeout; PostgreSQL gave up a transaction for
    /// another's sake, was unreachable or is restarting; or no pooled connection came free in
    /// time.
    fn is_transient(&self) -> bool {
        match self {
            StoreError::Db(
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed,
            ) => true,
            StoreError::Db(sqlx::Error::Database(e)) => {
                if let Some(pg) = e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                    return pg_transient(pg.code());
                }
                e.code()
                    .and_then(|code| code.parse::<i32>().ok())
                    // SQLITE_BUSY and SQLITE_LOCKED, with any extended code.
                    .is_some_and(|code| matches!(code & 0xff, 5 | 6))
            }
            _ => false,
        }
    }
}

/// Whether a PostgreSQL SQLSTATE names a failure the same statement may survive when tried
/// again: a serialization failure (40001), a deadlock (40P01), a lost or refused connection
/// (class 08), too many connections (53300), or a server shutting down or starting (57P01,
/// 57P02, 57P03).
fn pg_transient(sqlstate: &str) -> bool {
    matches!(
        sqlstate,
        "40001" | "40P01" | "53300" | "57P01" | "57P02" | "57P03"
    ) || sqlstate.starts_with("08")
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
