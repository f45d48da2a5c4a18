//! The consultation record in SQLite: one upsert per record, read back with the names of the
//! people in it.

use super::SqliteStore;
use crate::records::{NextIds, Record, RecordFilter, RecordKey, RecordRow};
use crate::{StoreError, now_ms};
use konsult_protocol::SchoolId;
use sqlx::Row;

/// The upsert of one record, ending with its conflict target: a later write of the same key
/// keeps the times it lacks, and when it happened is fixed by the first start or request.
macro_rules! upsert_record {
    ($conflict:literal) => {
        concat!(
            "INSERT INTO consultations (school_id, request_id, session_id, form, mode, subject, ",
            "topic, staff_id, thread_id, requested_at, started_at, ended_at, wait_secs, ",
            "outcome, confidential, happened_at) ",
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ",
            $conflict,
            " DO UPDATE SET session_id = coalesce(excluded.session_id, session_id), ",
            "form = excluded.form, mode = excluded.mode, subject = excluded.subject, ",
            "topic = excluded.topic, staff_id = coalesce(excluded.staff_id, staff_id), ",
            "thread_id = coalesce(excluded.thread_id, thread_id), ",
            "requested_at = coalesce(excluded.requested_at, requested_at), ",
            "started_at = coalesce(excluded.started_at, started_at), ",
            "ended_at = excluded.ended_at, wait_secs = coalesce(excluded.wait_secs, wait_secs), ",
            "outcome = excluded.outcome, confidential = excluded.confidential, ",
            "happened_at = coalesce(started_at, requested_at, excluded.happened_at) RETURNING id"
        )
    };
}

impl SqliteStore {
    pub(crate) async fn next_ids(&self, school: SchoolId) -> Result<NextIds, StoreError> {
        let (request, session): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT max(r), max(s) FROM ( \
               SELECT max(request_id) AS r, max(session_id) AS s FROM consultations \
               WHERE school_id = ?1 \
               UNION ALL SELECT max(request_id), max(session_id) FROM threads \
               WHERE school_id = ?1)",
        )
        .bind(school.0)
        .fetch_one(&self.pool)
        .await?;
        Ok(NextIds {
            request: request.unwrap_or(0) + 1,
            session: session.unwrap_or(0) + 1,
        })
    }

    pub(crate) async fn write_records(
        &self,
        school: SchoolId,
        epoch: Option<i64>,
        records: &[Record],
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        if let Some(epoch) = epoch {
            let current: Vec<(i64, i64)> =
                sqlx::query_as("SELECT school_id, epoch FROM school_epochs WHERE school_id = ?")
                    .bind(school.0)
                    .fetch_all(&mut *tx)
                    .await?;
            if let Some(stale) = crate::fence::first_stale(&[(school, epoch)], &current) {
                return Err(stale);
            }
        }
        for r in records {
            let happened = r.started_at_ms.or(r.requested_at_ms).unwrap_or_else(now_ms);
            let (sql, request_id, session_id) = match r.key {
                RecordKey::Request(id) => (
                    upsert_record!("ON CONFLICT (school_id, request_id)"),
                    Some(id.0),
                    r.session.map(|s| s.0),
                ),
                RecordKey::Session(id) => (
                    upsert_record!("ON CONFLICT (school_id, session_id) WHERE request_id IS NULL"),
                    None,
                    Some(r.session.unwrap_or(id).0),
                ),
            };
            let id: i64 = sqlx::query_scalar(sql)
                .bind(school.0)
                .bind(request_id)
                .bind(session_id)
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
                .bind(r.outcome)
                .bind(r.confidential)
                .bind(happened)
                .fetch_one(&mut *tx)
                .await?;
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

    pub(crate) async fn records(
        &self,
        school: SchoolId,
        filter: &RecordFilter<'_>,
        limit: i64,
    ) -> Result<Vec<RecordRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.id, c.form, c.mode, c.subject, c.topic, s.name AS staff, c.requested_at, \
             c.started_at, c.ended_at, c.wait_secs, c.outcome, c.confidential, \
             (SELECT t.answered_at FROM threads t WHERE t.id = c.thread_id) AS answered_at, \
             (SELECT group_concat(u.name, '; ') FROM consultation_students cs \
              JOIN users u ON u.id = cs.user_id WHERE cs.consultation_id = c.id) AS students, \
             EXISTS (SELECT 1 FROM consultation_students cs JOIN users u ON u.id = cs.user_id \
              WHERE cs.consultation_id = c.id AND u.anonymous = 1) AS anonymous \
             FROM consultations c LEFT JOIN users s ON s.id = c.staff_id \
             WHERE (?1 IS NULL OR c.happened_at >= ?1) AND (?2 IS NULL OR c.happened_at < ?2) \
               AND (?3 IS NULL OR c.form = ?3) AND (?4 IS NULL OR c.staff_id = ?4) \
               AND (?6 IS NULL OR c.mode = ?6) \
               AND (?7 IS NULL OR (c.confidential = 0 AND c.subject = ?7)) \
               AND (?8 IS NULL OR (c.confidential = 0 AND EXISTS (SELECT 1 FROM \
                    consultation_students cs JOIN users u ON u.id = cs.user_id \
                    WHERE cs.consultation_id = c.id AND u.class = ?8))) \
               AND (?9 IS NULL OR c.outcome = ?9) AND c.school_id = ?10 \
             ORDER BY c.happened_at, c.id LIMIT ?5",
        )
        .bind(filter.from)
        .bind(filter.to)
        .bind(filter.form)
        .bind(filter.staff.map(|s| s.0))
        .bind(limit)
        .bind(filter.mode)
        .bind(filter.subject)
        .bind(filter.class)
        .bind(filter.outcome)
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record_from_row).collect()
    }
}

