//! The scenarios of issue 8's table, one module each: idle connections (a), signaling round
//! trips under that crowd (b), fan-out (c), durable chat (d), the pairing storm and the hub
//! alone (e), SFU forwarding (f) and joining (g); and issue 17's cluster of nodes (h).

pub mod chat;
pub mod cluster;
pub mod fanout;
pub mod hub;
pub mod idle;
pub mod media;
pub mod pairing;
pub mod rtt;

use crate::target::{Kind, Spec, Target};
use crate::tokens;
use std::path::PathBuf;

/// Options every socket scenario takes: what to measure and how the load connects.
#[derive(Clone, Debug, clap::Args)]
pub struct Common {
    /// The server under test.
    #[arg(long, value_enum, default_value = "konsult")]
    pub target: Kind,
    /// The `konsult` binary.
    #[arg(long, default_value = "target/release/konsult")]
    pub konsult_bin: PathBuf,
    /// The `konsult-baseline` binary.
    #[arg(long, default_value = "target/release/konsult-baseline")]
    pub baseline_bin: PathBuf,
    /// Konsult's data folder; kept so that later runs find the accounts already created.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Loopback source addresses to spread connections over (127.0.0.1 ..).
    #[arg(long, default_value_t = 16)]
    pub sources: usize,
    /// Keep Konsult's data in this PostgreSQL database (`store.url`) instead of SQLite in the
    /// data folder.
    #[arg(long, env = "KONSULT_BENCH_STORE_URL")]
    pub store_url: Option<String>,
    /// Handshakes in flight at once while a crowd connects.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
}

impl Common {
    /// How to start the server under test, with extra `KONSULT_*` variables.
    pub fn spec(&self, env: &[(&str, String)]) -> Spec {
        Spec {
            kind: self.target,
            bin: match self.target {
                Kind::Konsult => self.konsult_bin.clone(),
                Kind::Baseline => self.baseline_bin.clone(),
            },
            data: self
                .data
                .clone()
                .unwrap_or_else(crate::target::default_data),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .chain(
                    self.store_url
                        .iter()
                        .map(|url| ("KONSULT_STORE_URL".to_string(), url.clone())),
                )
                .collect(),
            baseline_command: "ws",
        }
    }

    /// Which store Konsult keeps its data in, for the summary.
    pub fn store(&self) -> &'static str {
        if self.store_url.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    }

    /// Starts the server under test.
    pub fn start(&self, env: &[(&str, String)]) -> anyhow::Result<Target> {
        Target::start(&self.spec(env))
    }
}

/// Tokens for students `from..from + count` of class `class`.
pub fn student_tokens(from: usize, count: usize, class: &str) -> Vec<String> {
    (from..from + count)
        .map(|i| tokens::student(i, class))
        .collect()
}

/// The class every bench student is in.
pub const CLASS: &str = "B1";
