//! HTTP errors in the same shape and codes as WebSocket errors: `{"code","message"}`.

use crate::accounts;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use konsult_protocol::ErrorCode;

/// An error answer for an HTTP route.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Sent as `Retry-After` (whole seconds) with `rate_limited`.
    pub retry_after: Option<std::time::Duration>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Adds a `Retry-After`.
    pub fn retry_after(mut self, after: std::time::Duration) -> ApiError {
        self.retry_after = Some(after);
        self
    }

    fn status(&self) -> StatusCode {
        match self.code {
            ErrorCode::BadRequest
            | ErrorCode::UnknownType
            | ErrorCode::UnsupportedVersion
            | ErrorCode::WeakPassword => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden
            | ErrorCode::AnonymousSupportOnly
            | ErrorCode::AnonymousBlocked => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Conflict | ErrorCode::SlotTaken | ErrorCode::BookingLocked => {
                StatusCode::CONFLICT
            }
            ErrorCode::BookingLimit => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        tracing::error!(error = %e, "storage failed");
        ApiError::new(ErrorCode::Internal, "storage failed")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        metrics::counter!(crate::metrics::ERRORS, "code" => self.code.as_str()).increment(1);
        let body = serde_json::json!({ "code": self.code, "message": self.message });
        let mut response = (self.status(), Json(body)).into_response();
        if let Some(after) = self.retry_after {
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs.max(1)),
            );
        }
        response
    }
}

/// The answer for an account change the accounts layer refused.
pub fn account_error(e: accounts::AccountError) -> ApiError {
    match e {
        accounts::AccountError::Store(e) => e.into(),
        accounts::AccountError::WeakPassword(message) => {
            ApiError::new(ErrorCode::WeakPassword, message)
        }
        other => {
            let message = other.to_string();
            let code = if message.contains("already exists") {
                ErrorCode::Conflict
            } else {
                ErrorCode::BadRequest
            };
            ApiError::new(code, message)
        }
    }
}
