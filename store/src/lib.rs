//! Konsult's storage: the [`Store`] every part of the server reads and writes through, the
//! backends behind it (SQLite in `sqlite/`), the migrations, and all of the SQL. Nothing
//! outside this crate sees a pool, a connection or a query.

mod error;
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
                }
            }
        )*
    };
}

pub mod attachments;
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

    /// Closes the database after the writes in flight.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(db) => db.close().await,
        }
    }
}

/// Milliseconds since the Unix epoch, UTC: how every time is stored.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
