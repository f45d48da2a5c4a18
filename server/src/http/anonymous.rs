//! `POST /api/anonymous`: a student's anonymous identity for questions to the support service,
//! with a token to connect as it (see `anonymity.rs`).

use super::bearer::Caller;
use super::error::ApiError;
use crate::app::App;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Debug, Default, Deserialize)]
pub struct IdentityAsked {
    /// Whether the support service sees the student's class.
    #[serde(default)]
    show_class: bool,
}

/// `{show_class?}` → `{token, expires_in, user}`; 403 `forbidden` for anyone but a student
/// signed in as themselves, 403 `anonymous_blocked` while the support service blocks them.
pub async fn identity(
    State(app): State<Arc<App>>,
    caller: Caller,
    body: Option<Json<IdentityAsked>>,
) -> Result<Json<Value>, ApiError> {
    let asked = body.map(|Json(b)| b).unwrap_or_default();
    let identity = crate::anonymity::identity_for(&app, &caller.0, asked.show_class)
        .await
        .map_err(|e| ApiError::new(e.code(), e.to_string()))?;
    let token = app.tokens.issue(identity.id, identity.token_version);
    Ok(Json(json!({
        "token": token,
        "expires_in": app.config.auth.token_ttl.as_secs(),
        "user": identity.info(),
    })))
}
