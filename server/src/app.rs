//! The server's shared state: what every request handler, connection task and service holds
//! behind one `Arc`. Built and served by `serve.rs`.

use crate::accounts;
use crate::auth::Tokens;
use crate::chat::Chat;
use crate::directory::Directory;
use crate::drain::Drain;
use crate::hub_handle::MediaSink;
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
        use crate::auth::{AuthError, Identity};
        let verified = self.tokens.verify_token(token)?;
        if self.revoked.contains(&verified.id) {
            return Err(AuthError::Revoked);
        }
        let user = match verified.identity {
            Identity::Local {
                user,
                token_version,
            } => self
                .store
                .user_by_id(user)
                .await
                .ok()
                .flatten()
                .filter(|u| u.token_version == token_version),
            Identity::Portal(claims) => {
                let school = crate::schools::resolve(&self.store, claims.school.as_deref())
                    .await
                    .map_err(|e| AuthError::BadClaims(e.to_string()))?;
                let (user, role_changed) =
                    accounts::portal_user(&self.store, school.id, &claims).await?;
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

impl App {
    /// A school's time zone: its own, else `school.timezone`.
    pub fn school_timezone(&self, school: konsult_protocol::SchoolId) -> jiff::tz::TimeZone {
        self.schools
            .get(school)
            .map(|s| s.timezone.clone())
            .unwrap_or_else(|| self.timezone.clone())
    }
}
