//! Prometheus metrics: the recorder, the names every part of the server records under, and
//! the description of each, the SFU's (named in `konsult_media::metrics`) included.

use konsult_media::metrics as sfu;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
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
/// Chat messages stored (counter).
pub const CHAT_MESSAGES_STORED: &str = "konsult_chat_messages_stored_total";
/// Chat commits, each storing a batch of sends with one fsync (counter).
pub const CHAT_COMMITS: &str = "konsult_chat_commits_total";
/// Sends per chat commit (histogram).
pub const CHAT_COMMIT_BATCH: &str = "konsult_chat_commit_batch_size";
/// Attachments uploaded (counter).
pub const ATTACHMENTS_STORED: &str = "konsult_attachments_stored_total";
/// Build information: version (gauge, always 1).
pub const BUILD_INFO: &str = "konsult_build_info";
/// Gauge: the schools this node of a cluster holds.
pub const SCHOOLS_HELD: &str = "konsult_cluster_schools_held";
/// Counter: messages this node published on the bus, by whether a node heard them.
pub const BUS_PUBLISHED: &str = "konsult_cluster_bus_messages_total";
/// Gauge: bridged connections, by side (`edge`: the socket is here; `owner`: it runs here).
pub const BRIDGED: &str = "konsult_cluster_bridged_connections";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once and returns the handle that renders it.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new();
            // Powers of two up to the writer's largest batch.
            let batch_buckets = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
            let builder = builder
                .set_buckets_for_metric(Matcher::Full(CHAT_COMMIT_BATCH.into()), &batch_buckets)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
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
    describe_counter!(CHAT_MESSAGES_STORED, "Chat messages stored.");
    describe_counter!(CHAT_COMMITS, "Chat commits (one fsync each).");
    metrics::describe_histogram!(CHAT_COMMIT_BATCH, "Sends stored per chat commit.");
    describe_counter!(ATTACHMENTS_STORED, "Attachments uploaded.");
    describe_gauge!(sfu::MEMBERS, "Members with a peer connection on the SFU.");
    describe_gauge!(sfu::SESSIONS, "Sessions on the SFU.");
    describe_counter!(
        sfu::FORWARDED_FRAMES,
        "Frames forwarded, one per receiving member."
    );
    describe_counter!(sfu::FORWARDED_BYTES, "Payload bytes of forwarded frames.");
    describe_counter!(
        sfu::SENT_PACKETS,
        "RTP packets sent to members, retransmissions included."
    );
    describe_counter!(sfu::SENT_BYTES, "Bytes of RTP packets sent to members.");
    describe_counter!(sfu::NACKS, "NACKs received from members.");
    describe_counter!(
        sfu::KEYFRAME_REQUESTS,
        "Keyframe requests sent to publishers."
    );
    describe_counter!(sfu::UNROUTED, "Datagrams that matched no member.");
    describe_counter!(sfu::SEND_DROPS, "Datagrams dropped on a full send buffer.");
    describe_counter!(
        sfu::TCP_PACKETS,
        "Packets received from members over ICE-TCP."
    );
    describe_counter!(
        sfu::REFUSED,
        "Media commands refused while the SFU was behind."
    );
    describe_gauge!(BUILD_INFO, "Konsult's version.");
    describe_gauge!(SCHOOLS_HELD, "Schools this node of a cluster holds.");
    describe_counter!(
        BUS_PUBLISHED,
        "Messages published on the bus, by outcome (heard or unheard)."
    );
    describe_gauge!(
        BRIDGED,
        "Bridged connections, by side (edge: socket here; owner: runs here)."
    );
}
