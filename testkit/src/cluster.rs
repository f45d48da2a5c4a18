//! A cluster of Konsult nodes for black-box tests: `konsult serve` processes sharing one fresh
//! PostgreSQL database and one Redis under a key prefix of their own (docs/cluster.md), each
//! with its own data folder and ports; which node owns which school, read from its lease in
//! Redis; the owner's kept snapshot, read from the database; clients that connect with retries
//! while a school changes hands. The nodes, the keys and the database go at the end.

use crate::process::{TempDir, run_cli};
use crate::server::{Server, ServerOptions};
use crate::ws_client::WsClient;
use serde_json::Value;
use sqlx::Connection;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Where Redis is when `KONSULT_TEST_REDIS` does not say.
pub const DEFAULT_REDIS: &str = "redis://127.0.0.1:6379";

/// How often the nodes renew their leases (`bus.heartbeat`).
pub const HEARTBEAT: Duration = Duration::from_millis(250);

/// How long a lease outlives its last renewal (`bus.lease`): a dead node's schools move
/// within about one to two of these. Redis replies may take a fifth of it (400 ms), which a
/// loaded test machine needs.
pub const LEASE: Duration = Duration::from_secs(2);

/// How long a test waits for the nodes to share the schools after they start.
pub const SETTLE: Duration = Duration::from_secs(20);

/// The Redis of the tests: `KONSULT_TEST_REDIS`, else [`DEFAULT_REDIS`].
pub fn redis_url() -> String {
    std::env::var("KONSULT_TEST_REDIS").unwrap_or_else(|_| DEFAULT_REDIS.to_string())
}

/// A school's owner, as its lease `"<epoch> <node>"` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub epoch: u64,
    pub node: String,
}

impl Owner {
    /// `"<epoch> <node>"` → the owner.
    pub fn parse(value: &str) -> Option<Owner> {
        let (epoch, node) = value.split_once(' ')?;
        Some(Owner {
            epoch: epoch.parse().ok()?,
            node: node.to_string(),
        })
    }
}

/// A `welcome` that came, and where.
#[derive(Debug)]
pub struct Joined {
    pub client: WsClient,
    pub welcome: Value,
    /// The id of the node the socket is on.
    pub node: String,
}

#[derive(Debug)]
struct Node {
    id: String,
    addr: SocketAddr,
    /// `None` once the test took it (to wait for its exit, or to be done with it).
    server: Option<Server>,
}

/// Nodes sharing one database and one Redis prefix; every node is killed on drop, then the
/// prefix's keys are deleted and the database dropped.
#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<Node>,
    /// What every key and channel of this cluster starts with (`bus.prefix`).
    pub prefix: String,
    /// The shared database (`store.url`).
    pub store_url: String,
    /// The shared token secret (`auth.jwt_secret`).
    pub secret: String,
    /// Variables every node gets besides the cluster's own.
    pub env: Vec<(String, String)>,
    redis: redis::Client,
    /// Holds the database's marker and the nodes' data folders; the database goes with it.
    root: TempDir,
}

impl Cluster {
    /// A fresh database and prefix and no node yet, for commands (`school add`, `user add`)
    /// that come before the nodes start. Panics, naming the service, when PostgreSQL or Redis
    /// does not answer (`scripts/services` starts both).
    pub fn new() -> Cluster {
        let url = redis_url();
        let redis = redis::Client::open(url.as_str())
            .unwrap_or_else(|e| panic!("KONSULT_TEST_REDIS={url} is not a Redis URL: {e}"));
        let answer = redis
            .get_connection_with_timeout(Duration::from_secs(2))
            .and_then(|mut conn| redis::cmd("PING").query::<String>(&mut conn));
        if let Err(e) = answer {
            panic!(
                "Redis at {url} does not answer ({e}): the cluster tests need it (scripts/services starts it)"
            );
        }
        let root = TempDir::new("cluster");
        let store_url = std::panic::catch_unwind(|| crate::postgres::database_for(&root.0))
            .unwrap_or_else(|_| {
                panic!(
                    "no database on the PostgreSQL at {}: the cluster tests need it (scripts/services starts it)",
                    crate::postgres::server_url()
                )
            });
        let tag = unique_hex();
        Cluster {
            nodes: Vec::new(),
            prefix: format!("t{tag}:"),
            store_url,
            secret: format!("cluster-test-secret-{tag}-{}", unique_hex()),
            env: Vec::new(),
            redis,
            root,
        }
    }

