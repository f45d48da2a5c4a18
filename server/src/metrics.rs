//! Prometheus metrics: the recorder, and the names every part of the server records under.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Open WebSocket connections (gauge).
pub const CONNECTIONS: &str = "konsult_connections";
/// Authenticated WebSocket connections (gauge).
pub const AUTHENTICATED: &str = "konsult_connections_authenticated";
/// Client messages received, by `type` (counter).
pub const MESSAGES_IN: &str = "konsult_messages_in_total";
/// Server messages sent, by `type` (counter).
pub const MESSAGES_OUT: &str = "konsult_messages_out_total";
/// Errors sent to clients, by `code` (counter).
pub const ERRORS: &str = "konsult_errors_total";
/// Connections closed by the server, by close `code` (counter).
pub const CLOSES: &str = "konsult_closes_total";
/// Login attempts, by `outcome` (counter).
pub const LOGINS: &str = "konsult_logins_total";
/// Build information: version (gauge, always 1).
pub const BUILD_INFO: &str = "konsult_build_info";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once and returns the handle that renders it.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Only this function installs a recorder, and only once.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed");
            }
            describe();
            metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge};
    describe_gauge!(CONNECTIONS, "Open WebSocket connections.");
    describe_gauge!(AUTHENTICATED, "WebSocket connections past hello.");
    describe_counter!(MESSAGES_IN, "Client messages received, by type.");
    describe_counter!(MESSAGES_OUT, "Server messages sent, by type.");
    describe_counter!(ERRORS, "Errors sent to clients, by code.");
    describe_counter!(CLOSES, "Connections closed by the server, by close code.");
    describe_counter!(LOGINS, "Login attempts, by outcome.");
    describe_gauge!(BUILD_INFO, "Konsult's version.");
}
