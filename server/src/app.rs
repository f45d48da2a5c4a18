//! The server's shared state and its life cycle: build it from the configuration, serve HTTP
//! and WebSocket on a listener, and shut down gracefully.

use crate::auth::Tokens;
use crate::chat::Chat;
use crate::directory::Directory;
use crate::drain::Drain;
use crate::hub::{HubHandle, MediaSink};
use crate::store::Store;
use crate::{accounts, http};
use konsult_config::Config;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use tokio::net::TcpListener;

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
    pub drain: Arc<Drain>,
    pub metrics: PrometheusHandle,
    /// The school's hub.
    pub hub: HubHandle,
    /// The SFU, set once at start-up when its socket is bound.
    pub media: std::sync::OnceLock<Arc<dyn MediaSink>>,
    /// Login attempts per address and per account.
    pub logins: crate::login_guard::LoginGuard,
    /// The school's time zone, for reports and consultation hours.
    pub timezone: jiff::tz::TimeZone,
}

impl App {
    /// Opens storage and prepares the shared state; the receiver is the hub's input, for
    /// [`serve`] to run the hub on.
    pub async fn new(config: Config) -> anyhow::Result<(Arc<App>, HubInputs)> {
        let timezone = jiff::tz::TimeZone::get(&config.school.timezone)
            .map_err(|e| anyhow::anyhow!("config key `school.timezone`: {e}"))?;
        let store = Store::open(&config.server.data).await?;
        let secret = accounts::jwt_secret(&config)?;
        let portal = config
            .auth
            .portal_issuer
            .clone()
            .zip(config.auth.portal_secret.clone().map(String::into_bytes));
        let tokens = Tokens::new(secret.as_bytes(), portal, config.auth.token_ttl)
            .map_err(|e| anyhow::anyhow!("config key `auth.jwt_secret`: {e}"))?;
        let directory = Arc::new(Directory::default());
        let (hub, inputs) = HubHandle::channel(config.hub.input_queue);
        let app = Arc::new(App {
            tokens,
            chat: Chat::new(
                store.clone(),
                directory.clone(),
                &config.server.data,
                config.limits.uploads_per_minute,
            ),
            store,
            directory,
            sockets: AtomicUsize::new(0),
            drain: Drain::new(),
            metrics: crate::metrics::install(),
            hub,
            media: std::sync::OnceLock::new(),
            logins: crate::login_guard::LoginGuard::new(
                config.limits.logins_per_minute_per_ip,
                config.limits.logins_per_minute_per_account,
            ),
            timezone,
            config,
        });
        Ok((app, HubInputs(inputs)))
    }
}

/// The hub's input channel, run by [`serve`].
#[derive(Debug)]
pub struct HubInputs(pub tokio::sync::mpsc::Receiver<konsult_signaling::Input>);

/// Serves until `shutdown` resolves, then drains: no new connections, every socket closed
/// with 1001 after `server_shutdown`, pending writes flushed, within `server.shutdown_timeout`.
pub async fn serve(
    app: Arc<App>,
    inputs: HubInputs,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let hub = tokio::spawn(crate::hub::run(app.clone(), inputs.0));
    let sweeper = tokio::spawn({
        let app = app.clone();
        // A parked connection outlives its grace by at most a quarter of it.
        let every = (app.config.hub.grace / 4).max(std::time::Duration::from_millis(100));
        async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                app.directory.sweep(std::time::Instant::now());
            }
        }
    });
    let router = http::router(app.clone());
    let drain = app.drain.clone();
    let timeout = app.config.server.shutdown_timeout;
    let shutdown = {
        let drain = drain.clone();
        async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections");
            drain.begin();
        }
    };
    match &app.config.server.tls_cert {
        Some(cert) => {
            let key = app.config.server.tls_key.clone().unwrap_or_default();
            let acceptor = crate::tls::acceptor(cert, &key)?;
            crate::tls::serve(listener, acceptor, router, shutdown).await;
        }
        None => {
            use axum::serve::ListenerExt;
            // Replies are small and latency matters: no Nagle delay.
            let listener = listener.tap_io(|tcp| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::trace!(error = %e, "TCP_NODELAY failed");
                }
            });
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown)
            .await?;
        }
    }
    // axum has stopped accepting and finished plain HTTP requests; upgraded WebSocket
    // connections are tracked by the drain.
    if tokio::time::timeout(timeout, drain.idle()).await.is_err() {
        tracing::warn!("shutdown timeout: dropping the connections still open");
    }
    sweeper.abort();
    if hub.await.is_err() {
        tracing::error!("the hub task failed");
    }
    app.store.close().await;
    tracing::info!("stopped");
    Ok(())
}

impl App {
    /// The active account a token proves, creating portal users on first sight.
    pub async fn authenticate(
        &self,
        token: &str,
    ) -> Result<crate::store::users::User, crate::auth::AuthError> {
        use crate::auth::{AuthError, Identity};
        let user = match self.tokens.verify(token)? {
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
            Identity::Portal(claims) => Some(accounts::portal_user(&self.store, &claims).await?),
        };
        user.filter(|u| u.active).ok_or(AuthError::NoAccount)
    }
}

impl App {
    /// Tells the hub that an account was created or changed.
    pub async fn user_changed(&self, user: &crate::store::users::User) {
        self.hub
            .send(konsult_signaling::Input::UserChanged {
                user: user.info(),
                active: user.active,
            })
            .await;
    }
}
