//! Konsult's typed configuration. Values come, later ones winning, from built-in defaults,
//! the TOML file (`config/konsult.toml` by default), `KONSULT_*` environment variables and
//! command-line flags. Every error names the key at fault and where its value came from.

mod raw;

use raw::FromRaw;
pub use raw::{Raw, parse_duration};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A configuration value that cannot be used, or a file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config key `{key}` ({source_name}): {reason}")]
    Invalid {
        key: String,
        source_name: String,
        reason: String,
    },
    #[error("config key `{key}` ({source_name}): unknown key")]
    UnknownKey { key: String, source_name: String },
    #[error("config file {path}: {reason}")]
    File { path: PathBuf, reason: String },
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The language the server words its own texts in (automatic replies stored in threads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    /// Russian, `ru`.
    Ru,
    /// English, `en`.
    En,
}

/// `[server]`: where Konsult listens and keeps its data.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    /// Address for HTTP and WebSocket.
    pub listen: SocketAddr,
    /// Folder for the database, the generated token secret and attachments.
    pub data: PathBuf,
    /// Origins (scheme://host[:port]) whose pages may open `/ws`, besides the server's own.
    pub allowed_origins: Vec<String>,
    /// PEM certificate chain; with `tls_key`, serve HTTPS and WSS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Most WebSocket connections held at once; more are refused with 503.
    pub max_connections: usize,
    /// How long a graceful shutdown may take before connections are dropped.
    pub shutdown_timeout: Duration,
    /// Time a client has to send a request's headers (and, over TLS, finish the handshake)
    /// before its TCP connection is closed.
    pub header_read_timeout: Duration,
}

/// `[store]`: where what lasts is kept.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct StoreConfig {
    /// A PostgreSQL database (`postgres://user:password@host:port/database`) for everything
    /// durable; `None` (empty): SQLite in `server.data`. Attachments stay files in
    /// `server.data` either way.
    pub url: Option<String>,
}

/// `[school]`: the first school of a new database, and the defaults of `konsult school add`.
#[derive(Clone, Debug, PartialEq)]
pub struct SchoolConfig {
    /// The first school's name (and the default of `school add`), shown on `/help`.
    pub name: String,
    /// IANA time zone for consultation hours and reports, of the first school (and the
    /// default of `school add`).
    pub timezone: String,
    /// The language of the texts the server writes itself, such as automatic replies.
    pub language: Language,
}

/// `[log]`: what is logged and how.
#[derive(Clone, Debug, PartialEq)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter, such as `info` or `konsult=debug,info`.
    pub level: String,
}

/// The shortest `auth.jwt_secret` or `auth.portal_secret` accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// `[auth]`: access tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct AuthConfig {
    /// Lifetime of tokens issued by `POST /api/login`.
    pub token_ttl: Duration,
    /// HS256 secret for Konsult's own tokens; empty: generated once and kept in the data folder.
    pub jwt_secret: Option<String>,
    /// `iss` of tokens signed by the school portal; empty: portal tokens are not accepted.
    pub portal_issuer: Option<String>,
    /// HS256 secret shared with the school portal.
    pub portal_secret: Option<String>,
}

/// `[limits]`: bounds that protect the server and every user from one client.
#[derive(Clone, Debug, PartialEq)]
pub struct LimitsConfig {
    /// Largest WebSocket frame or message read, in bytes.
    pub max_frame_bytes: usize,
    /// Messages queued for one connection before it is cut off as a slow consumer.
    pub outbox_messages: usize,
    /// A write that stalls this long cuts the connection off.
    pub write_timeout: Duration,
    /// Time from connect to a valid `hello`.
    pub hello_timeout: Duration,
    /// Silence after which the server pings.
    pub ping_after: Duration,
    /// Silence after which the connection is dropped.
    pub idle_timeout: Duration,
    /// Sustained messages per second per connection.
    pub messages_per_second: u32,
    /// Burst of messages per connection above the sustained rate.
    pub message_burst: u32,
    /// Login attempts per minute from one IP address.
    pub logins_per_minute_per_ip: u32,
    /// Failed login attempts per minute for one account; repeated lockouts double, up to 15
    /// minutes.
    pub logins_per_minute_per_account: u32,
    /// WebSocket connections one user may hold at once.
    pub connections_per_user: usize,
    /// WebSocket connections from one IP address that have not yet sent a `hello` with a
    /// token whose signature holds.
    pub anonymous_per_ip: usize,
    /// Members of one session.
    pub session_members: usize,
    /// Largest attachment, in bytes.
    pub attachment_bytes: u64,
    /// Attachment uploads one user may make per minute.
    pub uploads_per_minute: u32,
}

