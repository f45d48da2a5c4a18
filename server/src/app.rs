//! The server's shared state: what every request handler, connection task and service holds
//! behind one `Arc`. Built and served by `serve.rs`.

use crate::accounts;
use crate::auth::Tokens;
use crate::chat::Chat;
use crate::directory::Directory;
use crate::drain::Drain;
use crate::hub_handle::MediaSink;
use crate::notices::Notice;
use crate::store::Store;
use konsult_config::Config;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

/// Everything a request handler or connection task needs, shared behind an `Arc`.
#[derive(Debug)]
pub struct App {
    pub config: Config,
    pub store: Store,
    pub tokens: Tokens,
    /// The key of students' anonymous identities' owner digests (`anonymity.rs`).
    pub seal: crate::seal::Seal,
    /// Authenticated connections by id and by user.
    pub directory: Arc<Directory>,
    /// Chat threads and messages.
    pub chat: Chat,
    /// Open WebSocket connections (authenticated or not), against `server.max_connections`.
    pub sockets: AtomicUsize,
    /// WebSocket connections waiting for `hello`, per address (`limits.anonymous_per_ip`).
    pub anonymous: Arc<crate::anonymous::Anonymous>,
    pub drain: Arc<Drain>,
    pub metrics: PrometheusHandle,
    /// The schools served, each with its hub.
    pub schools: Arc<crate::schools::Schools>,
    /// Which school a portal token's code names, remembered for a while.
    pub school_codes: crate::school_codes::SchoolCodes,
    /// Token checks asking the store at once ([`account_reads`]): a storm of reconnections
    /// queues here, not in the store's pool ahead of chat writes and a takeover of schools.
    pub account_reads: tokio::sync::Semaphore,
    /// This server as a node of a cluster, set once at start-up when `bus.url` is set.
    pub node: std::sync::OnceLock<Arc<crate::node::Node>>,
    /// The SFU, set once at start-up when its socket is bound.
    pub media: std::sync::OnceLock<Arc<dyn MediaSink>>,
    /// Login attempts per address and per account.
    pub logins: crate::login_guard::LoginGuard,
    /// Device tokens, which let a login guard tell the owner's devices from others.
    pub devices: crate::device::DeviceTokens,
    /// Tokens ended by `POST /api/logout`.
    pub revoked: crate::revoked::Revoked,
    /// `school.timezone`: the time zone of a school whose own is not set yet, and the
    /// default of `konsult school add`.
    pub timezone: jiff::tz::TimeZone,
}

impl App {
    /// The active account a token proves, creating portal users on first sight.
    pub async fn authenticate(
        &self,
        token: &str,
    ) -> Result<crate::store::users::User, crate::auth::AuthError> {
        let verified = self.verify(token)?;
        self.account(verified).await
    }

    /// Checks a token's signature, expiry and revocation, without the store.
    pub fn verify(&self, token: &str) -> Result<crate::auth::Verified, crate::auth::AuthError> {
        let verified = self.tokens.verify_token(token)?;
        if self.revoked.contains(&verified.id) {
            return Err(crate::auth::AuthError::Revoked);
        }
        Ok(verified)
    }

    /// The active account a verified token names, creating portal users on first sight.
    pub async fn account(
        &self,
        verified: crate::auth::Verified,
    ) -> Result<crate::store::users::User, crate::auth::AuthError> {
        use crate::auth::{AuthError, Identity};
        let _turn = self
            .account_reads
            .acquire()
            .await
            .map_err(|_| AuthError::Unavailable("the server is stopping".into()))?;
        let user = match verified.identity {
            Identity::Local {
                user,
                token_version,
            } => self
                .store
                .user_by_id(user)
                .await
                .map_err(|e| AuthError::Unavailable(e.to_string()))?
                .filter(|u| u.token_version == token_version),
            Identity::Portal(claims) => {
                let school = self
                    .school_codes
                    .resolve_id(&self.store, claims.school.as_deref())
                    .await
                    .map_err(|e| match e {
                        crate::schools::ResolveError::Store(e) => {
                            AuthError::Unavailable(e.to_string())
                        }
                        other => AuthError::BadClaims(other.to_string()),
                    })?;
                let (user, role_changed) =
                    accounts::portal_user(&self.store, school, &claims).await?;
                if role_changed {
                    // What the old role allowed ends with it, as a deactivation ends it.
                    self.close_user(&user, konsult_protocol::CloseCode::AccountDisabled)
                        .await;
                    self.user_changed(&user).await;
                }
                Some(user)
            }
        };
        user.filter(|u| u.active).ok_or(AuthError::NoAccount)
    }
}

