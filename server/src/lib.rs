//! The Konsult server as a library: the `konsult` binary's parts, reusable by benchmarks and
//! tests that run them in process.

pub mod accounts;
pub mod anonymous;
pub mod app;
pub mod auth;
pub mod chat;
pub mod conn_ctx;
pub mod device;
pub mod directory;
pub mod dispatch;
pub mod drain;
pub mod http;
pub mod hub;
pub mod hub_handle;
pub mod hub_keeper;
pub mod ice;
pub mod listen;
pub mod logging;
pub mod login_guard;
pub mod media_link;
pub mod metrics;
pub mod node;
pub mod notices;
pub mod records;
pub mod restored_resumes;
pub mod revoked;
pub mod school_hubs;
pub mod schools;
pub mod serve;
pub use konsult_store as store;
pub mod tls;
pub mod web;
pub mod wire;
pub mod wording;
pub mod ws;
