//! Konsult's load generator and its baselines: the pieces every scenario shares (starting the
//! server under test, WebSocket clients, portal tokens, /proc sampling, statistics) and the
//! scenarios of issue 8's table, each bounded in count and time.

pub mod baseline;
pub mod client;
pub mod procfs;
pub mod rtc;
pub mod scenario;
pub mod stats;
pub mod target;
pub mod tokens;
pub mod udp_forwarder;