    /// A new cluster of `count` nodes (see [`Cluster::start_nodes`]).
    pub fn start(count: usize) -> Cluster {
        let mut cluster = Cluster::new();
        cluster.start_nodes(count);
        cluster
    }

    /// Starts nodes `n1` to `n<count>`. `n1` comes first with `--demo`: it makes the school
    /// `demo` and its accounts in the shared database (all passwords `demo`). The others start
    /// once it listens, without `--demo`, and find them there.
    pub fn start_nodes(&mut self, count: usize) {
        for n in 1..=count {
            let id = format!("n{n}");
            self.start_node(&id, n == 1);
        }
    }

    /// Starts one node with its own data folder and ports, waiting until it listens.
    pub fn start_node(&mut self, id: &str, demo: bool) {
        let mut options = self.node_options(id);
        options.demo = demo;
        let server = Server::start_in(&self.data_of(id), options);
        self.nodes.retain(|node| node.id != id);
        self.nodes.push(Node {
            id: id.to_string(),
            addr: server.addr,
            server: Some(server),
        });
    }

    /// What node `id` is started with: the shared database, Redis, prefix and token secret,
    /// its id, [`HEARTBEAT`] and [`LEASE`], and [`Cluster::env`].
    pub fn node_options(&self, id: &str) -> ServerOptions {
        let mut options = ServerOptions::default()
            .env("KONSULT_STORE_URL", &self.store_url)
            .env("KONSULT_BUS_URL", &redis_url())
            .env("KONSULT_BUS_PREFIX", &self.prefix)
            .env("KONSULT_BUS_NODE_ID", id)
            .env(
                "KONSULT_BUS_HEARTBEAT",
                &format!("{}ms", HEARTBEAT.as_millis()),
            )
            .env("KONSULT_BUS_LEASE", &format!("{}ms", LEASE.as_millis()))
            .env("KONSULT_AUTH_JWT_SECRET", &self.secret);
        options.env.extend(self.env.iter().cloned());
        options
    }

    /// The data folder of node `id`.
    pub fn data_of(&self, id: &str) -> PathBuf {
        self.root.0.join(id)
    }

    /// Runs a `konsult` command (not `serve`) on the shared database; returns its stdout. It
    /// must succeed.
    pub fn cli(&self, args: &[&str]) -> String {
        let data = self.root.0.join("cli");
        let data = data.to_str().expect("a UTF-8 path");
        let mut all = args.to_vec();
        all.extend(["--data", data]);
        let (code, out, err) = run_cli(
            &all,
            &[("KONSULT_STORE_URL", &self.store_url)],
            &self.root.0,
        );
        assert_eq!(code, 0, "konsult {args:?}: {err}");
        out
    }

