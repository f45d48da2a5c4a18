//! The consultation record in PostgreSQL: one upsert per record, read back with the names of
//! the people in it.

use super::PgStore;
use crate::records::{NextIds, Record, RecordFilter, RecordKey, RecordRow};
use crate::{StoreError, now_ms};
use konsult_protocol::SchoolId;
use sqlx::Row;

/// The upsert of one record, ending with its conflict target: a later write of the same key
/// keeps the times it lacks, and when it happened is fixed by the first start or request.
macro_rules! upsert_record {
    ($conflict:literal) => {
        concat!(
            "INSERT INTO consultations AS c (school_id, request_id, session_id, form, mode, ",
            "subject, topic, staff_id, thread_id, requested_at, started_at, ended_at, ",
            "wait_secs, outcome, confidential, happened_at) ",
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) ",
            $conflict,
            " DO UPDATE SET session_id = coalesce(excluded.session_id, c.session_id), ",
            "form = excluded.form, mode = excluded.mode, subject = excluded.subject, ",
            "topic = excluded.topic, staff_id = coalesce(excluded.staff_id, c.staff_id), ",
            "thread_id = coalesce(excluded.thread_id, c.thread_id), ",
            "requested_at = coalesce(excluded.requested_at, c.requested_at), ",
            "started_at = coalesce(excluded.started_at, c.started_at), ",
            "ended_at = excluded.ended_at, ",
            "wait_secs = coalesce(excluded.wait_secs, c.wait_secs), ",
            "outcome = excluded.outcome, confidential = excluded.confidential, ",
            "happened_at = coalesce(c.started_at, c.requested_at, excluded.happened_at) ",
            "RETURNING id"
        )
    };
}

impl PgStore {
    pub(crate) async fn next_ids(&self, school: SchoolId) -> Result<NextIds, StoreError> {
        let (request, session): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT max(r), max(s) FROM ( \
               SELECT max(request_id) AS r, max(session_id) AS s FROM consultations \
                WHERE school_id = $1 \
               UNION ALL SELECT max(request_id), max(session_id) FROM threads \
                WHERE school_id = $1) AS ids",
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
        let mut tx = self.pool.begin().await?;
        if let Some(epoch) = epoch {
            let current: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT school_id, epoch FROM school_epochs WHERE school_id = $1 FOR SHARE",
            )
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
            sqlx::query("DELETE FROM consultation_students WHERE consultation_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let students: Vec<i64> = r.students.iter().map(|s| s.0).collect();
            sqlx::query(
                "INSERT INTO consultation_students (consultation_id, user_id) \
                 SELECT $1, u FROM unnest($2::BIGINT[]) AS u ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(&students)
            .execute(&mut *tx)
            .await?;
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
             (SELECT array_agg(u.name ORDER BY u.name) FROM consultation_students cs \
              JOIN users u ON u.id = cs.user_id WHERE cs.consultation_id = c.id) AS students, \
             EXISTS (SELECT 1 FROM consultation_students cs JOIN users u ON u.id = cs.user_id \
              WHERE cs.consultation_id = c.id AND u.anonymous) AS anonymous \
             FROM consultations c LEFT JOIN users s ON s.id = c.staff_id \
             WHERE c.school_id = $10 \
               AND ($1::BIGINT IS NULL OR c.happened_at >= $1) \
               AND ($2::BIGINT IS NULL OR c.happened_at < $2) \
               AND ($3::TEXT IS NULL OR c.form = $3) AND ($4::BIGINT IS NULL OR c.staff_id = $4) \
               AND ($6::TEXT IS NULL OR c.mode = $6) \
               AND ($7::TEXT IS NULL OR (NOT c.confidential AND c.subject = $7)) \
               AND ($8::TEXT IS NULL OR (NOT c.confidential AND EXISTS (SELECT 1 FROM \
                    consultation_students cs JOIN users u ON u.id = cs.user_id \
                    WHERE cs.consultation_id = c.id AND u.class = $8))) \
               AND ($9::TEXT IS NULL OR c.outcome = $9) \
             ORDER BY c.happened_at, c.id LIMIT $5",
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

fn record_from_row(row: &sqlx::postgres::PgRow) -> Result<RecordRow, StoreError> {
    let students: Option<Vec<String>> = row.try_get("students")?;
    Ok(RecordRow {
        id: row.try_get("id")?,
        form: row.try_get("form")?,
        mode: row.try_get("mode")?,
        subject: row.try_get("subject")?,
        topic: row.try_get("topic")?,
        staff: row.try_get("staff")?,
        students: students.unwrap_or_default(),
        requested_at: row.try_get("requested_at")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        wait_secs: row.try_get("wait_secs")?,
        answered_at: row.try_get("answered_at")?,
        outcome: row.try_get("outcome")?,
        confidential: row.try_get("confidential")?,
        anonymous: row.try_get("anonymous")?,
    })
}