/// `[hub]`: pairing of students and teachers.
#[derive(Clone, Debug, PartialEq)]
pub struct HubConfig {
    /// How long a teacher has to accept an offer before it passes on.
    pub offer_timeout: Duration,
    /// How long a request may wait in a queue before it becomes a thread.
    pub max_wait: Duration,
    /// How long a dropped student keeps a queue place, and a dropped host a session.
    pub grace: Duration,
    /// Inputs waiting for the hub before client messages are refused with `unavailable`.
    pub input_queue: usize,
    /// Least time between two queue snapshots pushed to a subject's staff.
    pub queue_push_interval: Duration,
    /// How often students further back than `immediate_positions` hear their new place.
    pub position_interval: Duration,
    /// Places at the head of a queue that hear every change of their place at once.
    pub immediate_positions: u32,
    /// Least time between two snapshots of a school's hub written to the database.
    pub snapshot_interval: Duration,
}

/// `[booking]`: booking slots of consultation hours.
#[derive(Clone, Debug, PartialEq)]
pub struct BookingConfig {
    /// Open bookings (not cancelled, not begun) one student may hold.
    pub max_open: u32,
    /// How long before a booking begins its student may still move or cancel it.
    pub change_before: Duration,
    /// How many days ahead, today included, slots are listed and may be booked.
    pub horizon_days: u32,
}

/// `[media]`: WebRTC.
#[derive(Clone, Debug, PartialEq)]
pub struct MediaConfig {
    /// The SFU's UDP socket (and ICE-TCP listener on the same port).
    pub listen: SocketAddr,
    /// The IP address announced to clients in ICE candidates; empty: the listen address when
    /// it is specific, else 127.0.0.1.
    pub announce: Option<String>,
    /// STUN URLs given to clients, such as `stun:stun.school.example:3478`.
    pub stun_urls: Vec<String>,
    /// TURN URLs given to clients, such as `turn:turn.school.example:3478?transport=udp`.
    pub turn_urls: Vec<String>,
    /// coturn's `static-auth-secret`, to mint short-lived TURN credentials.
    pub turn_secret: Option<String>,
    /// Lifetime of TURN credentials.
    pub turn_ttl: Duration,
    /// How long a peer-to-peer session may take to connect before it moves to the SFU.
    pub p2p_timeout: Duration,
}

/// `[metrics]`: the Prometheus endpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsConfig {
    /// Where `/metrics` is served, apart from the public port; `None` (empty): not served.
    pub listen: Option<SocketAddr>,
}

/// `[bus]`: joining a cluster of nodes over Redis.
#[derive(Clone, Debug, PartialEq)]
pub struct BusConfig {
    /// `redis://host:port[/db]`; `None` (empty): one node alone, with an in-process bus.
    pub url: Option<String>,
    /// This node's name in the cluster; `None` (empty): the host name and the listen port.
    pub node_id: Option<String>,
    /// What every key and channel of the cluster in Redis starts with; several clusters (or
    /// test runs) may share one Redis under different prefixes.
    pub prefix: String,
    /// How often the node renews its registration and leases and looks for unowned schools.
    pub heartbeat: Duration,
    /// How long a registration or a school's lease outlives the last heartbeat; a dead node's
    /// schools move after about this long.
    pub lease: Duration,
}

/// The longest `bus.node_id`, in bytes.
pub const MAX_NODE_ID_BYTES: usize = 64;

