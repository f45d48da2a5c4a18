//! Crowds of idle authenticated clients spread over several 127.0.0.x source addresses (each
//! has its own ephemeral port range): each answers pings and counts what it receives.

use futures_util::StreamExt;
use konsult_testkit::ws::{connect_as, source};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// What a crowd of idle clients has seen, shared by their tasks.
#[derive(Debug, Default)]
pub struct CrowdCounters {
    /// Clients whose `welcome` arrived and whose socket is still open.
    pub open: AtomicUsize,
    /// Clients that failed to connect or authenticate.
    pub failed: AtomicUsize,
    /// Clients whose socket closed after the handshake.
    pub closed: AtomicUsize,
    /// Text frames received after the handshake.
    pub frames: AtomicU64,
}

/// A crowd of idle authenticated clients, each a task that reads (so pings are answered) and
/// counts what it receives. Dropping the crowd closes them all.
#[derive(Debug)]
pub struct Crowd {
    pub counters: Arc<CrowdCounters>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// How long connecting everyone took.
    pub connect_time: Duration,
}

impl Drop for Crowd {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Connects `tokens.len()` clients from `sources` loopback addresses, at most `concurrency`
/// handshakes at once, and keeps them idle.
pub async fn crowd(
    addr: SocketAddr,
    tokens: Vec<String>,
    sources: usize,
    concurrency: usize,
) -> Crowd {
    let counters = Arc::new(CrowdCounters::default());
    let gate = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(tokens.len());
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<()>(tokens.len().max(1));
    for (i, token) in tokens.into_iter().enumerate() {
        let counters = counters.clone();
        let gate = gate.clone();
        let done = done_tx.clone();
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await;
            let ws = connect_as(addr, source(i, sources), &token).await;
            drop(permit);
            let mut ws = match ws {
                Ok(ws) => {
                    counters.open.fetch_add(1, Ordering::Relaxed);
                    ws
                }
                Err(e) => {
                    if counters.failed.fetch_add(1, Ordering::Relaxed) < 3 {
                        eprintln!("client {i}: {e:#}");
                    }
                    let _sent = done.send(()).await;
                    return;
                }
            };
            let _sent = done.send(()).await;
            drop(done);
            while let Some(Ok(msg)) = ws.next().await {
                match msg {
                    Message::Text(_) => {
                        counters.frames.fetch_add(1, Ordering::Relaxed);
                    }
                    Message::Close(_) => break,
                    _ => {}
                }
            }
            counters.open.fetch_sub(1, Ordering::Relaxed);
            counters.closed.fetch_add(1, Ordering::Relaxed);
        }));
    }
    drop(done_tx);
    while done_rx.recv().await.is_some() {}
    Crowd {
        counters,
        tasks,
        connect_time: started.elapsed(),
    }
}
