//! `POST /api/login`: a password for a token.

use super::error::ApiError;
use crate::app::App;
use crate::auth::verify_password;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, State};
use konsult_protocol::ErrorCode;
use konsult_protocol::http::LoginRequest;
use konsult_protocol::model::UserInfo;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

#[derive(Serialize)]
pub struct LoginResponse {
    token: String,
    /// Seconds until the token expires.
    expires_in: u64,
    user: UserInfo,
}

/// A hash to verify against when the login does not exist, so that a wrong login and a wrong
/// password take the same time.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| crate::auth::hash_password("-"));

pub async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Json<LoginResponse>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    if req.login.len() > 128 || req.password.len() > 1024 {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            "login or password too long",
        ));
    }
    if let Err(wait) = app.logins.attempt(peer.ip(), &req.login, Instant::now()) {
        metrics::counter!(crate::metrics::LOGINS, "outcome" => "rate_limited").increment(1);
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            format!(
                "too many login attempts; try again in {} s",
                wait.as_secs().max(1)
            ),
        )
        .retry_after(wait));
    }
    let user = app.store.user_by_login(req.login.trim()).await?;
    let hash = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| DUMMY_HASH.clone());
    let password = req.password;
    let matches = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    let user = match user {
        Some(user) if matches && user.active => user,
        _ => {
            app.logins.failed(&req.login, Instant::now());
            metrics::counter!(crate::metrics::LOGINS, "outcome" => "rejected").increment(1);
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                "wrong login or password",
            ));
        }
    };
    app.logins.succeeded(&req.login);
    metrics::counter!(crate::metrics::LOGINS, "outcome" => "ok").increment(1);
    tracing::info!(user = %user.id, "login");
    Ok(Json(LoginResponse {
        token: app.tokens.issue(user.id, user.token_version),
        expires_in: app.config.auth.token_ttl.as_secs(),
        user: user.info(),
    }))
}
