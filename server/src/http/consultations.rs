//! `GET /api/consultations`: the consultation record for the administration, as JSON or CSV
//! (`Accept: text/csv`), filtered by time, form, mode, teacher, subject, class and outcome.
//! Consultations with support staff show only that they took place. `summary` serves the report
//! `report.rs` computes from the same records, as JSON or CSV (`report_csv.rs`).

use super::bearer::Caller;
use super::error::ApiError;
use super::record_view::{RecordView, inert, view};
use crate::app::App;
use crate::store::records::RecordFilter;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use konsult_protocol::ErrorCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Most records one answer holds.
const MAX_ROWS: i64 = 50_000;

#[derive(Debug, Deserialize, Serialize)]
pub struct Filter {
    /// The language of the report's CSV: `ru` or `en` (default: `school.language`).
    #[serde(default, skip_serializing)]
    lang: Option<String>,
    /// A date (`2026-11-01`, the school's time zone, inclusive) or an RFC 3339 instant.
    from: Option<String>,
    /// A date (inclusive) or an RFC 3339 instant (exclusive).
    to: Option<String>,
    /// `individual`, `group` or `frontal`.
    form: Option<String>,
    /// A staff member's id or login.
    teacher: Option<String>,
    /// `online` or `offline`.
    mode: Option<String>,
    /// A subject code. Confidential consultations never match.
    subject: Option<String>,
    /// A class: consultations that one of its students took part in. Confidential
    /// consultations never match.
    class: Option<String>,
    /// `in_progress`, `held`, `deferred` or `cancelled`.
    outcome: Option<String>,
}

/// A filter value, or nothing when the field was left empty.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// One consultation as the administration sees it.
/// Parses a filter bound: a local date (start of that day, or of the next one for `to`) or an
/// instant.
fn bound(value: &str, tz: &jiff::tz::TimeZone, end: bool) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("{value:?}: use a date like 2026-11-01 or an RFC 3339 time"),
        )
    };
    if let Ok(date) = value.parse::<jiff::civil::Date>() {
        let date = if end {
            date.tomorrow().map_err(|_| bad())?
        } else {
            date
        };
        let zoned = date.to_zoned(tz.clone()).map_err(|_| bad())?;
        return Ok(zoned.timestamp().as_millisecond());
    }
    value
        .parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|_| bad())
}

/// The records of the school a filter selects, as the administration sees them, in the
/// school's time zone.
async fn fetch(
    app: &App,
    school: konsult_protocol::SchoolId,
    filter: &Filter,
) -> Result<Vec<RecordView>, ApiError> {
    let tz = app.school_timezone(school);
    let from = given(&filter.from)
        .map(|v| bound(v, &tz, false))
        .transpose()?;
    let to = given(&filter.to).map(|v| bound(v, &tz, true)).transpose()?;
    let form = given(&filter.form);
    if let Some(form) = form
        && !matches!(form, "individual" | "group" | "frontal")
    {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "form is individual, group or frontal",
        ));
    }
    let mode = given(&filter.mode);
    if let Some(mode) = mode
        && !matches!(mode, "online" | "offline")
    {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "mode is online or offline",
        ));
    }
    let outcome = given(&filter.outcome);
    if let Some(outcome) = outcome
        && !matches!(outcome, "in_progress" | "held" | "deferred" | "cancelled")
    {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "outcome is in_progress, held, deferred or cancelled",
        ));
    }
    let teacher = match given(&filter.teacher) {
        None => None,
        Some(t) => {
            let user = match t.parse::<i64>() {
                Ok(id) => app.store.user_by_id(konsult_protocol::UserId(id)).await?,
                Err(_) => app.store.user_by_login(school, t).await?,
            }
            .filter(|user| user.school == school);
            Some(
                user.ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no user {t:?}")))?
                    .id,
            )
        }
    };
    let records = RecordFilter {
        from,
        to,
        form,
        staff: teacher,
        mode,
        subject: given(&filter.subject),
        class: given(&filter.class),
        outcome,
    };
    let rows = app.store.records(school, &records, MAX_ROWS).await?;
    let views = rows.into_iter().map(|row| view(row, &tz)).collect();
    Ok(views)
}

pub async fn list(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Query(filter): Query<Filter>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let views = fetch(&app, caller.0.school, &filter).await?;
    if wants_csv(&headers) {
        super::audit::audit(
            &app,
            &caller,
            "consultations.export",
            None,
            serde_json::json!({"rows": views.len(), "filter": filter}),
        )
        .await;
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"consultations.csv\"",
                ),
            ],
            to_csv(&views),
        )
            .into_response());
    }
    Ok(axum::Json(serde_json::json!({ "consultations": views })).into_response())
}

fn to_csv(views: &[RecordView]) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    let header = [
        "id",
        "form",
        "mode",
        "subject",
        "topic",
        "staff",
        "students",
        "requested_at",
        "started_at",
        "ended_at",
        "wait_secs",
        "duration_secs",
        "outcome",
        "confidential",
        "answered_at",
        "answer_secs",
    ];
    // Writing to memory does not fail.
    let _ = out.write_record(header);
    for v in views {
        let opt = |s: &Option<String>| s.clone().unwrap_or_default();
        let num = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
        let cells = [
            v.id.to_string(),
            v.form.clone(),
            v.mode.clone(),
            opt(&v.subject),
            opt(&v.topic),
            opt(&v.staff),
            v.students.join("; "),
            opt(&v.requested_at),
            opt(&v.started_at),
            opt(&v.ended_at),
            num(v.wait_secs),
            num(v.duration_secs),
            v.outcome.clone(),
            v.confidential.to_string(),
            opt(&v.answered_at),
            num(v.answer_secs),
        ];
        let _ = out.write_record(cells.into_iter().map(inert));
    }
    String::from_utf8(out.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// `GET /api/consultations/summary?from=&to=`: the report the administration files, by form,
/// by teacher and by month, with the series of its charts; as CSV with `Accept: text/csv`
/// (`lang=ru|en`). Confidential consultations count under "support" only.
pub async fn summary(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Query(filter): Query<Filter>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let language = match given(&filter.lang) {
        None => app.config.school.language,
        Some("ru") => konsult_config::Language::Ru,
        Some("en") => konsult_config::Language::En,
        Some(_) => return Err(ApiError::new(ErrorCode::BadRequest, "lang is ru or en")),
    };
    let views = fetch(&app, caller.0.school, &filter).await?;
    let report = super::report::compute(&views);
    if !wants_csv(&headers) {
        return Ok(axum::Json(report).into_response());
    }
    let subjects = super::report_csv::SubjectNames::new(app.store.subjects(caller.0.school).await?);
    super::audit::audit(
        &app,
        &caller,
        "consultations.report_export",
        None,
        serde_json::json!({"rows": views.len(), "filter": filter}),
    )
    .await;
    let span = [given(&filter.from), given(&filter.to)]
        .map(|d| d.unwrap_or("…"))
        .join(" – ");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"konsult-report.csv\"",
            ),
        ],
        super::report_csv::write(&report, language, &span, &subjects),
    )
        .into_response())
}

fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"))
}
