//! HTTP routes: health, login, the WebSocket upgrade and the web client on the public port;
//! `/metrics` alone on the metrics listener.

mod admin;
mod anonymous;
mod attachments;
mod audit;
mod bearer;
mod consultations;
pub mod error;
mod help;
mod hours;
mod import_outcome;
mod import_progress;
mod login;
mod record_view;
mod report;
mod report_csv;
mod schools;
mod students;

pub use bearer::Caller;
pub use error::ApiError;

use crate::app::App;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use std::sync::Arc;
use tower_http::set_header::SetResponseHeaderLayer;

/// Every route the server answers.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/api/login",
            post(login::login).layer(SetResponseHeaderLayer::overriding(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            )),
        )
        .route("/api/logout", post(login::logout))
        .route("/api/anonymous", post(anonymous::identity))
        .route("/api/consultations", get(consultations::list))
        .route("/api/consultations/summary", get(consultations::summary))
        .route("/api/hours", get(hours::get_own).put(hours::put_own))
        .route("/cal/{file}", get(crate::booking::calendar::feed))
        .route("/api/students", get(students::list))
        .route("/api/classes", get(students::classes))
        .route("/api/attachments", post(attachments::upload))
        .route("/api/attachments/{id}", get(attachments::download))
        .route("/help", get(help::page))
        .route("/s/{code}/help", get(help::page_of))
        .route("/api/schools", get(schools::list))
        .route("/help.css", get(help::css))
        .route("/help/regulation", get(help::regulation))
        .route("/api/help", get(help::json))
        .route(
            "/api/admin/users",
            get(admin::list_users).post(admin::create_user),
        )
        .route("/api/admin/users/import", post(admin::import_users))
        .route(
            "/api/admin/users/{id}/password",
            post(admin::reset_password),
        )
        .route("/api/admin/users/{id}/deactivate", post(admin::deactivate))
        .route("/api/admin/users/{id}/activate", post(admin::activate))
        .route(
            "/api/admin/users/{id}/hours",
            axum::routing::put(admin::set_user_hours),
        )
        .route("/api/admin/classes", get(admin::classes))
        .route("/api/admin/subjects", get(admin::subjects))
        .route(
            "/api/admin/subjects/{code}",
            axum::routing::put(admin::put_subject),
        )
        .route(
            "/api/admin/help-links",
            get(admin::get_links).put(admin::put_links),
        )
        .route("/api/admin/audit", get(admin::audit_log))
        .route("/ws", get(crate::ws::upgrade))
        .merge(crate::web::routes())
        .with_state(app)
        .layer(header_layer(header::CONTENT_SECURITY_POLICY, CSP))
        .layer(header_layer(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header_layer(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header_layer(header::REFERRER_POLICY, "no-referrer"))
        .layer(header_layer(
            HeaderName::from_static("permissions-policy"),
            "camera=(self), microphone=(self), display-capture=(self), geolocation=()",
        ))
}

/// Everything the web client loads comes from this server: no third party, no inline code,
/// no framing by other sites.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src 'self'; \
    font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

fn header_layer(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// Liveness and a little state, for load balancers and people.
async fn healthz(State(app): State<Arc<App>>) -> impl IntoResponse {
    axum::Json(serde_json::json!({
        "status": if app.drain.is_stopping() { "stopping" } else { "ok" },
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": konsult_protocol::PROTOCOL_VERSION,
        "connections": app.directory.len(),
    }))
}

/// The metrics listener's only route (`metrics.listen`), never served on the public port.
pub fn metrics_router(app: Arc<App>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(app)
        .layer(header_layer(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
}

/// Prometheus text exposition.
async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
}