    /// The ids of the nodes still held (started and not taken), in order.
    pub fn ids(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|node| node.server.is_some())
            .map(|node| node.id.clone())
            .collect()
    }

    /// The ids of the nodes held, but `id`.
    pub fn others(&self, id: &str) -> Vec<String> {
        self.ids().into_iter().filter(|n| n != id).collect()
    }

    /// Node `id`'s process.
    pub fn server(&self, id: &str) -> &Server {
        self.nodes
            .iter()
            .find(|node| node.id == id)
            .and_then(|node| node.server.as_ref())
            .unwrap_or_else(|| panic!("no node {id} running"))
    }

    /// Takes node `id` out of the cluster's hands (to wait for its exit); it is no longer
    /// among [`Cluster::ids`], and is killed when the returned server drops.
    pub fn take(&mut self, id: &str) -> Server {
        self.nodes
            .iter_mut()
            .find(|node| node.id == id)
            .and_then(|node| node.server.take())
            .unwrap_or_else(|| panic!("no node {id} running"))
    }

    /// Where node `id` listens (also once taken).
    pub fn addr(&self, id: &str) -> SocketAddr {
        self.nodes
            .iter()
            .find(|node| node.id == id)
            .map(|node| node.addr)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    /// Logs in over HTTP on node `id` (to school `school` when given) with the password;
    /// returns the token, good on every node.
    pub fn login(&self, id: &str, school: Option<&str>, login: &str, password: &str) -> String {
        let server = self.server(id);
        match school {
            Some(school) => server.login_to(school, login, password),
            None => server.login(login, password),
        }
    }

    /// The value of a key under the prefix (`lease:demo`...), if it exists.
    pub fn get(&self, key: &str) -> Option<String> {
        let mut conn = self
            .redis
            .get_connection_with_timeout(Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("Redis at {}: {e}", redis_url()));
        conn.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("a read timeout");
        redis::cmd("GET")
            .arg(format!("{}{key}", self.prefix))
            .query(&mut conn)
            .unwrap_or_else(|e| panic!("GET {}{key}: {e}", self.prefix))
    }

    /// Who owns `school` now, by its lease in Redis.
    pub fn owner(&self, school: &str) -> Option<Owner> {
        let value = self.get(&format!("lease:{school}"))?;
        Some(Owner::parse(&value).unwrap_or_else(|| panic!("lease:{school} holds {value:?}")))
    }

    /// Whether node `id` is registered (its `node:<id>` has not expired).
    pub fn registered(&self, id: &str) -> bool {
        self.get(&format!("node:{id}")).is_some()
    }

    /// Waits until the nodes held share `schools`: each registered, each school owned by one
    /// of them, none holding more than its fair share, and all of it unchanged for four
    /// heartbeats (so that no school is about to move). Panics after [`SETTLE`].
    pub async fn owners(&self, schools: &[&str]) -> BTreeMap<String, Owner> {
        let deadline = Instant::now() + SETTLE;
        let ids = self.ids();
        let fair = schools.len().div_ceil(ids.len().max(1));
        let mut last: Option<(BTreeMap<String, Owner>, Instant)> = None;
        loop {
            let owners: BTreeMap<String, Owner> = schools
                .iter()
                .filter_map(|school| Some((school.to_string(), self.owner(school)?)))
                .collect();
            let all_owned = owners.len() == schools.len()
                && owners.values().all(|owner| ids.contains(&owner.node));
            let within_share = ids
                .iter()
                .all(|id| owners.values().filter(|o| &o.node == id).count() <= fair);
            let settled = all_owned && within_share && ids.iter().all(|id| self.registered(id));
            if settled {
                match &last {
                    Some((seen, since)) if *seen == owners => {
                        if since.elapsed() >= HEARTBEAT * 4 {
                            return owners;
                        }
                    }
                    _ => last = Some((owners, Instant::now())),
                }
            } else {
                last = None;
            }
            assert!(
                Instant::now() < deadline,
                "the nodes {ids:?} did not settle on owners of {schools:?} within {SETTLE:?}; leases: {:?}",
                schools
                    .iter()
                    .map(|s| (s.to_string(), self.get(&format!("lease:{s}"))))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `school` has an owner other than `before`'s node under a larger epoch;
    /// returns it and how long that took. Panics after `limit`.
    pub async fn new_owner(
        &self,
        school: &str,
        before: &Owner,
        limit: Duration,
    ) -> (Owner, Duration) {
        let started = Instant::now();
        loop {
            if let Some(owner) = self.owner(school)
                && owner.node != before.node
            {
                assert!(
                    owner.epoch > before.epoch,
                    "{school}'s new owner {owner:?} has no larger epoch than {before:?}"
                );
                return (owner, started.elapsed());
            }
            assert!(
                started.elapsed() < limit,
                "{school} did not leave {before:?} within {limit:?} (lease: {:?})",
                self.get(&format!("lease:{school}"))
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Connects to one of `nodes` (in turn) as the holder of `token`, resuming `resume` when
    /// given, until a `welcome` comes. A refusal that may pass (a node down or stopping, a
    /// socket closed with 1001 or `unavailable` while the school has no owner) is tried again
    /// after a short backoff; a refused token fails at once. Panics after `limit`.
    pub async fn hello(
        &self,
        nodes: &[&str],
        token: &str,
        resume: Option<&str>,
        limit: Duration,
    ) -> Joined {
        assert!(!nodes.is_empty(), "no node to connect to");
        let started = Instant::now();
        let mut failures = Vec::new();
        let mut backoff = Duration::from_millis(50);
        let mut attempt = 0;
        loop {
            let node = nodes[attempt % nodes.len()];
            attempt += 1;
            let left = limit.saturating_sub(started.elapsed());
            let tried = tokio::time::timeout(left, async {
                let mut client = WsClient::try_connect(self.addr(node))
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                let welcome = client
                    .try_hello(token, resume, Duration::from_secs(5))
                    .await?;
                Ok::<_, String>((client, welcome))
            })
            .await
            .unwrap_or_else(|_| Err("timed out".to_string()));
            match tried {
                Ok((client, welcome)) => {
                    return Joined {
                        client,
                        welcome,
                        node: node.to_string(),
                    };
                }
                Err(failure) => {
                    assert!(
                        !failure.contains("unauthorized") && !failure.contains("unsupported"),
                        "{node} refused the token: {failure}"
                    );
                    failures.push(format!("{:?} {node}: {failure}", started.elapsed()));
                }
            }
            assert!(
                started.elapsed() < limit,
                "no welcome from {nodes:?} within {limit:?}: {failures:#?}"
            );
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(400));
        }
    }

    /// The snapshot kept for `school` (its epoch and JSON), if one was written.
    pub async fn snapshot(&self, school: &str) -> Option<(u64, Value)> {
        let mut conn = sqlx::PgConnection::connect(&self.store_url)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {}: {e}", self.store_url));
        let row: Option<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT h.epoch, h.snapshot FROM hub_snapshots h
             JOIN schools s ON s.id = h.school_id WHERE s.code = $1",
        )
        .bind(school)
        .fetch_optional(&mut conn)
        .await
        .expect("read the snapshot");
        let _ = conn.close().await;
        row.map(|(epoch, bytes)| {
            let value = serde_json::from_slice(&bytes).expect("a JSON snapshot");
            (u64::try_from(epoch).expect("a positive epoch"), value)
        })
    }

    /// Waits until the snapshot kept for `school` satisfies `ready` (given its epoch and
    /// JSON); returns them. Panics after 20 s.
    pub async fn snapshot_where(
        &self,
        school: &str,
        ready: impl Fn(u64, &Value) -> bool,
    ) -> (u64, Value) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let kept = self.snapshot(school).await;
            if let Some((epoch, value)) = kept
                && ready(epoch, &value)
            {
                return (epoch, value);
            }
            assert!(
                Instant::now() < deadline,
                "the snapshot of {school} never showed the expected state"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The epoch the database holds for `school` (`school_epochs`), if any.
    pub async fn store_epoch(&self, school: &str) -> Option<u64> {
        let mut conn = sqlx::PgConnection::connect(&self.store_url)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {}: {e}", self.store_url));
        let epoch: Option<i64> = sqlx::query_scalar(
            "SELECT e.epoch FROM school_epochs e
             JOIN schools s ON s.id = e.school_id WHERE s.code = $1",
        )
        .bind(school)
        .fetch_optional(&mut conn)
        .await
        .expect("read the epoch");
        let _ = conn.close().await;
        epoch.map(|e| u64::try_from(e).expect("a positive epoch"))
    }

    /// Deletes every key under the prefix.
    fn clean_keys(&self) -> redis::RedisResult<()> {
        let mut conn = self
            .redis
            .get_connection_with_timeout(Duration::from_secs(2))?;
        conn.set_read_timeout(Some(Duration::from_secs(2)))?;
        let pattern = format!("{}*", self.prefix);
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query(&mut conn)?;
            if !keys.is_empty() {
                redis::cmd("DEL").arg(&keys).query::<i64>(&mut conn)?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

impl Default for Cluster {
    fn default() -> Cluster {
        Cluster::new()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The nodes first, so that none writes a key again.
        self.nodes.clear();
        if let Err(e) = self.clean_keys() {
            eprintln!("could not delete the keys under {}: {e}", self.prefix);
        }
    }
}

/// 16 hex digits that no other cluster of this machine uses at the same time.
fn unique_hex() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mixed = (nanos as u64)
        ^ (u64::from(std::process::id()) << 40)
        ^ (u64::from(NEXT.fetch_add(1, Ordering::Relaxed)) << 20);
    format!("{mixed:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_is_read_from_its_lease() {
        assert_eq!(
            Owner::parse("12 n3"),
            Some(Owner {
                epoch: 12,
                node: "n3".into()
            })
        );
        assert_eq!(Owner::parse("n3"), None);
        assert_eq!(Owner::parse("x n3"), None);
        assert_ne!(unique_hex(), unique_hex());
    }
}
