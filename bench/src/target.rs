//! The server under test, started by the load generator as its own process: Konsult (with a
//! data folder and the portal configured) or the baseline. Its pid is the one /proc is read
//! for; it is stopped on drop, and `timeout` bounds its life if the load generator dies.

use konsult_testkit::portal::BENCH_PORTAL;
use konsult_testkit::process::{Launch, Process, Stderr, Stop};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Longest a server under test may live.
const LIFETIME_LIMIT: Duration = Duration::from_secs(1_800);

/// How long a server may take to stop after SIGTERM before it is killed.
const STOP_WAIT: Duration = Duration::from_secs(30);

/// Which server a scenario measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Konsult,
    Baseline,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Konsult => "konsult",
            Kind::Baseline => "baseline",
        }
    }
}

/// How to start the server under test.
#[derive(Clone, Debug)]
pub struct Spec {
    pub kind: Kind,
    /// The `konsult` or `konsult-baseline` binary.
    pub bin: PathBuf,
    /// Konsult's data folder (kept between runs so that accounts exist).
    pub data: PathBuf,
    /// Extra `KONSULT_*` variables.
    pub env: Vec<(String, String)>,
    /// The baseline's subcommand: `ws` (rows a-c) or `udp` (row f).
    pub baseline_command: &'static str,
}

/// A running server under test; stopped on drop (SIGTERM first, so that Konsult drains and a
/// profiler wrapping it writes its output).
#[derive(Debug)]
pub struct Target {
    pub kind: Kind,
    pub addr: SocketAddr,
    /// The server's own pid (not the `timeout` wrapper's).
    pub pid: u32,
    _process: Process,
}

impl Target {
    /// Starts the server and waits until it listens.
    pub fn start(spec: &Spec) -> anyhow::Result<Target> {
        let mut launch = match spec.kind {
            Kind::Konsult => {
                let mut launch = Launch::konsult(&spec.bin, &spec.data);
                for (name, value) in BENCH_PORTAL.env() {
                    launch = launch.env(name, value);
                }
                let mut launch = launch
                    .env("KONSULT_LOG_LEVEL", "warn")
                    .env("RUST_LOG", "warn");
                launch.env.extend(spec.env.iter().cloned());
                launch
            }
            Kind::Baseline => Launch::new(
                &spec.bin,
                &[spec.baseline_command, "--listen", "127.0.0.1:0"],
            ),
        };
        launch.lifetime = LIFETIME_LIMIT;
        // However long a server under a profiler takes: one that exits is noticed at once.
        launch.start_limit = LIFETIME_LIMIT;
        launch.stderr = Stderr::Inherit;
        launch.stop = Stop::Term { wait: STOP_WAIT };
        let process = Process::start(&launch)?;
        Ok(Target {
            kind: spec.kind,
            addr: process.addr,
            pid: process.pid,
            _process: process,
        })
    }

    /// The WebSocket URL.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }
}

/// A data folder under the system temp folder for one bench run.
pub fn default_data() -> PathBuf {
    std::env::temp_dir().join("konsult-bench-data")
}

/// Whether a path looks like a Konsult data folder that already holds accounts.
pub fn has_database(data: &Path) -> bool {
    data.join("konsult.db").exists()
}
