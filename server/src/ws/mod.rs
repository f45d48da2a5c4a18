//! The WebSocket endpoint: upgrade with buffers sized for many idle connections, then one task
//! per connection (`conn`) that owns the socket.

mod conn;
mod rate;

use crate::app::App;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
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
    if !origin_allowed(&headers, &app.config.server.allowed_origins) {
        tracing::debug!(%peer, "websocket from a foreign origin refused");
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
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

/// A browser page may open `/ws` only from the server's own origin or an allowed one; clients
/// that are not browsers send no `Origin` and are judged by their token alone.
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    if allowed
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    matches!((host, origin_host), (Some(h), Some(o)) if h.eq_ignore_ascii_case(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().expect("host"));
        if let Some(o) = origin {
            h.insert(header::ORIGIN, o.parse().expect("origin"));
        }
        h
    }

    #[test]
    fn origins() {
        let allowed = vec!["https://portal.school.example".to_string()];
        assert!(origin_allowed(&headers(None, "k:8080"), &allowed));
        assert!(origin_allowed(
            &headers(Some("http://k:8080"), "k:8080"),
            &allowed
        ));
        assert!(origin_allowed(
            &headers(Some("https://portal.school.example"), "k"),
            &allowed
        ));
        assert!(!origin_allowed(
            &headers(Some("https://evil.example"), "k:8080"),
            &allowed
        ));
        assert!(!origin_allowed(
            &headers(Some("http://k:8081"), "k:8080"),
            &allowed
        ));
        assert!(!origin_allowed(&headers(Some("null"), "k:8080"), &allowed));
    }
}
