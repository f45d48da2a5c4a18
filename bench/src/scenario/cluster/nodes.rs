//! The cluster under test: a fresh PostgreSQL database, a Redis key prefix of its own, the
//! schools made with `konsult school add`, and `konsult serve` nodes sharing them, each with
//! its own data folder and ports; which node owns which school, read from the leases in Redis
//! (docs/cluster.md). The nodes' logs are kept; the database and the keys go at the end.

use anyhow::Context;
use konsult_testkit::portal::BENCH_PORTAL;
use konsult_testkit::process::{Launch, Process, Stderr, Stop};
use sqlx::Connection;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest a node may live: `timeout` ends it even when the load generator died.
const LIFETIME_LIMIT: Duration = Duration::from_secs(3_600);
/// How long a node may take to stop after SIGTERM at the end.
const STOP_WAIT: Duration = Duration::from_secs(30);
/// Longest wait for one of Redis's replies to the load generator.
const REDIS_WAIT: Duration = Duration::from_secs(10);
/// `konsult school add` commands running at once.
const SCHOOL_ADDS: usize = 4;

/// Where and how the cluster runs.
#[derive(Clone, Debug)]
pub struct Setup {
    pub konsult_bin: PathBuf,
    /// Holds a data folder per node and one for the commands; emptied first.
    pub root: PathBuf,
    /// A PostgreSQL database URL on the server that gets the fresh database (its maintenance
    /// database, usually `postgres`).
    pub postgres: String,
    pub redis: String,
    pub nodes: usize,
    pub schools: usize,
    pub heartbeat: Duration,
    pub lease: Duration,
    /// `KONSULT_*` variables every node gets besides the cluster's own.
    pub env: Vec<(String, String)>,
}

/// One `konsult serve` of the cluster.
#[derive(Debug)]
pub struct Node {
    pub id: String,
    pub addr: SocketAddr,
    pub pid: u32,
    process: Option<Process>,
    /// SIGKILLed by the scenario.
    pub killed: bool,
}

/// A school's owner as its lease says: `"<epoch> <node>"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub epoch: u64,
    pub node: String,
}

impl Owner {
    fn parse(value: &str) -> Option<Owner> {
        let (epoch, node) = value.split_once(' ')?;
        Some(Owner {
            epoch: epoch.parse().ok()?,
            node: node.to_string(),
        })
    }
}

/// What a node logged at WARN or ERROR, for the summary.
#[derive(Debug, Default)]
pub struct LogReport {
    /// `(node, warnings, errors)`.
    pub counts: Vec<(String, usize, usize)>,
    /// The first distinct WARN and ERROR lines (their message part), with how often each came.
    pub samples: Vec<(String, usize)>,
    /// Where each node's whole log was written.
    pub files: Vec<PathBuf>,
}

/// The running cluster.
#[derive(Debug)]
pub struct Cluster {
    pub nodes: Vec<Node>,
    /// The schools' codes, in order: `s001`, `s002`, ...
    pub codes: Vec<String>,
    pub prefix: String,
    pub store_url: String,
    setup: Setup,
    database: String,
    redis: redis::aio::MultiplexedConnection,
    /// How long making the schools took.
    pub schools_secs: f64,
}

/// A random-enough tag for names: the clock's nanoseconds and the pid.
fn tag() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}", std::process::id(), nanos % (1 << 40))
}

