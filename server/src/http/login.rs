//! `POST /api/login`: a password for a token (and a device token, so that this device stays
//! trusted when others hammer the account); `POST /api/logout`: the token ends on the server.

use super::error::ApiError;
use crate::app::App;
use crate::auth::verify_password;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
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
    /// This device's token for the account; browsers get it as the `konsult_device` cookie too.
    device_token: String,
}

/// A hash to verify against when the login does not exist, so that a wrong login and a wrong
/// password take the same time.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| crate::auth::hash_password("-"));

pub async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    if req.login.len() > 128 || req.password.len() > 1024 {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            "login or password too long",
        ));
    }
    if req.school.as_ref().is_some_and(|s| s.len() > 64) {
        return Err(ApiError::new(ErrorCode::TooLarge, "school code too long"));
    }
    let school = crate::schools::resolve(&app.store, req.school.as_deref())
        .await
        .map_err(school_error)?;
    // Logins are unique per school: the guards and device tokens count per school and login.
    let account = format!("{}/{}", school.code, req.login.trim());
    // A device token counts only when it is valid and names this very login.
    let device = req
        .device_token
        .as_deref()
        .into_iter()
        .chain(
            headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(crate::device::from_cookie_header),
        )
        .filter(|t| t.len() <= 2048)
        .find_map(|t| app.devices.device_for(t, &account));
    let device = device.as_deref();
    if let Err(wait) = app
        .logins
        .attempt(peer.ip(), &account, device, Instant::now())
    {
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
    let user = app.store.user_by_login(school.id, req.login.trim()).await?;
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
            app.logins.failed(&account, device, Instant::now());
            metrics::counter!(crate::metrics::LOGINS, "outcome" => "rejected").increment(1);
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                "wrong login or password",
            ));
        }
    };
    app.logins.succeeded(&account, device);
    metrics::counter!(crate::metrics::LOGINS, "outcome" => "ok").increment(1);
    tracing::info!(user = %user.id, school = %school.code, trusted_device = device.is_some(), "login");
    let device_token = app
        .devices
        .issue(&format!("{}/{}", school.code, user.login));
    let cookie = crate::device::cookie(&device_token, app.config.server.tls_cert.is_some());
    Ok((
        [(header::SET_COOKIE, cookie)],
        Json(LoginResponse {
            token: app.tokens.issue(user.id, user.token_version),
            expires_in: app.config.auth.token_ttl.as_secs(),
            user: user.info(),
            device_token,
        }),
    ))
}

/// A school that cannot be chosen: `400 bad_request` naming why (several schools and none
/// named, or an unknown code).
fn school_error(e: crate::schools::ResolveError) -> ApiError {
    match e {
        crate::schools::ResolveError::Store(e) => e.into(),
        e => ApiError::new(ErrorCode::BadRequest, e.to_string()),
    }
}

/// `POST /api/logout`: the bearer token stops working for the rest of its lifetime, on HTTP
/// and WebSocket alike.
pub async fn logout(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let token = super::bearer::bearer_token(&headers)?;
    let verified = app
        .tokens
        .verify_token(token)
        .map_err(|e| ApiError::new(ErrorCode::Unauthorized, e.to_string()))?;
    let now = crate::auth::unix_now();
    // Kept first, so that an answered logout survives a restart.
    app.store
        .revoke_token(&verified.id, verified.expires, now)
        .await?;
    app.revoke(verified.id, verified.expires, now).await;
    metrics::counter!(crate::metrics::LOGINS, "outcome" => "logout").increment(1);
    Ok(Json(serde_json::json!({ "ok": true })))
}
