//! The WebSocket endpoint: upgrade with buffers sized for many idle connections, then one task
//! per connection (`conn`) that owns the socket.

mod conn;
mod rate;

pub use conn::ConnCtx;

use crate::app::App;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Bytes tungstenite reads from the socket at a time. Its default (128 KiB) is kept per
/// connection for the life of the connection; 4 KiB holds every ordinary frame in one read.
const READ_BUFFER: usize = 4 * 1024;

/// `GET /ws`.
pub async fn upgrade(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    if app.drain.is_stopping() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let open = app.sockets.fetch_add(1, Ordering::AcqRel);
    if open >= app.config.server.max_connections {
        app.sockets.fetch_sub(1, Ordering::AcqRel);
        return (StatusCode::SERVICE_UNAVAILABLE, "too many connections").into_response();
    }
    let max = app.config.limits.max_frame_bytes;
    ws.read_buffer_size(READ_BUFFER)
        // Frames are written straight through; nothing is kept between writes.
        .write_buffer_size(0)
        .max_write_buffer_size(max.max(1 << 20) * 4)
        .max_message_size(max)
        .max_frame_size(max)
        .on_failed_upgrade({
            let app = app.clone();
            move |e| {
                app.sockets.fetch_sub(1, Ordering::AcqRel);
                tracing::debug!(error = %e, "websocket upgrade failed");
            }
        })
        .on_upgrade(move |socket| conn::run(app, socket, peer))
}
