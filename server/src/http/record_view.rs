//! A consultation record as the administration sees it (`RecordView`), shared by the record's
//! JSON and CSV and the report: support consultations show only that they took place, times are
//! in the school's zone, and a cell a spreadsheet could run is made inert.

use crate::store::records::RecordRow;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct RecordView {
    pub id: i64,
    pub form: String,
    pub mode: String,
    /// Absent for confidential consultations.
    pub subject: Option<String>,
    pub topic: Option<String>,
    pub staff: Option<String>,
    pub students: Vec<String>,
    /// Times in the school's time zone, ISO 8601.
    pub requested_at: Option<String>,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub wait_secs: Option<i64>,
    pub duration_secs: Option<i64>,
    /// When staff first answered the thread a deferred request became.
    pub answered_at: Option<String>,
    /// Seconds from the request to that answer.
    pub answer_secs: Option<i64>,
    pub outcome: String,
    pub confidential: bool,
    /// The student asked anonymously; nothing more is said of them.
    pub anonymous: bool,
}

/// An instant in the school's time zone, ISO 8601.
pub(super) fn local(ms: Option<i64>, tz: &jiff::tz::TimeZone) -> Option<String> {
    let ts = jiff::Timestamp::from_millisecond(ms?).ok()?;
    Some(
        ts.to_zoned(tz.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string(),
    )
}

/// A record as the administration sees it: a confidential one shows only that it took place.
pub(super) fn view(row: RecordRow, tz: &jiff::tz::TimeZone) -> RecordView {
    let confidential = row.confidential;
    let hide = |v: Option<String>| if confidential { None } else { v };
    RecordView {
        id: row.id,
        form: row.form,
        mode: row.mode,
        subject: hide(Some(row.subject)),
        topic: hide(Some(row.topic)),
        staff: hide(row.staff),
        students: if confidential {
            Vec::new()
        } else {
            row.students
        },
        requested_at: local(row.requested_at, tz),
        started_at: local(row.started_at, tz),
        ended_at: local(row.ended_at, tz),
        wait_secs: row.wait_secs,
        duration_secs: row
            .started_at
            .zip(row.ended_at)
            .map(|(s, e)| (e - s) / 1000),
        answered_at: local(row.answered_at, tz),
        answer_secs: row
            .requested_at
            .zip(row.answered_at)
            .map(|(asked, answered)| (answered - asked) / 1000),
        outcome: row.outcome,
        confidential,
        anonymous: row.anonymous,
    }
}

/// A cell a spreadsheet will not run: one that begins with `=`, `+`, `-`, `@`, a tab or a
/// carriage return gets a leading `'`, so that it is read as text (OWASP's rule against CSV
/// injection).
pub(super) fn inert(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}