impl Cluster {
    /// Makes the database and the schools, then starts the nodes one after another.
    pub async fn create(mut setup: Setup) -> anyhow::Result<Cluster> {
        // The commands run in folders of their own: the binary's path must not be relative.
        setup.konsult_bin = std::fs::canonicalize(&setup.konsult_bin)
            .with_context(|| format!("no binary at {}", setup.konsult_bin.display()))?;
        let tag = tag();
        let database = format!("konsult_bench_cluster_{tag}");
        admin(&setup.postgres, &format!("CREATE DATABASE {database}")).await?;
        let store_url = konsult_testkit::postgres::with_database(&setup.postgres, &database);
        let client = redis::Client::open(setup.redis.as_str())
            .with_context(|| format!("Redis URL {}", setup.redis))?;
        // Patient: while the nodes reconnect thousands of clients Redis answers slowly, and a
        // reading of the leases that comes late is still a reading.
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(REDIS_WAIT))
            .set_response_timeout(Some(REDIS_WAIT));
        let redis = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .with_context(|| format!("Redis at {}", setup.redis))?;
        if setup.root.exists() {
            std::fs::remove_dir_all(&setup.root)
                .with_context(|| format!("empty {}", setup.root.display()))?;
        }
        std::fs::create_dir_all(&setup.root)?;
        let codes: Vec<String> = (1..=setup.schools).map(|k| format!("s{k:03}")).collect();
        let mut cluster = Cluster {
            nodes: Vec::new(),
            codes,
            prefix: format!("kb{tag}:"),
            store_url,
            setup,
            database,
            redis,
            schools_secs: 0.0,
        };
        // From here on the database and keys are the cluster's: `finish` removes them.
        if let Err(e) = cluster.populate().await {
            cluster.finish().await;
            return Err(e);
        }
        Ok(cluster)
    }

    async fn populate(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        // The first command makes the tables; the others only add their school.
        let cli = self.setup.root.join("cli");
        std::fs::create_dir_all(&cli)?;
        let mut codes = self.codes.iter().cloned();
        if let Some(first) = codes.next() {
            school_add(&self.setup.konsult_bin, &cli, &self.store_url, &first).await?;
        }
        let gate = Arc::new(tokio::sync::Semaphore::new(SCHOOL_ADDS));
        let mut adds = tokio::task::JoinSet::new();
        for code in codes {
            let (gate, bin, cli, url) = (
                gate.clone(),
                self.setup.konsult_bin.clone(),
                cli.clone(),
                self.store_url.clone(),
            );
            adds.spawn(async move {
                let _permit = gate.acquire_owned().await;
                school_add(&bin, &cli, &url, &code).await
            });
        }
        while let Some(added) = adds.join_next().await {
            added??;
        }
        self.schools_secs = started.elapsed().as_secs_f64();
        eprintln!(
            "cluster: {} schools made in {:.1} s",
            self.codes.len(),
            self.schools_secs
        );
        let secret = format!("konsult-bench-cluster-secret-{}", tag());
        for n in 1..=self.setup.nodes {
            let id = format!("n{n}");
            let data = self.setup.root.join(&id);
            let mut launch = Launch::konsult(&self.setup.konsult_bin, &data);
            for (name, value) in BENCH_PORTAL.env() {
                launch = launch.env(name, value);
            }
            let mut launch = launch
                .env("KONSULT_LOG_LEVEL", "warn")
                // Schools gained and lost, with their instants, beside every warning.
                .env("RUST_LOG", "warn,konsult_server::node=info")
                .env("KONSULT_METRICS_LISTEN", "")
                .env("KONSULT_STORE_URL", &self.store_url)
                .env("KONSULT_BUS_URL", &self.setup.redis)
                .env("KONSULT_BUS_PREFIX", &self.prefix)
                .env("KONSULT_BUS_NODE_ID", &id)
                .env(
                    "KONSULT_BUS_HEARTBEAT",
                    &format!("{}ms", self.setup.heartbeat.as_millis()),
                )
                .env(
                    "KONSULT_BUS_LEASE",
                    &format!("{}ms", self.setup.lease.as_millis()),
                )
                .env("KONSULT_AUTH_JWT_SECRET", &secret);
            launch.env.extend(self.setup.env.iter().cloned());
            launch.lifetime = LIFETIME_LIMIT;
            launch.stderr = Stderr::Capture;
            launch.stop = Stop::Term { wait: STOP_WAIT };
            let process = tokio::task::spawn_blocking(move || Process::start(&launch))
                .await?
                .with_context(|| format!("start node {id}"))?;
            eprintln!("cluster: node {id} listens on {}", process.addr);
            self.nodes.push(Node {
                id,
                addr: process.addr,
                pid: process.pid,
                process: Some(process),
                killed: false,
            });
        }
        Ok(())
    }

    /// The index of node `id`.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    /// The owner of every school, in the order of `codes`, as the leases say now.
    pub async fn owners(&mut self) -> anyhow::Result<Vec<Option<Owner>>> {
        let mut mget = redis::cmd("MGET");
        for code in &self.codes {
            mget.arg(format!("{}lease:{code}", self.prefix));
        }
        let values: Vec<Option<String>> = mget
            .query_async(&mut self.redis)
            .await
            .context("MGET of the leases")?;
        Ok(values
            .into_iter()
            .map(|v| v.as_deref().and_then(Owner::parse))
            .collect())
    }

    /// Waits until the live nodes share every school: each owned by a live node, none holding
    /// more than its fair share, unchanged for four heartbeats. The owners, as node indexes.
    pub async fn settled(&mut self, limit: Duration) -> anyhow::Result<Vec<usize>> {
        let started = Instant::now();
        let live: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| !n.killed)
            .map(|n| n.id.clone())
            .collect();
        let fair = self.codes.len().div_ceil(live.len().max(1));
        let mut last: Option<(Vec<Option<Owner>>, Instant)> = None;
        loop {
            let owners = self.owners().await?;
            let all_live = owners
                .iter()
                .all(|o| o.as_ref().is_some_and(|o| live.contains(&o.node)));
            let fair_shares = live.iter().all(|id| {
                owners
                    .iter()
                    .filter(|o| o.as_ref().is_some_and(|o| &o.node == id))
                    .count()
                    <= fair
            });
            if all_live && fair_shares {
                match &last {
                    Some((seen, since)) if *seen == owners => {
                        if since.elapsed() >= self.setup.heartbeat * 4 {
                            return Ok(owners
                                .iter()
                                .map(|o| {
                                    o.as_ref().and_then(|o| self.index_of(&o.node)).unwrap_or(0)
                                })
                                .collect());
                        }
                    }
                    _ => last = Some((owners, Instant::now())),
                }
            } else {
                last = None;
            }
            anyhow::ensure!(
                started.elapsed() < limit,
                "the nodes did not settle on the schools' owners within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILLs node `index`; the instant the signal was sent.
    pub fn kill(&mut self, index: usize) -> anyhow::Result<Instant> {
        let node = &mut self.nodes[index];
        let process = node.process.as_ref().context("node already gone")?;
        let at = Instant::now();
        anyhow::ensure!(process.signal("KILL"), "kill -KILL {} failed", node.pid);
        node.killed = true;
        Ok(at)
    }

    /// How many lines of each node's log so far hold `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<usize> {
        self.nodes
            .iter()
            .map(|node| {
                node.process.as_ref().map_or(0, |p| {
                    p.logs().lines().filter(|l| l.contains(needle)).count()
                })
            })
            .collect()
    }

    /// Stops the nodes (SIGTERM), writes their logs beside their data folders, and removes the
    /// database and the keys.
    pub async fn finish(&mut self) -> LogReport {
        let mut report = LogReport::default();
        let mut samples: Vec<(String, usize)> = Vec::new();
        // All at once, so that no node takes over the schools of one that stopped first.
        for node in &self.nodes {
            if let Some(process) = &node.process
                && !node.killed
            {
                let _sent = process.signal("TERM");
            }
        }
        for node in &mut self.nodes {
            let Some(process) = node.process.take() else {
                continue;
            };
            let logs = tokio::task::spawn_blocking(move || {
                let mut process = process;
                let _exited = process.wait_exit(STOP_WAIT);
                // The thread reading stderr takes the last lines.
                std::thread::sleep(Duration::from_millis(200));
                process.logs()
            })
            .await
            .unwrap_or_default();
            let file = self.setup.root.join(format!("{}.log", node.id));
            if std::fs::write(&file, &logs).is_ok() {
                report.files.push(file);
            }
            let (mut warnings, mut errors) = (0, 0);
            for line in logs.lines() {
                let level = if line.contains(" ERROR ") {
                    errors += 1;
                    "ERROR"
                } else if line.contains(" WARN ") {
                    warnings += 1;
                    "WARN"
                } else {
                    continue;
                };
                let message = format!("{} {level} {}", node.id, message_of(line));
                match samples.iter_mut().find(|(m, _)| *m == message) {
                    Some((_, n)) => *n += 1,
                    None => samples.push((message, 1)),
                }
            }
            report.counts.push((node.id.clone(), warnings, errors));
        }
        report.samples = samples;
        if let Err(e) = self.forget_keys().await {
            eprintln!(
                "cluster: could not delete the keys under {}: {e:#}",
                self.prefix
            );
        }
        if let Err(e) = admin(
            &self.setup.postgres,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database),
        )
        .await
        {
            eprintln!("cluster: could not drop {}: {e:#}", self.database);
        }
        report
    }

    async fn forget_keys(&mut self) -> anyhow::Result<()> {
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}*", self.prefix))
                .arg("COUNT")
                .arg(1_000)
                .query_async(&mut self.redis)
                .await?;
            if !keys.is_empty() {
                let () = redis::cmd("DEL")
                    .arg(&keys)
                    .query_async(&mut self.redis)
                    .await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

/// A log line without its timestamp, every run of digits written `#`, so that the same
/// message with other ids, counts or durations counts as one.
fn message_of(line: &str) -> String {
    // `2026-11-29T12:00:00.000000Z  WARN target: message key=value`: drop the timestamp.
    let rest = line
        .split_once(" WARN ")
        .or_else(|| line.split_once(" ERROR "))
        .map(|(_, rest)| rest)
        .unwrap_or(line);
    let mut out = String::new();
    for c in rest.trim().chars() {
        if c.is_ascii_digit() {
            if !out.ends_with('#') {
                out.push('#');
            }
        } else {
            out.push(c);
        }
        if out.len() >= 240 {
            break;
        }
    }
    out
}

/// Runs one statement on the PostgreSQL server's maintenance database.
async fn admin(url: &str, sql: &str) -> anyhow::Result<()> {
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .with_context(|| format!("PostgreSQL at {url}"))?;
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .with_context(|| format!("{sql} on {url}"))?;
    let _closed = conn.close().await;
    Ok(())
}

/// `konsult school add --code CODE` on the shared database.
async fn school_add(bin: &Path, cli: &Path, store_url: &str, code: &str) -> anyhow::Result<()> {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(["school", "add", "--code", code, "--name"])
        .arg(format!("Bench school {code}"))
        .arg("--data")
        .arg(cli)
        .current_dir(cli);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("KONSULT_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("KONSULT_STORE_URL", store_url)
        .env("KONSULT_LOG_LEVEL", "warn");
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .with_context(|| format!("konsult school add --code {code} took over 2 minutes"))??;
    anyhow::ensure!(
        out.status.success(),
        "konsult school add --code {code}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_that_differ_in_numbers_count_as_one() {
        let a = message_of("2026-12-04T18:10:33.7Z  WARN sqlx: slow acquired_after_secs=2.0256");
        let b = message_of("2026-12-04T18:10:34.1Z  WARN sqlx: slow acquired_after_secs=13.9");
        assert_eq!(a, b);
        assert_eq!(a, "sqlx: slow acquired_after_secs=#.#");
        assert_eq!(
            Owner::parse("3 n2").map(|o| (o.epoch, o.node)),
            Some((3, "n2".into()))
        );
        assert_eq!(Owner::parse("n2"), None);
    }
}
