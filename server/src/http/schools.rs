//! `GET /api/schools`: the schools of this server as `[{code, name}]`, public, for the login
//! page's choice of school.

use super::error::ApiError;
use crate::app::App;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use std::sync::Arc;

pub async fn list(State(app): State<Arc<App>>) -> Result<Json<Value>, ApiError> {
    let schools: Vec<Value> = app
        .store
        .schools()
        .await?
        .into_iter()
        .map(|school| {
            let name = if school.name.is_empty() {
                app.config.school.name.clone()
            } else {
                school.name
            };
            json!({"code": school.code, "name": name})
        })
        .collect();
    Ok(Json(Value::Array(schools)))
}