/// The whole configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub school: SchoolConfig,
    pub log: LogConfig,
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    pub hub: HubConfig,
    pub booking: BookingConfig,
    pub media: MediaConfig,
    pub metrics: MetricsConfig,
    pub bus: BusConfig,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            server: ServerConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
                data: PathBuf::from("data"),
                allowed_origins: Vec::new(),
                tls_cert: None,
                tls_key: None,
                max_connections: 19_500,
                shutdown_timeout: Duration::from_secs(10),
                header_read_timeout: Duration::from_secs(10),
            },
            store: StoreConfig { url: None },
            school: SchoolConfig {
                name: "Школа".into(),
                timezone: "Europe/Moscow".into(),
                language: Language::Ru,
            },
            log: LogConfig {
                format: LogFormat::Text,
                level: "info".into(),
            },
            auth: AuthConfig {
                token_ttl: Duration::from_secs(12 * 3600),
                jwt_secret: None,
                portal_issuer: None,
                portal_secret: None,
            },
            limits: LimitsConfig {
                max_frame_bytes: 64 * 1024,
                outbox_messages: 512,
                write_timeout: Duration::from_secs(5),
                hello_timeout: Duration::from_secs(10),
                ping_after: Duration::from_secs(20),
                idle_timeout: Duration::from_secs(45),
                messages_per_second: 30,
                message_burst: 60,
                logins_per_minute_per_ip: 300,
                logins_per_minute_per_account: 10,
                connections_per_user: 5,
                anonymous_per_ip: 20,
                session_members: 1_000,
                attachment_bytes: 10 * 1024 * 1024,
                uploads_per_minute: 30,
            },
            hub: HubConfig {
                offer_timeout: Duration::from_secs(30),
                max_wait: Duration::from_secs(600),
                grace: Duration::from_secs(60),
                input_queue: 65_536,
                queue_push_interval: Duration::from_secs(1),
                position_interval: Duration::from_secs(1),
                immediate_positions: 10,
                snapshot_interval: Duration::from_millis(500),
            },
            booking: BookingConfig {
                max_open: 3,
                change_before: Duration::from_secs(2 * 3600),
                horizon_days: 28,
            },
            media: MediaConfig {
                listen: SocketAddr::from(([0, 0, 0, 0], 3478)),
                announce: None,
                stun_urls: Vec::new(),
                turn_urls: Vec::new(),
                turn_secret: None,
                turn_ttl: Duration::from_secs(3600),
                p2p_timeout: Duration::from_secs(15),
            },
            metrics: MetricsConfig {
                listen: Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
            },
            bus: BusConfig {
                url: None,
                node_id: None,
                prefix: "konsult:".to_string(),
                heartbeat: Duration::from_secs(1),
                lease: Duration::from_secs(5),
            },
        }
    }
}

macro_rules! keys {
    ($($key:literal => $($field:ident).+;)*) => {
        impl Config {
            /// Every configuration key, as `section.name`.
            pub const KEYS: &'static [&'static str] = &[$($key),*];

            /// Sets one key from a raw value; `Ok(false)` for an unknown key.
            fn apply(&mut self, key: &str, raw: &Raw) -> Result<bool, String> {
                match key {
                    $($key => self.$($field).+ = FromRaw::from_raw(raw)?,)*
                    _ => return Ok(false),
                }
                Ok(true)
            }
        }
    };
}

keys! {
    "server.listen" => server.listen;
    "server.data" => server.data;
    "server.allowed_origins" => server.allowed_origins;
    "server.tls_cert" => server.tls_cert;
    "server.tls_key" => server.tls_key;
    "server.max_connections" => server.max_connections;
    "server.shutdown_timeout" => server.shutdown_timeout;
    "server.header_read_timeout" => server.header_read_timeout;
    "store.url" => store.url;
    "school.name" => school.name;
    "school.timezone" => school.timezone;
    "school.language" => school.language;
    "log.format" => log.format;
    "log.level" => log.level;
    "auth.token_ttl" => auth.token_ttl;
    "auth.jwt_secret" => auth.jwt_secret;
    "auth.portal_issuer" => auth.portal_issuer;
    "auth.portal_secret" => auth.portal_secret;
    "limits.max_frame_bytes" => limits.max_frame_bytes;
    "limits.outbox_messages" => limits.outbox_messages;
    "limits.write_timeout" => limits.write_timeout;
    "limits.hello_timeout" => limits.hello_timeout;
    "limits.ping_after" => limits.ping_after;
    "limits.idle_timeout" => limits.idle_timeout;
    "limits.messages_per_second" => limits.messages_per_second;
    "limits.message_burst" => limits.message_burst;
    "limits.logins_per_minute_per_ip" => limits.logins_per_minute_per_ip;
    "limits.logins_per_minute_per_account" => limits.logins_per_minute_per_account;
    "limits.connections_per_user" => limits.connections_per_user;
    "limits.anonymous_per_ip" => limits.anonymous_per_ip;
    "limits.session_members" => limits.session_members;
    "limits.attachment_bytes" => limits.attachment_bytes;
    "limits.uploads_per_minute" => limits.uploads_per_minute;
    "hub.offer_timeout" => hub.offer_timeout;
    "hub.max_wait" => hub.max_wait;
    "hub.grace" => hub.grace;
    "hub.input_queue" => hub.input_queue;
    "hub.queue_push_interval" => hub.queue_push_interval;
    "hub.position_interval" => hub.position_interval;
    "hub.immediate_positions" => hub.immediate_positions;
    "hub.snapshot_interval" => hub.snapshot_interval;
    "booking.max_open" => booking.max_open;
    "booking.change_before" => booking.change_before;
    "booking.horizon_days" => booking.horizon_days;
    "media.listen" => media.listen;
    "media.announce" => media.announce;
    "media.stun_urls" => media.stun_urls;
    "media.turn_urls" => media.turn_urls;
    "media.turn_secret" => media.turn_secret;
    "media.turn_ttl" => media.turn_ttl;
    "media.p2p_timeout" => media.p2p_timeout;
    "metrics.listen" => metrics.listen;
    "bus.url" => bus.url;
    "bus.node_id" => bus.node_id;
    "bus.prefix" => bus.prefix;
    "bus.heartbeat" => bus.heartbeat;
    "bus.lease" => bus.lease;
}

