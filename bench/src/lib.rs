//! Konsult's load generator and its baselines: the pieces every scenario shares (the server
//! under test, crowds of idle clients, the load's users, /proc sampling, statistics; the rest,
//! shared with the black-box tests, is `konsult-testkit`'s) and the scenarios of issue 8's
//! table, each bounded in count and time.

pub mod baseline;
pub mod crowd;
pub mod procfs;
pub mod rtc;
pub mod scenario;
pub mod stats;
pub mod target;
pub mod tokens;
pub mod udp_forwarder;
