//! Running a server binary (`konsult`, `konsult-baseline`) as a child process: under `timeout`
//! so that it never outlives a killed test or load, without the caller's `KONSULT_*`
//! variables, until it prints where it listens; stopped on drop. Also the `konsult` binary
//! beside the test executables, its other commands, and throwaway folders.

use anyhow::Context;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The `konsult` binary: `KONSULT_BIN`, or the sibling of the running test executable's folder
/// (`target/<profile>/konsult`).
pub fn konsult_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("KONSULT_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join("konsult");
    assert!(
        bin.exists(),
        "{} is missing: build it first (scripts/test does: cargo build --workspace --all-targets)",
        bin.display()
    );
    bin
}

/// Where a server's stderr goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stderr {
    /// Kept for [`Process::logs`] (echoed too when `KONSULT_TEST_ECHO` is set).
    Capture,
    /// Straight to the caller's stderr.
    Inherit,
}

/// How dropping a [`Process`] stops it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGKILL at once.
    Kill,
    /// SIGTERM, so that the server drains and a profiler wrapping it writes its output; SIGKILL
    /// if it has not exited after `wait`.
    Term { wait: Duration },
}

/// How to start a server.
#[derive(Clone, Debug)]
pub struct Launch {
    /// The binary; made absolute, since the server may run in another folder.
    pub bin: PathBuf,
    pub args: Vec<OsString>,
    /// The working folder (Konsult runs in its data folder).
    pub dir: Option<PathBuf>,
    /// Variables set after every inherited `KONSULT_*` one is removed.
    pub env: Vec<(String, String)>,
    /// Longest the server may live: `timeout` ends it even when its starter died.
    pub lifetime: Duration,
    /// How long it may take to print its listening line.
    pub start_limit: Duration,
    pub stderr: Stderr,
    pub stop: Stop,
}

impl Launch {
    /// `bin args...` with stderr captured, killed on drop, for at most 15 minutes.
    pub fn new(bin: impl Into<PathBuf>, args: &[&str]) -> Launch {
        Launch {
            bin: bin.into(),
            args: args.iter().map(OsString::from).collect(),
            dir: None,
            env: Vec::new(),
            lifetime: Duration::from_secs(900),
            start_limit: Duration::from_secs(60),
            stderr: Stderr::Capture,
            stop: Stop::Kill,
        }
    }

    /// `konsult serve` on a free loopback port (the SFU's and the metrics listener's too), in and
    /// on the data folder `data`.
    pub fn konsult(bin: impl Into<PathBuf>, data: &Path) -> Launch {
        let mut launch = Launch::new(bin, &["serve", "--listen", "127.0.0.1:0", "--data"]);
        launch.args.push(data.into());
        launch.dir = Some(data.to_path_buf());
        launch
            .env("KONSULT_MEDIA_LISTEN", "127.0.0.1:0")
            .env("KONSULT_METRICS_LISTEN", "127.0.0.1:0")
    }

    /// Sets a variable (a later one of the same name wins).
    pub fn env(mut self, name: &str, value: &str) -> Launch {
        self.env.push((name.into(), value.into()));
        self
    }
}

/// A running server; stopped on drop as its [`Launch`] said.
#[derive(Debug)]
pub struct Process {
    pub addr: SocketAddr,
    /// The server's own pid (not the `timeout` wrapper's).
    pub pid: u32,
    /// Everything it printed on stdout before it listened (Konsult's admin password...).
    pub banner: Vec<String>,
    /// `None` once it has exited.
    child: Option<Child>,
    /// Lines of stderr, collected by a thread when captured.
    stderr: Arc<Mutex<Vec<String>>>,
    stop: Stop,
}

impl Process {
    /// Starts the server and waits until it says where it listens.
    pub fn start(launch: &Launch) -> anyhow::Result<Process> {
        let bin = std::fs::canonicalize(&launch.bin)
            .with_context(|| format!("no binary at {}", launch.bin.display()))?;
        let mut cmd = Command::new("timeout");
        cmd.arg("--kill-after=5")
            .arg(launch.lifetime.as_secs().to_string())
            .arg(&bin)
            .args(&launch.args);
        if let Some(dir) = &launch.dir {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
            cmd.current_dir(dir);
        }
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("KONSULT_") {
                cmd.env_remove(name);
            }
        }
        for (name, value) in &launch.env {
            cmd.env(name, value);
        }
        let stderr_to = match launch.stderr {
            Stderr::Capture => Stdio::piped(),
            Stderr::Inherit => Stdio::inherit(),
        };
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr_to);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("start {}", bin.display()))?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(pipe) = child.stderr.take() {
            collect_stderr(pipe, stderr.clone());
        }
        let stdout = child.stdout.take().context("server stdout")?;
        match wait_for_banner(stdout, launch.start_limit) {
            Ok((addr, pid, banner)) => Ok(Process {
                addr,
                pid,
                banner,
                child: Some(child),
                stderr,
                stop: launch.stop,
            }),
            Err(printed) => {
                // Already gone, or stuck: either way it is not wanted any more.
                let _killed = child.kill();
                let _status = child.wait();
                // Let the stderr thread take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                anyhow::bail!(
                    "{} did not start: {printed}\nstderr:\n{}",
                    bin.display(),
                    lines(&stderr)
                )
            }
        }
    }

    /// What the server wrote to stderr so far, when captured.
    pub fn logs(&self) -> String {
        lines(&self.stderr)
    }

    /// Sends a signal (`TERM`, `KILL`, `STOP`, `CONT`) to the server; whether `kill` succeeded.
    pub fn signal(&self, name: &str) -> bool {
        Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid.to_string())
            .status()
            .is_ok_and(|status| status.success())
    }

    /// Waits for the server to exit; returns its status and how long that took.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<(ExitStatus, Duration)> {
        let started = Instant::now();
        let child = self.child.as_mut()?;
        while started.elapsed() < limit {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some((status, started.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // The server itself is signalled: killing the `timeout` wrapper alone would leave it
        // running.
        if let Stop::Term { wait } = self.stop {
            self.signal("TERM");
            let deadline = Instant::now() + wait;
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.signal("KILL");
        // It may be gone already; nothing is left to do either way.
        let _killed = child.kill();
        let _status = child.wait();
    }
}

/// Reads stdout until the listening line; returns the address, the pid and the lines before,
/// or what was printed when the server exited or `limit` passed first. The server's stdout is
/// read to its end, so that it never blocks on a full pipe.
fn wait_for_banner(
    stdout: std::process::ChildStdout,
    limit: Duration,
) -> Result<(SocketAddr, u32, Vec<String>), String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut banner = Vec::new();
        let mut sent = false;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sent {
                continue;
            }
            match parse_banner(&line) {
                Some((addr, pid)) => {
                    // The starter may have given up waiting.
                    let _gone = tx.send(Ok((addr, pid, std::mem::take(&mut banner))));
                    sent = true;
                }
                None => banner.push(line),
            }
        }
        if !sent {
            let _gone = tx.send(Err(banner));
        }
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(found)) => Ok(found),
        Ok(Err(banner)) => Err(format!("exited after printing {banner:?}")),
        Err(_) => Err(format!("no listening line within {limit:?}")),
    }
}