/// The environment variable that sets `key`: `KONSULT_` and the key in capitals, `.` as `_`.
pub fn env_name(key: &str) -> String {
    format!("KONSULT_{}", key.replace('.', "_").to_ascii_uppercase())
}

/// Where the configuration comes from.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// A file named on the command line; a missing one is an error.
    pub file: Option<PathBuf>,
    /// `KONSULT_*` variables (others are ignored).
    pub env: Vec<(String, String)>,
    /// Flags, as `(key, value)`.
    pub flags: Vec<(&'static str, String)>,
}

/// The file read when none is named: `config/konsult.toml` under the working folder.
pub const DEFAULT_FILE: &str = "config/konsult.toml";

impl Config {
    /// Reads the configuration from all its sources. Without a named file, `DEFAULT_FILE`
    /// is read when it exists.
    pub fn load(sources: &Sources) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        let file = match &sources.file {
            Some(path) => Some(path.clone()),
            None => Some(PathBuf::from(DEFAULT_FILE)).filter(|p| p.is_file()),
        };
        if let Some(path) = file {
            let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::File {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            config.apply_toml(&text, &path)?;
        }
        for (name, value) in &sources.env {
            if !name.starts_with("KONSULT_") || name == "KONSULT_CONFIG" {
                continue;
            }
            let Some(key) = Config::KEYS.iter().find(|k| env_name(k) == *name) else {
                return Err(ConfigError::UnknownKey {
                    key: name.clone(),
                    source_name: "environment".into(),
                });
            };
            config.set(
                key,
                &Raw::Str(value.clone()),
                &format!("environment {name}"),
            )?;
        }
        for (key, value) in &sources.flags {
            config.set(key, &Raw::Str(value.clone()), "command line")?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Applies a TOML document of `[section]` tables.
    pub fn apply_toml(&mut self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::File {
                path: path.to_path_buf(),
                reason: e.message().to_string(),
            })?;
        let source_name = format!("file {}", path.display());
        let mut flat = BTreeMap::new();
        for (section, value) in table {
            match value {
                toml::Value::Table(t) => {
                    for (name, v) in t {
                        flat.insert(format!("{section}.{name}"), v);
                    }
                }
                _ => {
                    return Err(ConfigError::UnknownKey {
                        key: section,
                        source_name,
                    });
                }
            }
        }
        for (key, value) in flat {
            let raw = Raw::from_toml(&value).map_err(|reason| ConfigError::Invalid {
                key: key.clone(),
                source_name: source_name.clone(),
                reason,
            })?;
            self.set(&key, &raw, &source_name)?;
        }
        Ok(())
    }

    /// Sets one key, naming it and its source on error.
    pub fn set(&mut self, key: &str, raw: &Raw, source_name: &str) -> Result<(), ConfigError> {
        match self.apply(key, raw) {
            Ok(true) => Ok(()),
            Ok(false) => Err(ConfigError::UnknownKey {
                key: key.to_string(),
                source_name: source_name.to_string(),
            }),
            Err(reason) => Err(ConfigError::Invalid {
                key: key.to_string(),
                source_name: source_name.to_string(),
                reason: format!("{reason} (got {raw})"),
            }),
        }
    }

    /// Checks the bounds no single value's type expresses.
    fn validate(&self) -> Result<(), ConfigError> {
        let fail = |key: &str, reason: &str| {
            Err(ConfigError::Invalid {
                key: key.into(),
                source_name: "value".into(),
                reason: reason.into(),
            })
        };
        let l = &self.limits;
        if l.max_frame_bytes < 1024 || l.max_frame_bytes > 16 * 1024 * 1024 {
            return fail(
                "limits.max_frame_bytes",
                "must be between 1024 and 16777216",
            );
        }
        if l.outbox_messages == 0 {
            return fail("limits.outbox_messages", "must be at least 1");
        }
        if l.idle_timeout <= l.ping_after {
            return fail(
                "limits.idle_timeout",
                "must be longer than limits.ping_after",
            );
        }
        if l.messages_per_second == 0 {
            return fail("limits.messages_per_second", "must be at least 1");
        }
        if l.connections_per_user == 0 {
            return fail("limits.connections_per_user", "must be at least 1");
        }
        if l.anonymous_per_ip == 0 {
            return fail("limits.anonymous_per_ip", "must be at least 1");
        }
        if self.server.header_read_timeout.is_zero() {
            return fail("server.header_read_timeout", "must be longer than 0s");
        }
        if l.session_members < 2 {
            return fail("limits.session_members", "must be at least 2");
        }
        if l.uploads_per_minute == 0 {
            return fail("limits.uploads_per_minute", "must be at least 1");
        }
        if !(1..=366).contains(&self.booking.horizon_days) {
            return fail("booking.horizon_days", "must be between 1 and 366");
        }
        if self.hub.input_queue == 0 {
            return fail("hub.input_queue", "must be at least 1");
        }
        if self.hub.grace.is_zero() {
            return fail("hub.grace", "must be longer than 0s");
        }
        if let Some(url) = &self.store.url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return fail(
                "store.url",
                "expected empty (SQLite in server.data) or postgres://user@host:port/database",
            );
        }
        if self.server.tls_cert.is_some() != self.server.tls_key.is_some() {
            return fail(
                "server.tls_key",
                "server.tls_cert and server.tls_key go together",
            );
        }
        if self.auth.portal_issuer.is_some() != self.auth.portal_secret.is_some() {
            return fail(
                "auth.portal_secret",
                "auth.portal_issuer and auth.portal_secret go together",
            );
        }
        for (key, secret) in [
            ("auth.jwt_secret", &self.auth.jwt_secret),
            ("auth.portal_secret", &self.auth.portal_secret),
        ] {
            if secret.as_ref().is_some_and(|s| s.len() < MIN_SECRET_BYTES) {
                return fail(
                    key,
                    "must be at least 32 bytes (64 hex digits are a good choice)",
                );
            }
        }
        if self.auth.token_ttl.is_zero() {
            return fail("auth.token_ttl", "must be longer than 0s");
        }
        if !self.turn_complete() {
            return fail(
                "media.turn_secret",
                "media.turn_urls need media.turn_secret",
            );
        }
        self.validate_bus()
    }

