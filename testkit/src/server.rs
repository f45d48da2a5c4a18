//! The tests' server: the real `konsult` binary started on a fresh (or given) data folder,
//! with what a test wants of it, and the calls a test makes of the process (logins, signals,
//! its logs).

use crate::http::http_request;
use crate::portal::TEST_PORTAL;
use crate::process::{Launch, Process, TempDir, konsult_binary, parse_metrics_line};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

/// How to start a server.
#[derive(Debug, Default, Clone)]
pub struct ServerOptions {
    /// Seed the demo school.
    pub demo: bool,
    /// Extra `KONSULT_*` variables.
    pub env: Vec<(String, String)>,
    /// Extra arguments after `serve`.
    pub args: Vec<String>,
    /// Keep everything in a fresh PostgreSQL database (see [`crate::postgres`]) rather than
    /// SQLite; `KONSULT_TEST_STORE=postgres` sets it for every server.
    pub postgres: bool,
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

    /// Keeps everything in a fresh PostgreSQL database, kept across restarts on the same
    /// data folder and dropped with it.
    pub fn on_postgres(mut self) -> ServerOptions {
        self.postgres = true;
        self
    }

    /// Accepts tokens signed by the test portal (`crate::portal::portal_token`).
    pub fn with_portal(self) -> ServerOptions {
        TEST_PORTAL
            .env()
            .into_iter()
            .fold(self, |options, (name, value)| options.env(name, value))
    }
}

/// A running server process; killed on drop.
#[derive(Debug)]
pub struct Server {
    pub addr: SocketAddr,
    /// Where `/metrics` is served (`metrics.listen`), when it is.
    pub metrics_addr: Option<SocketAddr>,
    /// The server's own pid (not the watchdog's).
    pub pid: u32,
    /// Everything the server printed on stdout before it listened (the admin password...).
    pub banner: Vec<String>,
    pub data: PathBuf,
    process: Process,
    /// The data folder when the server made it; removed after the process is gone.
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
        let mut launch = Launch::konsult(konsult_binary(), data);
        if options.demo {
            launch.args.push("--demo".into());
        }
        launch.args.extend(options.args.iter().map(Into::into));
        let store_given = options
            .env
            .iter()
            .any(|(name, _)| name == "KONSULT_STORE_URL");
        if (options.postgres || crate::postgres::everywhere()) && !store_given {
            launch = launch.env("KONSULT_STORE_URL", &crate::postgres::database_for(data));
        }
        launch.env.extend(options.env);
        let log = std::env::var("KONSULT_TEST_LOG").unwrap_or("info".into());
        let launch = launch.env("RUST_LOG", &log);
        let process = Process::start(&launch).unwrap_or_else(|e| panic!("{e:#}"));
        let metrics_addr = process.banner.iter().find_map(|l| parse_metrics_line(l));
        Server {
            addr: process.addr,
            metrics_addr,
            pid: process.pid,
            banner: process.banner.clone(),
            data: data.to_path_buf(),
            process,
            _dir: None,
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

    /// The Prometheus text of the metrics listener; panics when metrics are not served.
    pub fn metrics(&self) -> String {
        let addr = self.metrics_addr.expect("the server serves no metrics");
        http_request(addr, "GET", "/metrics", &[], b"").text()
    }

    /// What the server wrote to stderr so far.
    pub fn logs(&self) -> String {
        self.process.logs()
    }

    /// Sends a signal to the server process (`TERM`, `KILL`, `STOP`, `CONT`).
    pub fn signal(&self, name: &str) {
        assert!(
            self.process.signal(name),
            "kill -{name} {} failed",
            self.pid
        );
    }

    /// Waits for the process to exit and returns its status and how long that took.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<(ExitStatus, Duration)> {
        self.process.wait_exit(limit)
    }

    /// Logs in over HTTP and returns the token.
    pub fn login(&self, login: &str, password: &str) -> String {
        self.login_with(serde_json::json!({ "login": login, "password": password }))
    }

    /// Logs in to the school `school` (needed once the server has several) and returns the
    /// token.
    pub fn login_to(&self, school: &str, login: &str, password: &str) -> String {
        self.login_with(
            serde_json::json!({ "login": login, "password": password, "school": school }),
        )
    }

    fn login_with(&self, body: serde_json::Value) -> String {
        let login = body["login"].as_str().unwrap_or_default().to_string();
        let body = body.to_string();
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