fn record_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<RecordRow, StoreError> {
    let students: Option<String> = row.try_get("students")?;
    Ok(RecordRow {
        id: row.try_get("id")?,
        form: row.try_get("form")?,
        mode: row.try_get("mode")?,
        subject: row.try_get("subject")?,
        topic: row.try_get("topic")?,
        staff: row.try_get("staff")?,
        students: students
            .unwrap_or_default()
            .split("; ")
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        requested_at: row.try_get("requested_at")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        wait_secs: row.try_get("wait_secs")?,
        answered_at: row.try_get("answered_at")?,
        outcome: row.try_get("outcome")?,
        confidential: row.try_get::<i64, _>("confidential")? != 0,
        anonymous: row.try_get::<i64, _>("anonymous")? != 0,
    })
}

#[cfg(test)]
mod tests {
    use crate::records::{NextIds, Record, RecordFilter, RecordKey};
    use crate::sqlite::SqliteStore;
    use konsult_protocol::model::{Form, Mode};
    use konsult_protocol::{RequestId, SessionId};

    fn record(key: RecordKey, outcome: &'static str) -> Record {
        Record {
            key,
            form: Form::Individual,
            mode: Mode::Online,
            subject: "math".into(),
            topic: "fractions".into(),
            staff: None,
            students: Vec::new(),
            session: None,
            thread: None,
            requested_at_ms: None,
            started_at_ms: None,
            ended_at_ms: None,
            wait_secs: None,
            outcome,
            confidential: false,
        }
    }

    #[tokio::test]
    async fn a_second_write_of_a_key_updates_its_record_and_keeps_known_times() {
        let dir = std::env::temp_dir().join(format!("konsult-records-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = SqliteStore::open(&dir).await.unwrap();
        let school = store.create_school("main", "School", "UTC").await.unwrap();
        let other = store.create_school("other", "Other", "UTC").await.unwrap();
        let request = RecordKey::Request(RequestId(4));
        let session = RecordKey::Session(SessionId(9));
        let asked = Record {
            requested_at_ms: Some(1_000),
            session: Some(SessionId(7)),
            ..record(request, "in_progress")
        };
        let held = Record {
            started_at_ms: Some(2_000),
            ended_at_ms: Some(5_000),
            ..record(request, "held")
        };
        let started = Record {
            session: Some(SessionId(9)),
            started_at_ms: Some(3_000),
            ..record(session, "in_progress")
        };
        let ended = Record {
            session: Some(SessionId(9)),
            ended_at_ms: Some(4_000),
            ..record(session, "held")
        };
        store
            .write_records(school, None, &[asked, started])
            .await
            .unwrap();
        store
            .write_records(school, None, &[held, ended])
            .await
            .unwrap();
        // The same keys in another school are its own consultations.
        let elsewhere = Record {
            requested_at_ms: Some(1_500),
            ..record(request, "deferred")
        };
        store
            .write_records(other, None, &[elsewhere])
            .await
            .unwrap();

        let rows = store
            .records(school, &RecordFilter::default(), 10)
            .await
            .unwrap();
        assert_eq!(rows.len(), 2, "one record per key: {rows:?}");
        let by_request = &rows[0];
        assert_eq!(by_request.requested_at, Some(1_000));
        assert_eq!(by_request.started_at, Some(2_000));
        assert_eq!(by_request.ended_at, Some(5_000));
        assert_eq!(by_request.outcome, "held");
        let by_session = &rows[1];
        assert_eq!(by_session.started_at, Some(3_000));
        assert_eq!(by_session.ended_at, Some(4_000));
        assert_eq!(by_session.outcome, "held");
        assert_eq!(
            store.next_ids(school).await.unwrap(),
            NextIds {
                request: 5,
                session: 10
            }
        );
        let theirs = store
            .records(other, &RecordFilter::default(), 10)
            .await
            .unwrap();
        assert_eq!(
            theirs.len(),
            1,
            "the other school's record only: {theirs:?}"
        );
        assert_eq!(theirs[0].outcome, "deferred");
        assert_eq!(
            store.next_ids(other).await.unwrap(),
            NextIds {
                request: 5,
                session: 1
            }
        );
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
