//! Fresh PostgreSQL databases for black-box servers: each made with a random name on the
//! server `KONSULT_TEST_POSTGRES` names (default [`DEFAULT_SERVER`]) and dropped when the
//! data folder that records it is removed, so a server restarted on the same folder finds
//! the same database. `KONSULT_TEST_STORE=postgres` puts every test server on one.

use sqlx::Connection;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

/// Where PostgreSQL is when `KONSULT_TEST_POSTGRES` does not say.
pub const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The file in a data folder naming the test database its servers use: the server URL, then
/// the database's name.
pub const MARKER: &str = "test-postgres";

/// The PostgreSQL server for test databases.
pub fn server_url() -> String {
    std::env::var("KONSULT_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_SERVER.to_string())
}

/// Whether every test server runs on PostgreSQL (`KONSULT_TEST_STORE=postgres`).
pub fn everywhere() -> bool {
    std::env::var("KONSULT_TEST_STORE").is_ok_and(|v| v == "postgres")
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

/// Runs one statement on the test server's own database, on a runtime of its own (callers
/// may be inside another runtime, or none).
pub fn admin(sql: String) -> Result<(), String> {
    let server = server_url();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let mut conn = sqlx::PgConnection::connect(&server)
                .await
                .map_err(|e| format!("PostgreSQL at {server}: {e}"))?;
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            let _ = conn.close().await;
            Ok(())
        })
    })
    .join()
    .map_err(|_| "the PostgreSQL thread panicked".to_string())?
}

/// The database URL the servers on `data` use: the one its marker names, else a new database
/// recorded in a new marker.
/// The name of the database `data`'s marker names, if any.
pub fn database_name_of(data: &Path) -> Option<String> {
    let text = std::fs::read_to_string(data.join(MARKER)).ok()?;
    let (_, name) = text.split_once('\n')?;
    Some(name.trim().to_string())
}

pub fn database_for(data: &Path) -> String {
    let marker = data.join(MARKER);
    if let Ok(text) = std::fs::read_to_string(&marker)
        && let Some((server, name)) = text.split_once('\n')
    {
        return with_database(server, name.trim());
    }
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        "konsult_test_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    admin(format!("CREATE DATABASE {name}")).unwrap_or_else(|e| panic!("{e}"));
    let server = server_url();
    std::fs::write(&marker, format!("{server}\n{name}\n")).expect("write the database marker");
    with_database(&server, &name)
}

/// Drops the database that `data`'s marker names, if any, forcing out any connection left.
pub fn drop_database_of(data: &Path) {
    let Ok(text) = std::fs::read_to_string(data.join(MARKER)) else {
        return;
    };
    let Some((_, name)) = text.split_once('\n') else {
        return;
    };
    let name = name.trim();
    let valid = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid && let Err(e) = admin(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")) {
        eprintln!("could not drop test database {name}: {e}");
    }
}
