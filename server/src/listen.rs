//! The accept loop of Konsult's listeners (the public one, plain or TLS, and the metrics one):
//! one HTTP/1.1 connection (with upgrades) per client, whose request headers (and TLS
//! handshake) must arrive within `server.header_read_timeout`, so that silent sockets are
//! closed; on shutdown, no new connections and the open ones finish their request.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// How a listener serves its connections.
#[derive(Clone)]
#[allow(missing_debug_implementations)] // The router and the TLS acceptor have no `Debug`.
pub struct Listening {
    pub router: Router,
    /// TLS in front of HTTP when set.
    pub tls: Option<TlsAcceptor>,
    /// Time for the TLS handshake and for each request's headers.
    pub header_read_timeout: Duration,
    /// Longest wait, after shutdown, for connections to finish their request.
    pub shutdown_timeout: Duration,
}

/// Accepts connections until `shutdown` resolves, then waits (at most `shutdown_timeout`)
/// for the requests in flight; upgraded WebSocket connections are not waited for here.
pub async fn serve(listener: TcpListener, how: Listening, shutdown: impl Future<Output = ()>) {
    let (stop, stopping) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Replies are small and latency matters: no Nagle delay.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::trace!(error = %e, "TCP_NODELAY failed");
        }
        let how = how.clone();
        let stopping = stopping.clone();
        tokio::spawn(async move {
            match &how.tls {
                None => connection(tcp, peer, &how, stopping).await,
                Some(acceptor) => {
                    let handshake = acceptor.accept(tcp);
                    match tokio::time::timeout(how.header_read_timeout, handshake).await {
                        Ok(Ok(tls)) => connection(tls, peer, &how, stopping).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(stopping);
    // Every connection task holds a receiver: tell them, then wait until all are gone.
    let _told = stop.send(());
    if tokio::time::timeout(how.shutdown_timeout, stop.closed())
        .await
        .is_err()
    {
        tracing::debug!("HTTP requests still running at the shutdown timeout");
    }
}

/// Serves one client's HTTP/1.1 connection until it ends, closing it gracefully on shutdown.
async fn connection<IO>(
    io: IO,
    peer: SocketAddr,
    how: &Listening,
    mut stopping: watch::Receiver<()>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = how
        .router
        .clone()
        .layer(axum::Extension(ConnectInfo::<SocketAddr>(peer)));
    let service = hyper_util::service::TowerToHyperService::new(service);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(how.header_read_timeout);
    let connection = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let ended = tokio::select! {
        ended = connection.as_mut() => ended,
        _ = stopping.changed() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = ended {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
