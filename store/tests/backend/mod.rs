//! The store's tests run once per backend: a fresh SQLite database in a temporary folder, or
//! a fresh PostgreSQL database with a random name (created on the server that
//! `KONSULT_TEST_POSTGRES` names, dropped when the test ends, passed or failed).

use konsult_store::Store;
use sqlx::Connection;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where PostgreSQL is when `KONSULT_TEST_POSTGRES` does not say.
pub const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The databases a store test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// A store on a database of its own, removed on drop.
#[derive(Debug)]
pub struct TestStore {
    pub store: Store,
    pub kind: Kind,
    place: Place,
}

#[derive(Debug)]
enum Place {
    Folder(PathBuf),
    Database { admin_url: String, name: String },
}

/// A name no other test, process or run uses at the same time.
fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The PostgreSQL server's URL for making and dropping test databases.
pub fn admin_url() -> String {
    std::env::var("KONSULT_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_POSTGRES.to_string())
}

/// `url` with its database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_end = base
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| base[start..].find('/').map(|i| start + i))
        .unwrap_or(base.len());
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

impl TestStore {
    pub async fn open(kind: Kind) -> TestStore {
        match kind {
            Kind::Sqlite => {
                let dir = std::env::temp_dir().join(unique("konsult-store"));
                let store = Store::open(&dir).await.expect("open SQLite");
                TestStore {
                    store,
                    kind,
                    place: Place::Folder(dir),
                }
            }
            Kind::Postgres => {
                let admin_url = admin_url();
                let name = unique("konsult_store");
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url}: {e}"));
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .expect("create the test database");
                let _ = admin.close().await;
                let store = Store::open_url(&with_database(&admin_url, &name))
                    .await
                    .expect("open PostgreSQL");
                TestStore {
                    store,
                    kind,
                    place: Place::Database { admin_url, name },
                }
            }
        }
    }

    /// Runs `sql` on a connection of its own, outside the store: what the store's interface
    /// never offers (changing an audit entry), to see the database refuse it.
    pub async fn execute_raw(&self, sql: &str) -> Result<(), sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match &self.place {
            Place::Folder(dir) => {
                let url = format!("sqlite://{}", dir.join(konsult_store::DB_FILE).display());
                let mut conn = sqlx::SqliteConnection::connect(&url).await?;
                sqlx::query(sql).execute(&mut conn).await.map(|_| ())
            }
            Place::Database { admin_url, name } => {
                let mut conn = sqlx::PgConnection::connect(&with_database(admin_url, name)).await?;
                sqlx::query(sql).execute(&mut conn).await.map(|_| ())
            }
        }
    }

    /// A one-value query on a connection of its own, outside the store.
    pub async fn scalar_raw(&self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match &self.place {
            Place::Folder(dir) => {
                let url = format!("sqlite://{}", dir.join(konsult_store::DB_FILE).display());
                let mut conn = sqlx::SqliteConnection::connect(&url)
                    .await
                    .expect("connect");
                sqlx::query_scalar(sql)
                    .fetch_one(&mut conn)
                    .await
                    .expect("query")
            }
            Place::Database { admin_url, name } => {
                let mut conn = sqlx::PgConnection::connect(&with_database(admin_url, name))
                    .await
                    .expect("connect");
                sqlx::query_scalar(sql)
                    .fetch_one(&mut conn)
                    .await
                    .expect("query")
            }
        }
    }

    /// A connection of its own to the test's PostgreSQL database, outside the store: to hold
    /// a transaction open while the store works, or to watch what the store waits for.
    pub async fn postgres_connection(&self) -> sqlx::PgConnection {
        match &self.place {
            Place::Database { admin_url, name } => {
                sqlx::PgConnection::connect(&with_database(admin_url, name))
                    .await
                    .expect("connect")
            }
            Place::Folder(_) => panic!("a SQLite store has no PostgreSQL connection"),
        }
    }

    /// Closes the store and removes its database.
    pub async fn finish(self) {
        self.store.close().await;
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        match &self.place {
            Place::Folder(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Place::Database { admin_url, name } => {
                // Drop runs inside the test's runtime, which cannot be blocked on: a thread
                // of its own drops the database, forcing out connections still open.
                let (admin_url, database) = (admin_url.clone(), name.clone());
                let dropped = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    runtime.block_on(async {
                        let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                        sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
                        )))
                        .execute(&mut admin)
                        .await
                        .map(|_| ())
                    })
                });
                if let Ok(Err(e)) = dropped.join() {
                    eprintln!("could not drop test database {name}: {e}");
                }
            }
        }
    }
}

/// Defines each test once per backend, `sqlite::$name` and `postgres::$name`, each calling the
/// async fn `$name(TestStore)` of the file that uses it.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = super::backend::TestStore::open(super::backend::Kind::Sqlite).await;
                    super::$name(db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = super::backend::TestStore::open(super::backend::Kind::Postgres).await;
                    super::$name(db).await;
                }
            )*
        }
    };
}
