//! WAL checkpoints off the writers' path. SQLite copies the WAL back into the database file
//! inside the commit that takes the WAL past `wal_autocheckpoint` pages, and that commit does
//! not return until the copy and its fsync are done: the chat writer, and every sender
//! waiting on its commit, stalled for it every few seconds. A task of its own now checkpoints
//! on a connection of its own, a few times a second; a commit checkpoints only when this task
//! has fallen [`WAL_AUTOCHECKPOINT_PAGES`] behind, which keeps the WAL bounded.

use sqlx::{SqliteConnection, SqlitePool};
use std::time::Duration;

/// WAL pages (4 KiB) past which a committing connection checkpoints itself: 256 MiB.
pub(super) const WAL_AUTOCHECKPOINT_PAGES: &str = "65536";

/// How often the background checkpoint runs. With nothing new in the WAL it costs one query.
const EVERY: Duration = Duration::from_secs(1);

/// Checkpoints the WAL of `pool`'s database every [`EVERY`] until the pool closes.
pub(super) async fn run(pool: SqlitePool) {
    let mut conn: Option<SqliteConnection> = None;
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            break;
        }
        if conn.is_none() {
            match pool.acquire().await {
                // Detached: a checkpoint that takes a while holds no reader's pool slot.
                Ok(pooled) => conn = Some(pooled.detach()),
                Err(_) => continue,
            }
        }
        let Some(connection) = conn.as_mut() else {
            continue;
        };
        // PASSIVE: copies what no reader still needs, without waiting for or blocking anyone.
        let done = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&mut *connection)
            .await;
        if let Err(e) = done {
            tracing::warn!(error = %e, "WAL checkpoint failed");
            conn = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::DB_FILE;
    use crate::sqlite::SqliteStore;
    use std::time::Duration;

    #[tokio::test]
    async fn commits_reach_the_database_file_without_a_writer_checkpointing() {
        let dir = std::env::temp_dir().join(format!("konsult-checkpoint-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = SqliteStore::open(&dir).await.unwrap();
        sqlx::query("CREATE TABLE filler (x BLOB)")
            .execute(&store.pool)
            .await
            .unwrap();
        // 320 KiB: far below the autocheckpoint threshold, so these pages stay in the WAL
        // until the background task copies them into the database file.
        for _ in 0..40 {
            sqlx::query("INSERT INTO filler VALUES (randomblob(8000))")
                .execute(&store.pool)
                .await
                .unwrap();
        }
        let file = dir.join(DB_FILE);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let len = std::fs::metadata(&file).unwrap().len();
            if len >= 320_000 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the database file holds {len} bytes: the WAL was not checkpointed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        store.pool.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
