//! `GET`/`PUT /api/hours`: a staff member's weekly consultation hours.

use super::bearer::Caller;
use super::error::ApiError;
use crate::app::App;
use crate::store::users::User;
use axum::Json;
use axum::extract::State;
use konsult_protocol::ErrorCode;
use konsult_protocol::model::HoursSlot;
use serde_json::{Value, json};
use std::sync::Arc;

/// Slots one staff member may have.
const MAX_SLOTS: usize = 50;

pub async fn get_own(State(app): State<Arc<App>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "hours": app.store.hours_of(caller.0.id).await? }),
    ))
}

pub async fn put_own(
    State(app): State<Arc<App>>,
    caller: Caller,
    body: Result<Json<Vec<HoursSlot>>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(hours) = body.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    store_hours(&app, &caller.0, hours.clone()).await?;
    Ok(Json(json!({ "hours": hours })))
}

/// Checks, stores and announces a staff member's hours.
pub async fn store_hours(app: &App, user: &User, hours: Vec<HoursSlot>) -> Result<(), ApiError> {
    if !user.role.is_staff() {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "consultation hours are for teachers and support staff",
        ));
    }
    if hours.len() > MAX_SLOTS {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!("at most {MAX_SLOTS} slots"),
        ));
    }
    for slot in &hours {
        if slot.minutes_of_week().is_none() || slot.subject.trim().is_empty() {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!(
                    "slot {} {}-{}: weekday 1..7, HH:MM times, the end after the start, a subject",
                    slot.weekday, slot.start, slot.end
                ),
            ));
        }
    }
    app.store.set_hours(user.id, &hours).await?;
    app.hours_changed(user, hours).await;
    Ok(())
}
