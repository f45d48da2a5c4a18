//! Konsult's storage: the [`Store`] every part of the server reads and writes through, the
//! backends behind it (SQLite in `sqlite/`, PostgreSQL in `postgres/`), their migrations
//! (`migrations/`, `migrations-pg/`), and all of the SQL. Nothing outside this crate sees a
//! pool, a connection or a query.

mod error;
mod postgres;
mod sqlite;

pub use error::{RETRY_FOR, StoreError, Transient, retry_transient};

use std::path::Path;

/// Methods of [`Store`] that hand the call to the backend's method of the same name; a second
/// backend adds its arm here.
macro_rules! delegate {
    ($(
        $(#[$meta:meta])*
        pub async fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;
    )*) => {
        $(
            $(#[$meta])*
            pub async fn $name(&self $(, $arg: $ty)*) -> $ret {
                match &self.backend {
                    $crate::Backend::Sqlite(db) => db.$name($($arg),*).await,
                    $crate::Backend::Postgres(db) => db.$name($($arg),*).await,
                }
            }
        )*
    };
}

pub mod anonymous;
pub mod attachments;
pub mod bookings;
pub mod fence;
pub mod hub_snapshots;
pub mod message_writer;
pub mod messages;
pub mod private;
pub mod records;
pub mod school;
pub mod schools;
pub mod threads;
pub mod tokens;
pub mod users;

/// The database handle shared by the server's tasks: one interface, whatever the backend.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
}

/// The databases a [`Store`] can stand on.
#[derive(Clone, Debug)]
enum Backend {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

/// The database file inside the data folder.
pub const DB_FILE: &str = "konsult.db";

impl Store {
    /// Opens (creating when missing) the SQLite database in `data_dir` and migrates it.
    pub async fn open(data_dir: &Path) -> Result<Store, StoreError> {
        Ok(Store {
            backend: Backend::Sqlite(sqlite::SqliteStore::open(data_dir).await?),
        })
    }

    /// Connects to the PostgreSQL database at `url` (`postgres://user@host:port/database`)
    /// and migrates it.
    pub async fn open_url(url: &str) -> Result<Store, StoreError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::Invalid(format!(
                "store.url {:?}: expected postgres://user@host:port/database",
                redact(url)
            )));
        }
        Ok(Store {
            backend: Backend::Postgres(postgres::PgStore::open(url).await?),
        })
    }

    /// The store the configuration names: PostgreSQL at `url` when one is given (config
    /// `store.url`), else SQLite in `data_dir`.
    pub async fn open_configured(url: Option<&str>, data_dir: &Path) -> Result<Store, StoreError> {
        match url {
            Some(url) => Store::open_url(url).await,
            None => Store::open(data_dir).await,
        }
    }

    /// Which database this is, for logs: `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// How many connections to the database the store holds at most.
    pub fn connections(&self) -> usize {
        let max = match &self.backend {
            Backend::Sqlite(db) => db.pool.options().get_max_connections(),
            Backend::Postgres(db) => db.pool.options().get_max_connections(),
        };
        usize::try_from(max).unwrap_or(usize::MAX)
    }

    /// Closes the database after the writes in flight.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(db) => db.close().await,
            Backend::Postgres(db) => db.close().await,
        }
    }
}

/// `url` without the password it may carry, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Milliseconds since the Unix epoch, UTC: how every time is stored.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
