//! The server under test, started by the load generator as its own process: Konsult (with a
//! data folder and the portal configured) or the baseline. Its pid is the one /proc is read
//! for; it is stopped on drop, and `timeout` bounds its life if the load generator dies.

use anyhow::Context;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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

/// A running server under test; killed on drop.
#[derive(Debug)]
pub struct Target {
    pub kind: Kind,
    pub addr: SocketAddr,
    /// The server's own pid (not the `timeout` wrapper's).
    pub pid: u32,
    child: Child,
}

impl Target {
    /// Starts the server and waits until it listens.
    pub fn start(spec: &Spec) -> anyhow::Result<Target> {
        // Konsult runs in its data folder: a relative binary path must not depend on that.
        let bin = std::fs::canonicalize(&spec.bin)
            .with_context(|| format!("no binary at {}", spec.bin.display()))?;
        let mut cmd = Command::new("timeout");
        cmd.arg("--kill-after=5")
            .arg(LIFETIME_LIMIT.as_secs().to_string())
            .arg(&bin);
        match spec.kind {
            Kind::Konsult => {
                std::fs::create_dir_all(&spec.data)
                    .with_context(|| format!("create {}", spec.data.display()))?;
                cmd.arg("serve")
                    .arg("--listen")
                    .arg("127.0.0.1:0")
                    .arg("--data")
                    .arg(&spec.data)
                    .current_dir(&spec.data);
                for (name, _) in std::env::vars() {
                    if name.starts_with("KONSULT_") {
                        cmd.env_remove(name);
                    }
                }
                cmd.env("KONSULT_AUTH_PORTAL_ISSUER", crate::tokens::ISSUER)
                    .env("KONSULT_AUTH_PORTAL_SECRET", crate::tokens::SECRET)
                    .env("KONSULT_MEDIA_LISTEN", "127.0.0.1:0")
                    .env("KONSULT_LOG_LEVEL", "warn")
                    .env("RUST_LOG", "warn");
                for (name, value) in &spec.env {
                    cmd.env(name, value);
                }
            }
            Kind::Baseline => {
                cmd.arg(spec.baseline_command)
                    .arg("--listen")
                    .arg("127.0.0.1:0");
            }
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd
            .spawn()
            .with_context(|| format!("start {}", spec.bin.display()))?;
        let stdout = child.stdout.take().context("server stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        // Both servers print `... listening on http://ADDR (pid N)` once they listen.
        let (addr, pid) = loop {
            let Some(line) = lines.next() else {
                anyhow::bail!("{} exited before listening", spec.bin.display());
            };
            let line = line?;
            if let Some(found) = parse_banner(&line) {
                break found;
            }
        };
        // Keep reading stdout so that the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
        Ok(Target {
            kind: spec.kind,
            addr,
            pid,
            child,
        })
    }

    /// The WebSocket URL.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        // SIGTERM first: Konsult drains and exits, and a profiler wrapping it (valgrind) writes
        // its output. Killing the `timeout` wrapper alone would leave the server running.
        let signal = |sig: &str| {
            let _ignored = Command::new("kill")
                .arg(sig)
                .arg(self.pid.to_string())
                .status();
        };
        signal("-TERM");
        let deadline = std::time::Instant::now() + STOP_WAIT;
        while std::time::Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal("-KILL");
        let _ignored = self.child.kill();
        let _ignored = self.child.wait();
    }
}

/// `listening on http://127.0.0.1:PORT (pid N)` → the address and pid.
fn parse_banner(line: &str) -> Option<(SocketAddr, u32)> {
    let rest = line
        .split("listening on http://")
        .nth(1)
        .or_else(|| line.split("listening on udp://").nth(1))?;
    let (addr, rest) = rest.split_once(' ')?;
    let pid = rest.strip_prefix("(pid ")?.strip_suffix(')')?;
    Some((addr.parse().ok()?, pid.parse().ok()?))
}

/// A data folder under the system temp folder for one bench run.
pub fn default_data() -> PathBuf {
    std::env::temp_dir().join("konsult-bench-data")
}

/// Whether a path looks like a Konsult data folder that already holds accounts.
pub fn has_database(data: &Path) -> bool {
    data.join("konsult.db").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner() {
        let (addr, pid) =
            parse_banner("Konsult listening on http://127.0.0.1:4321 (pid 77)").expect("banner");
        assert_eq!(addr.port(), 4321);
        assert_eq!(pid, 77);
        assert!(parse_banner("something else").is_none());
        let (addr, _) = parse_banner("konsult-baseline listening on udp://127.0.0.1:9 (pid 5)")
            .expect("udp banner");
        assert_eq!(addr.port(), 9);
    }
}
