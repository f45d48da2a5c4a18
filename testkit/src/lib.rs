//! What Konsult's black-box tests (`tests/`) and its load generator (`bench/`) share: starting
//! the server binary (on SQLite, or on a fresh PostgreSQL database), clusters of it sharing one
//! PostgreSQL and one Redis, WebSocket clients that speak the protocol, portal tokens, and the VP8
//! framing their synthetic media is read with.

pub mod cluster;
pub mod http;
pub mod portal;
pub mod postgres;
pub mod process;
pub mod server;
pub mod vp8;
pub mod ws;
pub mod ws_client;

pub use cluster::Cluster;
pub use http::{HttpResponse, api_call, http_request};
pub use server::{Server, ServerOptions};
pub use ws_client::WsClient;
