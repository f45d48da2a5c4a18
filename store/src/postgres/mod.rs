//! The PostgreSQL backend: the pool, its migrations (`migrations-pg/`), and the queries of
//! each area in a module of its own, as `sqlite/` has them. Commits are durable
//! (`synchronous_commit` on, PostgreSQL's default) before any caller is answered.

mod anonymous;
mod attachments;
mod bookings;
mod bulk;
mod hub_snapshots;
pub(crate) mod messages;
mod records;
mod school;
mod schools;
mod threads;
mod tokens;
mod users;

use crate::StoreError;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// A PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PgStore {
    /// Readers and writers; row locks order the writers of one row.
    pub(crate) pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/database`) and migrates the database.
    pub(crate) async fn open(url: &str) -> Result<PgStore, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Invalid(format!("store.url: {e}")))?
            .application_name("konsult");
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations-pg").run(&pool).await?;
        Ok(PgStore { pool })
    }

    /// Closes the pool after the queries in flight.
    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}
