//! Starting and stopping a real server process.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Longest any test server may live: a bound for servers whose test was killed.
const LIFETIME_LIMIT_SECS: u32 = 900;

/// The `konsult` binary built alongside the tests: `KONSULT_BIN`, or the sibling of the test
/// executable's folder (`target/<profile>/konsult`).
pub fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("KONSULT_BIN") {
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
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How to start a server.
#[derive(Debug, Default, Clone)]
pub struct ServerOptions {
    /// Seed the demo school.
    pub demo: bool,
    /// Extra `KONSULT_*` variables.
    pub env: Vec<(String, String)>,
    /// Extra arguments after `serve`.
    pub args: Vec<String>,
}

impl ServerOptions {
    pub fn demo() -> ServerOptions {
        ServerOptions {
            demo: true,
            ..ServerOptions::default()
        }
    }

    /// Sets a `KONSULT_*` variable.
    pub fn env(mut self, name: &str, value: &str) -> ServerOptions {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Accepts tokens signed by the test portal (`crate::portal::portal_token`).
    pub fn with_portal(self) -> ServerOptions {
        self.env("KONSULT_AUTH_PORTAL_ISSUER", crate::portal::PORTAL_ISSUER)
            .env("KONSULT_AUTH_PORTAL_SECRET", crate::portal::PORTAL_SECRET)
    }
}

/// A running server process; killed on drop.
#[derive(Debug)]
pub struct Server {
    pub addr: SocketAddr,
    /// The server's own pid (not the watchdog's).
    pub pid: u32,
    /// Everything the server printed on stdout before it listened (the admin password...).
    pub banner: Vec<String>,
    child: Option<Child>,
    /// Lines of stderr, collected by a thread.
    stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    pub data: PathBuf,
    _dir: Option<TempDir>,
}

impl Server {
    /// Starts a server on a fresh data folder.
    pub fn start(options: ServerOptions) -> Server {
        let dir = TempDir::new("data");
        let data = dir.0.clone();
        let mut server = Server::start_in(&data, options);
        server._dir = Some(dir);
        server
    }

    /// Starts a server on an existing data folder (kept after the server stops).
    pub fn start_in(data: &Path, options: ServerOptions) -> Server {
        let mut cmd = Command::new("timeout");
        cmd.arg("--kill-after=5")
            .arg(LIFETIME_LIMIT_SECS.to_string())
            .arg(binary())
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data")
            .arg(data);
        if options.demo {
            cmd.arg("--demo");
        }
        cmd.args(&options.args);
        for (name, _) in std::env::vars() {
            if name.starts_with("KONSULT_") {
                cmd.env_remove(name);
            }
        }
        cmd.env("KONSULT_MEDIA_LISTEN", "127.0.0.1:0");
        for (name, value) in &options.env {
            cmd.env(name, value);
        }
        cmd.env(
            "RUST_LOG",
            std::env::var("KONSULT_TEST_LOG").unwrap_or("info".into()),
        );
        cmd.current_dir(data);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn konsult");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let err_pipe = child.stderr.take().expect("stderr");
        {
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err_pipe).lines().map_while(Result::ok) {
                    if std::env::var_os("KONSULT_TEST_ECHO").is_some() {
                        eprintln!("[server] {line}");
                    }
                    stderr.lock().expect("stderr lock").push(line);
                }
            });
        }
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut banner = Vec::new();
            let mut sent = false;
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if !sent {
                    let rest = line
                        .strip_prefix("Konsult listening on http://")
                        .or_else(|| line.strip_prefix("Konsult listening on https://"));
                    if let Some(rest) = rest {
                        let (addr, pid) = rest.split_once(" (pid ").expect("listen line");
                        let addr: SocketAddr = addr.parse().expect("addr");
                        let pid: u32 = pid.trim_end_matches(')').parse().expect("pid");
                        let _ = tx.send(Ok((addr, pid, std::mem::take(&mut banner))));
                        sent = true;
                    } else {
                        banner.push(line);
                    }
                }
            }
            if !sent {
                let _ = tx.send(Err(banner));
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok((addr, pid, banner))) => Server {
                addr,
                pid,
                banner,
                child: Some(child),
                stderr,
                data: data.to_path_buf(),
                _dir: None,
            },
            other => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "server did not start: {other:?}\nstderr:\n{}",
                    stderr.lock().expect("lock").join("\n")
                );
            }
        }
    }

    /// `http://addr`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `ws://addr/ws`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// What the server wrote to stderr so far.
    pub fn logs(&self) -> String {
        self.stderr.lock().expect("lock").join("\n")
    }

    /// Sends a signal to the server process (`TERM`, `KILL`, `STOP`, `CONT`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid.to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{name} {} failed", self.pid);
    }

    /// Waits for the process to exit and returns its status and how long that took.
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

    /// Logs in over HTTP and returns the token.
    pub fn login(&self, login: &str, password: &str) -> String {
        let body = serde_json::json!({ "login": login, "password": password }).to_string();
        let resp = http_request(
            self.addr,
            "POST",
            "/api/login",
            &[("content-type", "application/json")],
            body.as_bytes(),
        );
        assert_eq!(resp.status, 200, "login {login}: {}", resp.text());
        resp.json()["token"].as_str().expect("token").to_string()
    }
}

use crate::http::http_request;

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(self.pid.to_string())
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `konsult` with arguments (not `serve`) and returns its exit code, stdout and stderr.
pub fn run_cli(args: &[&str], env: &[(&str, &str)], cwd: &Path) -> (i32, String, String) {
    let mut cmd = Command::new(binary());
    cmd.args(args).current_dir(cwd);
    for (name, _) in std::env::vars() {
        if name.starts_with("KONSULT_") {
            cmd.env_remove(name);
        }
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
