//! The WebSocket endpoint: upgrade with buffers sized for many idle connections, then one task
//! per connection (`conn`) that owns the socket.

pub mod bridge;
pub mod bridge_links;
mod conn;

pub use conn::run_bridged;
mod origin;
pub mod passport;
mod rate;

/// What a connection's task reads and writes: the client's WebSocket, or on a node of a
/// cluster a bridge to the client's socket on another node (`bridge.rs`).
pub trait Socket:
    futures_util::Stream<Item = Result<axum::extract::ws::Message, axum::Error>>
    + futures_util::Sink<axum::extract::ws::Message, Error = axum::Error>
    + Unpin
    + Send
{
}

impl<T> Socket for T where
    T: futures_util::Stream<Item = Result<axum::extract::ws::Message, axum::Error>>
        + futures_util::Sink<axum::extract::ws::Message, Error = axum::Error>
        + Unpin
        + Send
{
}

use crate::app::App;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use konsult_protocol::ErrorCode;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Bytes tungstenite reads from the socket at a time. Its default (128 KiB) is kept per
/// connection for the life of the connection. 1 KiB holds the frames clients send most (a
/// `send`, a `read`, a request, an ICE candidate) in one read; a larger one (an SDP, a long
/// message) takes several. 19,000 idle connections hold about 35 MB less than with 2 KiB
/// (measured: BENCHMARKS.md, row a).
const READ_BUFFER: usize = 1024;

/// `GET /ws`.
pub async fn upgrade(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let scheme = if app.config.server.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    if !origin::allowed(&headers, scheme, &app.config.server.allowed_origins) {
        tracing::debug!(%peer, "websocket from a foreign origin refused");
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    if app.drain.is_stopping() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    // A share per address for sockets before `hello`, taken before the global budget so that
    // one address's silent sockets cannot use it up.
    let Some(anonymous) = app.anonymous.admit(peer.ip()) else {
        tracing::debug!(%peer, "too many connections waiting for hello from one address");
        return crate::http::error::ApiError::new(
            ErrorCode::RateLimited,
            format!(
                "more than {} connections from this address are waiting for hello",
                app.config.limits.anonymous_per_ip
            ),
        )
        .into_response();
    };
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
        .on_upgrade(move |socket| conn::run(app, socket, peer, anonymous))
}

/// The close code for a failed read: 1009 for an oversized frame, none when the socket broke.
pub(crate) fn read_error_close(e: &axum::Error) -> Option<konsult_protocol::CloseCode> {
    use tokio_tungstenite::tungstenite::Error as WsError;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(ws) = err.downcast_ref::<WsError>() {
            return match ws {
                WsError::Capacity(_) => Some(konsult_protocol::CloseCode::MessageTooBig),
                WsError::Protocol(_) | WsError::Utf8(_) => {
                    Some(konsult_protocol::CloseCode::PolicyViolation)
                }
                _ => None,
            };
        }
        source = err.source();
    }
    None
}
