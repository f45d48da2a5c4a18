//! The load's WebSocket clients: a TCP connection bound to one of several 127.0.0.x source
//! addresses (each has its own ephemeral port range), the `hello`/`welcome` handshake, and
//! crowds of idle authenticated clients that answer pings and count what they receive.

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// A client's WebSocket.
pub type Ws = WebSocketStream<TcpStream>;

/// How long a connect plus handshake may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Client buffers small enough for tens of thousands of clients in one process.
pub fn client_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(16 << 20))
        .max_frame_size(Some(16 << 20))
}

/// The `n`th of `sources` loopback source addresses: 127.0.0.1, 127.0.0.2, ...
pub fn source(n: usize, sources: usize) -> IpAddr {
    let last = 1 + (n % sources.max(1)) as u8;
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// Opens a WebSocket to `addr` from `source`.
pub async fn connect(addr: SocketAddr, source: IpAddr) -> anyhow::Result<Ws> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    let url = format!("ws://{addr}/ws");
    let (ws, _) =
        tokio_tungstenite::client_async_with_config(url, stream, Some(client_config())).await?;
    Ok(ws)
}

/// Sends `hello` and waits for `welcome`; returns it.
pub async fn hello(ws: &mut Ws, token: &str) -> anyhow::Result<Value> {
    let hello = json!({"type": "hello", "v": konsult_protocol::PROTOCOL_VERSION, "token": token});
    ws.send(Message::Text(hello.to_string().into())).await?;
    loop {
        let msg = ws.next().await.context("closed before welcome")??;
        if let Message::Text(text) = msg {
            let value: Value = serde_json::from_str(&text)?;
            match value["type"].as_str() {
                Some("welcome") => return Ok(value),
                Some("error") => anyhow::bail!("hello refused: {value}"),
                _ => {}
            }
        }
    }
}

/// Connects and says hello within [`CONNECT_TIMEOUT`].
pub async fn connect_as(addr: SocketAddr, source: IpAddr, token: &str) -> anyhow::Result<Ws> {
    tokio::time::timeout(CONNECT_TIMEOUT, async {
        let mut ws = connect(addr, source).await?;
        hello(&mut ws, token).await?;
        Ok(ws)
    })
    .await
    .context("connect timed out")?
}

/// Sends one JSON message.
pub async fn send(ws: &mut Ws, value: &Value) -> anyhow::Result<()> {
    ws.send(Message::Text(value.to_string().into())).await?;
    Ok(())
}

/// Waits for the next message of type `ty` (others are skipped), within `wait`.
pub async fn recv_type(ws: &mut Ws, ty: &str, wait: Duration) -> anyhow::Result<Value> {
    tokio::time::timeout(wait, async {
        loop {
            let msg = ws.next().await.context("closed")??;
            if let Message::Text(text) = msg {
                let value: Value = serde_json::from_str(&text)?;
                if value["type"] == ty {
                    return Ok(value);
                }
                if value["type"] == "error" {
                    anyhow::bail!("error while waiting for {ty}: {value}");
                }
            }
        }
    })
    .await
    .with_context(|| format!("no {ty} within {wait:?}"))?
}

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
