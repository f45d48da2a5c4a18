//! The consultation record: writing what the hub reports (batched, off the hub's task), and
//! reading it back for the administration as JSON or CSV.

use crate::store::{Store, StoreError, now_ms, retry_transient};
use konsult_signaling::{ConsultationRecord, IdSeeds, RecordKey};
use tokio::sync::mpsc;

/// Records waiting to be written before the hub waits.
const QUEUE: usize = 65_536;
/// Records written per transaction at most.
const BATCH: usize = 512;

/// Writes records in the background, many per transaction.
#[derive(Debug)]
pub struct RecordWriter {
    tx: mpsc::Sender<ConsultationRecord>,
    done: tokio::task::JoinHandle<()>,
}

impl RecordWriter {
    pub fn start(store: Store) -> RecordWriter {
        let (tx, mut rx) = mpsc::channel::<ConsultationRecord>(QUEUE);
        let done = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                let written =
                    retry_transient("consultation records", || store.write_records(&batch)).await;
                if let Err(e) = written {
                    tracing::error!(error = %e, count = batch.len(), "writing consultation records failed");
                }
                batch.clear();
            }
        });
        RecordWriter { tx, done }
    }

    /// Queues a record; waits only when the writer is far behind.
    pub async fn write(&self, record: ConsultationRecord) {
        // The writer task ends only after `close`, so the channel is open here.
        let _closed = self.tx.send(record).await;
    }

    /// Writes what is queued and stops.
    pub async fn close(self) {
        drop(self.tx);
        let _finished = self.done.await;
    }
}

impl Store {
    /// The next request and session ids: past every id the record or a thread has seen.
    pub async fn id_seeds(&self) -> Result<IdSeeds, StoreError> {
        let (request, session): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT max(r), max(s) FROM ( \
               SELECT max(request_id) AS r, max(session_id) AS s FROM consultations \
               UNION ALL SELECT max(request_id), max(session_id) FROM threads)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(IdSeeds {
            next_request: request.unwrap_or(0) + 1,
            next_session: session.unwrap_or(0) + 1,
        })
    }

    /// Inserts or updates records in one transaction; the latest write of a key wins, and
    /// times already known are kept when an update lacks them.
    pub async fn write_records(&self, records: &[ConsultationRecord]) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        for r in records {
            let happened = r.started_at_ms.or(r.requested_at_ms).unwrap_or_else(now_ms);
            let existing: Option<i64> =
                match r.key {
                    RecordKey::Request(id) => {
                        sqlx::query_scalar("SELECT id FROM consultations WHERE request_id = ?")
                            .bind(id.0)
                            .fetch_optional(&mut *tx)
                            .await?
                    }
                    RecordKey::Session(id) => sqlx::query_scalar(
                        "SELECT id FROM consultations WHERE session_id = ? AND request_id IS NULL",
                    )
                    .bind(id.0)
                    .fetch_optional(&mut *tx)
                    .await?,
                };
            let request_id = match r.key {
                RecordKey::Request(id) => Some(id.0),
                RecordKey::Session(_) => None,
            };
            let id: i64 =
                match existing {
                    Some(id) => {
                        sqlx::query(
                            "UPDATE consultations SET session_id = coalesce(?, session_id), \
                         form = ?, mode = ?, subject = ?, topic = ?, \
                         staff_id = coalesce(?, staff_id), thread_id = coalesce(?, thread_id), \
                         requested_at = coalesce(?, requested_at), \
                         started_at = coalesce(?, started_at), ended_at = ?, \
                         wait_secs = coalesce(?, wait_secs), outcome = ?, confidential = ?, \
                         happened_at = coalesce(started_at, requested_at, ?) WHERE id = ?",
                        )
                        .bind(r.session.map(|s| s.0))
                        .bind(r.form.as_str())
                        .bind(r.mode.as_str())
                        .bind(&r.subject)
                        .bind(&r.topic)
                        .bind(r.staff.map(|s| s.0))
                        .bind(r.thread.map(|t| t.0))
                        .bind(r.requested_at_ms)
                        .bind(r.started_at_ms)
                        .bind(r.ended_at_ms)
                        .bind(r.wait_secs)
                        .bind(r.outcome.as_str())
                        .bind(r.confidential)
                        .bind(happened)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                        id
                    }
                    None => sqlx::query_scalar(
                        "INSERT INTO consultations (request_id, session_id, form, mode, subject, \
                         topic, staff_id, thread_id, requested_at, started_at, ended_at, \
                         wait_secs, outcome, confidential, happened_at) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    )
                    .bind(request_id)
                    .bind(r.session.map(|s| s.0))
                    .bind(r.form.as_str())
                    .bind(r.mode.as_str())
                    .bind(&r.subject)
                    .bind(&r.topic)
                    .bind(r.staff.map(|s| s.0))
                    .bind(r.thread.map(|t| t.0))
                    .bind(r.requested_at_ms)
                    .bind(r.started_at_ms)
                    .bind(r.ended_at_ms)
                    .bind(r.wait_secs)
                    .bind(r.outcome.as_str())
                    .bind(r.confidential)
                    .bind(happened)
                    .fetch_one(&mut *tx)
                    .await?,
                };
            sqlx::query("DELETE FROM consultation_students WHERE consultation_id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for student in &r.students {
                sqlx::query(
                    "INSERT OR IGNORE INTO consultation_students (consultation_id, user_id) \
                     VALUES (?, ?)",
                )
                .bind(id)
                .bind(student.0)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