/// How many token checks may ask a store of `connections` at once: three quarters of them
/// (12 of PostgreSQL's 16, 3 of SQLite's 4), the rest kept for everything else.
pub fn account_reads(connections: usize) -> usize {
    (connections * 3 / 4).max(1)
}

impl App {
    /// A school's time zone: its own, else `school.timezone`.
    pub fn school_timezone(&self, school: konsult_protocol::SchoolId) -> jiff::tz::TimeZone {
        self.schools
            .get(school)
            .map(|s| s.timezone.clone())
            .unwrap_or_else(|| self.timezone.clone())
    }
}

impl App {
    /// Tells the hub of the user's school that an account was created or changed (a school
    /// whose hub has not started reads its accounts when it starts).
    pub async fn user_changed(&self, user: &crate::store::users::User) {
        match self.schools.get(user.school) {
            Some(school) => {
                school
                    .hub
                    .send(konsult_signaling::Input::UserChanged {
                        user: user.info(),
                        active: user.active,
                    })
                    .await;
            }
            None => {
                self.tell_owner(user.school, Notice::UserChanged { user: user.id.0 })
                    .await
            }
        }
    }

    /// Tells the hub of the user's school that their consultation hours are now `hours`.
    pub async fn hours_changed(
        &self,
        user: &crate::store::users::User,
        hours: Vec<konsult_protocol::model::HoursSlot>,
    ) {
        match self.schools.get(user.school) {
            Some(school) => {
                school
                    .hub
                    .send(konsult_signaling::Input::HoursChanged {
                        user: user.id,
                        hours,
                    })
                    .await;
            }
            None => {
                self.tell_owner(user.school, Notice::HoursChanged { user: user.id.0 })
                    .await
            }
        }
    }

    /// Closes every connection of `user` with `code`, wherever it runs.
    pub async fn close_user(
        &self,
        user: &crate::store::users::User,
        code: konsult_protocol::CloseCode,
    ) {
        self.directory.close_user(user.id, code);
        if self.schools.get(user.school).is_none() {
            let notice = Notice::CloseUser {
                user: user.id.0,
                code: code.code(),
            };
            self.tell_owner(user.school, notice).await;
        }
    }

    /// Refuses token `id` until `expires` on this node and on every other.
    pub async fn revoke(&self, id: String, expires: u64, now: u64) {
        self.revoked.revoke(id.clone(), expires, now);
        if let Some(node) = self.node.get() {
            node.tell_all(&Notice::Revoked { id, expires }).await;
        }
    }

    async fn tell_owner(&self, school: konsult_protocol::SchoolId, notice: Notice) {
        if let Some(node) = self.node.get() {
            node.tell_owner(&self.store, &self.schools, school, &notice)
                .await;
        }
    }

    /// Whether this node may act for `school` now: always for one node alone; for a node of a
    /// cluster, while it holds the school's lease (`Node::may_act`) and has not stopped the
    /// school. A school that may not is being stopped.
    pub fn may_act(&self, school: &crate::schools::School) -> bool {
        !*school.stop.borrow()
            && self
                .node
                .get()
                .is_none_or(|node| node.may_act(&school.code))
    }
}
