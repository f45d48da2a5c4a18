//! `POST /api/attachments` (the raw file as the body, `?name=` its file name) and
//! `GET /api/attachments/{id}`, both with a bearer token. Downloads carry headers that keep a
//! browser from running anything: the sniffed type, `nosniff`, a sandboxing CSP, and
//! `Content-Disposition: attachment` for everything but images.

use super::bearer::Caller;
use super::error::ApiError;
use crate::app::App;
use crate::chat::{ChatError, attachments};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use konsult_protocol::ErrorCode;
use konsult_protocol::model::AttachmentInfo;
use serde::Deserialize;
use std::sync::Arc;

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> ApiError {
        ApiError::new(e.code(), e.public_message())
    }
}

#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    /// The file's name on the uploader's device.
    name: Option<String>,
}

pub async fn upload(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<AttachmentInfo>), ApiError> {
    if let Err(wait) = app.chat.allow_upload(user.id) {
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            format!(
                "at most {} uploads a minute; retry later",
                app.config.limits.uploads_per_minute
            ),
        )
        .retry_after(wait));
    }
    let limit = usize::try_from(app.config.limits.attachment_bytes).unwrap_or(usize::MAX);
    let too_large = || {
        ApiError::new(
            ErrorCode::TooLarge,
            format!("an attachment has at most {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    // Nothing is written before the whole body is here: an upload cancelled or cut off on the
    // way leaves no file and no row behind.
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        if declared.is_some() {
            ApiError::new(
                ErrorCode::BadRequest,
                "the upload ended before its Content-Length",
            )
        } else {
            too_large()
        }
    })?;
    let info = attachments::store_upload(
        &app.store,
        app.chat.attachments_dir(),
        user.id,
        query.name.as_deref(),
        bytes,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(info)))
}

pub async fn download(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let found =
        attachments::for_download(&app.store, app.chat.attachments_dir(), &user, &id).await?;
    let bytes = tokio::fs::read(&found.path).await.map_err(|e| {
        tracing::error!(error = %e, attachment = %id, "attachment file unreadable");
        ApiError::new(
            ErrorCode::NotFound,
            format!("attachment {id} is no longer stored"),
        )
    })?;
    let disposition = if found.is_image() {
        "inline"
    } else {
        "attachment"
    };
    let content_type = HeaderValue::from_str(&found.info.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let mut response = (StatusCode::OK, bytes).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, content_type);
    h.insert(
        header::CONTENT_DISPOSITION,
        content_disposition(disposition, &found.info.name),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    Ok(response)
}

/// `inline` or `attachment` with the file name: an ASCII fallback and the UTF-8 name
/// (RFC 6266, RFC 8187).
fn content_disposition(disposition: &str, name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .filter(|c| !matches!(c, '"' | '\\'))
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    HeaderValue::from_str(&format!(
        "{disposition}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or(HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_carries_an_ascii_and_a_utf8_name() {
        let value = content_disposition("attachment", "Отчёт 1.pdf");
        assert_eq!(
            value.to_str().unwrap_or_default(),
            "attachment; filename=\"_____ 1.pdf\"; \
             filename*=UTF-8''%D0%9E%D1%82%D1%87%D1%91%D1%82%201.pdf"
        );
    }
}
