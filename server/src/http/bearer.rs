//! `Authorization: Bearer <token>` for HTTP routes: the account the token proves.

use super::error::ApiError;
use crate::app::App;
use crate::store::users::User;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use konsult_protocol::ErrorCode;
use konsult_protocol::model::Role;
use std::sync::Arc;

/// The caller of an HTTP route, proven by a bearer token.
#[derive(Debug, Clone)]
pub struct Caller(pub User);

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Caller, ApiError> {
        let token = bearer_token(&parts.headers)?;
        app.authenticate(token)
            .await
            .map(Caller)
            .map_err(|e| ApiError::new(e.code(), e.to_string()))
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unauthorized,
                "send Authorization: Bearer <token>",
            )
        })
}

impl Caller {
    /// Refuses callers who are not admins.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.0.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::Forbidden,
                "only administrators may do this",
            ))
        }
    }
}