    /// The cluster keys: a URL Konsult can dial, a node id usable in Redis keys, and a lease
    /// long enough for a few heartbeats to renew it.
    fn validate_bus(&self) -> Result<(), ConfigError> {
        let fail = |key: &str, reason: &str| {
            Err(ConfigError::Invalid {
                key: key.into(),
                source_name: "value".into(),
                reason: reason.into(),
            })
        };
        let bus = &self.bus;
        if let Some(url) = &bus.url {
            let rest = url.strip_prefix("redis://").unwrap_or_default();
            if rest.is_empty() || rest.starts_with('/') {
                return fail("bus.url", "expected redis://host:port, optionally /db");
            }
            let shared =
                self.store.url.as_deref().is_some_and(|u| {
                    u.starts_with("postgres://") || u.starts_with("postgresql://")
                });
            if !shared {
                return fail(
                    "bus.url",
                    "the nodes of a cluster share one PostgreSQL: set store.url to postgres://",
                );
            }
            if self.auth.jwt_secret.is_none() {
                return fail(
                    "bus.url",
                    "the nodes of a cluster sign tokens with one key: set auth.jwt_secret",
                );
            }
        }
        if let Some(id) = &bus.node_id {
            let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.:".contains(c);
            if id.len() > MAX_NODE_ID_BYTES || !id.chars().all(allowed) {
                return fail(
                    "bus.node_id",
                    "at most 64 letters, digits, '-', '_', '.' or ':'",
                );
            }
        }
        let prefix_allowed = |c: char| c.is_ascii_alphanumeric() || "-_.:".contains(c);
        if bus.prefix.is_empty() || bus.prefix.len() > 64 || !bus.prefix.chars().all(prefix_allowed)
        {
            return fail(
                "bus.prefix",
                "1 to 64 letters, digits, '-', '_', '.' or ':'",
            );
        }
        if bus.heartbeat < Duration::from_millis(100) {
            return fail("bus.heartbeat", "must be at least 100ms");
        }
        if bus.lease < bus.heartbeat * 3 {
            return fail("bus.lease", "must be at least 3 times bus.heartbeat");
        }
        if bus.lease > Duration::from_secs(60) {
            return fail("bus.lease", "must be at most 60s");
        }
        Ok(())
    }

    fn turn_complete(&self) -> bool {
        self.media.turn_urls.is_empty() || self.media.turn_secret.is_some()
    }
}

#[cfg(test)]
mod tests;
