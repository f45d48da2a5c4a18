//! Wiring: builds the shared state from the configuration, runs each school's hub, the
//! directory's sweeper and the SFU, serves HTTP and WebSocket on a listener, and drains on
//! shutdown.

use crate::app::App;
use crate::auth::Tokens;
use crate::chat::Chat;
use crate::directory::Directory;
use crate::drain::Drain;
use crate::login_guard::LoginGuard;
use crate::store::Store;
use crate::{accounts, http};
use konsult_config::Config;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Opens storage and builds the shared state for `config`, with `timezone` (`school.timezone`,
/// checked once, at start-up) for schools that have none of their own; [`serve`] starts the
/// schools' hubs.
pub async fn build(config: Config, timezone: jiff::tz::TimeZone) -> anyhow::Result<Arc<App>> {
    let store = Store::open_configured(config.store.url.as_deref(), &config.server.data).await?;
    tracing::info!(store = store.kind(), "storage open");
    let secret = accounts::jwt_secret(&config)?;
    let portal = config
        .auth
        .portal_issuer
        .clone()
        .zip(config.auth.portal_secret.clone().map(String::into_bytes));
    let tokens = Tokens::new(secret.as_bytes(), portal, config.auth.token_ttl)
        .map_err(|e| anyhow::anyhow!("config key `auth.jwt_secret`: {e}"))?;
    let devices = crate::device::DeviceTokens::new(secret.as_bytes())
        .map_err(|e| anyhow::anyhow!("config key `auth.jwt_secret`: {e}"))?;
    let revoked =
        crate::revoked::Revoked::from_kept(store.revoked_tokens(crate::auth::unix_now()).await?);
    let directory = Arc::new(Directory::default());
    let account_reads = tokio::sync::Semaphore::new(crate::app::account_reads(store.connections()));
    let app = Arc::new(App {
        tokens,
        seal: crate::seal::Seal::new(secret.as_bytes()),
        chat: Chat::new(
            store.clone(),
            directory.clone(),
            &config.server.data,
            config.limits.uploads_per_minute,
        ),
        store,
        directory,
        sockets: AtomicUsize::new(0),
        anonymous: crate::anonymous::Anonymous::new(config.limits.anonymous_per_ip),
        drain: Drain::new(),
        metrics: crate::metrics::install(),
        schools: Arc::new(crate::schools::Schools::default()),
        school_codes: crate::school_codes::SchoolCodes::default(),
        account_reads,
        media: std::sync::OnceLock::new(),
        node: std::sync::OnceLock::new(),
        logins: LoginGuard::new(
            config.limits.logins_per_minute_per_ip,
            config.limits.logins_per_minute_per_account,
        ),
        devices,
        revoked,
        timezone,
        config,
    });
    Ok(app)
}

/// Starts the SFU on its bound sockets and hands the hub's media work to it.
pub fn start_media(app: &App, sockets: konsult_media::MediaSockets) -> anyhow::Result<()> {
    let sink = crate::media_link::start(
        &app.config.media,
        app.directory.clone(),
        app.schools.clone(),
        &app.drain,
        sockets,
    )?;
    if app.media.set(sink).is_err() {
        anyhow::bail!("the media server was started twice");
    }
    Ok(())
}

/// Serves until `shutdown` resolves (over TLS when `tls` is given; `/metrics` on
/// `metrics` when given), then drains: no new connections, every socket closed with 1001
/// after `server_shutdown`, pending writes flushed, within `server.shutdown_timeout`.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    metrics: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    match app.config.bus.url.clone() {
        // A node of a cluster runs the hubs of the schools it gains.
        Some(url) => {
            let node = crate::node_run::join(&app, &url, listener.local_addr()?).await?;
            if app.node.set(node).is_err() {
                anyhow::bail!("the node joined the cluster twice");
            }
        }
        None => crate::school_hubs::open_all(&app).await?,
    }
    let sweeper = tokio::spawn(sweep(app.clone()));
    let drain = app.drain.clone();
    let timeout = app.config.server.shutdown_timeout;
    let listening = |router, tls| crate::listen::Listening {
        router,
        tls,
        header_read_timeout: app.config.server.header_read_timeout,
        shutdown_timeout: timeout,
    };
    let metrics = metrics.map(|listener| {
        let how = listening(http::metrics_router(app.clone()), None);
        let mut stopping = drain.watch();
        tokio::spawn(crate::listen::serve(listener, how, async move {
            crate::drain::stopped(&mut stopping).await;
        }))
    });
    let shutdown = {
        let drain = drain.clone();
        let app = app.clone();
        async move {
            shutdown.await;
            if let Some(node) = app.node.get() {
                // A node of a cluster first hands its schools to the others, serving meanwhile.
                crate::node_run::hand_over(&app, node).await;
            }
            tracing::info!("shutting down: no new connections");
            drain.begin();
        }
    };
    let how = listening(http::router(app.clone()), tls);
    crate::listen::serve(listener, how, shutdown).await;
    // The listener has stopped accepting and finished plain HTTP requests; upgraded WebSocket
    // connections are tracked by the drain.
    if tokio::time::timeout(timeout, drain.idle()).await.is_err() {
        tracing::warn!("shutdown timeout: dropping the connections still open");
    }
    sweeper.abort();
    if let Some(metrics) = metrics {
        // The metrics listener stopped with the drain; its last scrape may still be running.
        let _ended = tokio::time::timeout(timeout, metrics).await;
    }
    for hub in app.schools.take_hub_tasks() {
        if hub.await.is_err() {
            tracing::error!("a hub task failed");
        }
    }
    if let Some(node) = app.node.get() {
        // The hubs kept their last snapshots under their epochs: now the schools may move.
        node.leave().await;
    }
    app.store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Takes parked connections whose grace ran out out of the directory: a parked connection
/// outlives its grace by at most a quarter of it.
async fn sweep(app: Arc<App>) {
    let every = (app.config.hub.grace / 4).max(Duration::from_millis(100));
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        app.directory.sweep(Instant::now());
    }
}
