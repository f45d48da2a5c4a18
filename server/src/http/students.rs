//! `GET /api/students` and `GET /api/classes`: the read-only directory staff use to choose
//! whom to invite to a group or frontal session. Students may not read it.

use super::bearer::Caller;
use super::error::ApiError;
use crate::app::App;
use axum::Json;
use axum::extract::{Query, State};
use konsult_protocol::ErrorCode;
use konsult_protocol::model::Role;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Most students one listing returns.
const LIST_LIMIT: usize = 200;

/// Longest name search accepted.
const MAX_QUERY_CHARS: usize = 100;

#[derive(Debug, Deserialize)]
pub struct DirectoryQuery {
    class: Option<String>,
    q: Option<String>,
}

/// Refuses callers who are neither staff nor admins.
fn require_staff(caller: &Caller) -> Result<(), ApiError> {
    if caller.0.role.is_staff() || caller.0.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            "only teachers, support staff and administrators may list students",
        ))
    }
}

/// `GET /api/students?class=&q=`: `{students: [{id, name, class}], more}`, by class then name.
pub async fn list(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(query): Query<DirectoryQuery>,
) -> Result<Json<Value>, ApiError> {
    require_staff(&caller)?;
    let class = query
        .class
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if q.is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS) {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("q is at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    let (students, more) = app
        .store
        .student_directory(caller.0.school, class, q, LIST_LIMIT)
        .await?;
    Ok(Json(json!({ "students": students, "more": more })))
}

/// `GET /api/classes`: `{classes: [{class, students}]}`, the classes with active students.
pub async fn classes(State(app): State<Arc<App>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    require_staff(&caller)?;
    class_list(&app, caller.0.school).await
}

/// `{classes: [{class, students}]}` of a school: what staff and the admin screens list.
pub async fn class_list(
    app: &App,
    school: konsult_protocol::SchoolId,
) -> Result<Json<Value>, ApiError> {
    let classes: Vec<Value> = app
        .store
        .classes(school)
        .await?
        .into_iter()
        .map(|(class, students)| json!({"class": class, "students": students}))
        .collect();
    Ok(Json(json!({ "classes": classes })))
}