/// `... listening on http://127.0.0.1:PORT (pid N)` (or `https://`, `udp://`) → the address
/// and pid; both Konsult and the baseline print it once they listen.
pub fn parse_banner(line: &str) -> Option<(SocketAddr, u32)> {
    let (_, rest) = line.split_once("listening on ")?;
    let (_, rest) = rest.split_once("://")?;
    let (addr, rest) = rest.split_once(' ')?;
    let pid = rest.strip_prefix("(pid ")?.strip_suffix(')')?;
    Some((addr.parse().ok()?, pid.parse().ok()?))
}

/// `Konsult metrics on http://127.0.0.1:PORT/metrics` → the metrics listener's address.
pub fn parse_metrics_line(line: &str) -> Option<SocketAddr> {
    let rest = line.strip_prefix("Konsult metrics on http://")?;
    rest.strip_suffix("/metrics")?.parse().ok()
}

/// Keeps the lines of `pipe`, echoing them when `KONSULT_TEST_ECHO` is set.
fn collect_stderr(pipe: std::process::ChildStderr, into: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if std::env::var_os("KONSULT_TEST_ECHO").is_some() {
                eprintln!("[server] {line}");
            }
            into.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line);
        }
    });
}

fn lines(kept: &Mutex<Vec<String>>) -> String {
    kept.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .join("\n")
}

/// Runs `konsult` with arguments (not `serve`) and without the caller's `KONSULT_*`
/// variables; returns its exit code, stdout and stderr.
pub fn run_cli(args: &[&str], env: &[(&str, &str)], cwd: &Path) -> (i32, String, String) {
    let mut cmd = Command::new(konsult_binary());
    cmd.args(args).current_dir(cwd);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("KONSULT_") {
            cmd.env_remove(name);
        }
    }
    // A command on a data folder (`--data`, else the working folder) whose servers keep their
    // data in PostgreSQL uses that database too; under KONSULT_TEST_STORE=postgres a command
    // that comes first makes it.
    let data = args
        .iter()
        .position(|a| *a == "--data")
        .and_then(|i| args.get(i + 1))
        .map(Path::new)
        .unwrap_or(cwd);
    let kept = data.join(crate::postgres::MARKER).exists();
    if (kept || crate::postgres::everywhere())
        && !env.iter().any(|(name, _)| *name == "KONSULT_STORE_URL")
        && std::fs::create_dir_all(data).is_ok()
    {
        cmd.env("KONSULT_STORE_URL", crate::postgres::database_for(data));
    }
    for (name, value) in env {
        cmd.env(name, value);
    }
    let out = cmd.output().expect("run konsult");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A fresh folder under the system temp folder, removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "konsult-test-{tag}-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // A data folder (this one, or one just inside it) whose servers kept their data in
        // PostgreSQL takes that database with it.
        crate::postgres::drop_database_of(&self.0);
        if let Ok(entries) = std::fs::read_dir(&self.0) {
            for entry in entries.flatten() {
                if entry.path().is_dir() {
                    crate::postgres::drop_database_of(&entry.path());
                }
            }
        }
        // Best effort: a server may still hold a file open on some systems.
        let _removed = std::fs::remove_dir_all(&self.0);
    }
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
        let (addr, _) =
            parse_banner("Konsult listening on https://127.0.0.1:443 (pid 5)").expect("tls banner");
        assert_eq!(addr.port(), 443);
        let metrics = parse_metrics_line("Konsult metrics on http://127.0.0.1:9464/metrics")
            .expect("metrics line");
        assert_eq!(metrics.port(), 9464);
        assert!(parse_metrics_line("Konsult listening on http://127.0.0.1:1 (pid 5)").is_none());
    }
}
