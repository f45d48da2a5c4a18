//! HTTP routes: health, metrics, login, the WebSocket upgrade and the web client.

mod bearer;
mod consultations;
mod error;
mod login;

pub use bearer::Caller;
pub use error::ApiError;

use crate::app::App;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use std::sync::Arc;

/// Every route the server answers.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/login", post(login::login))
        .route("/api/consultations", get(consultations::list))
        .route("/ws", get(crate::ws::upgrade))
        .merge(crate::web::routes())
        .with_state(app)
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
