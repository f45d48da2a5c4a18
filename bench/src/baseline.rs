//! The baseline server: a bare tokio-tungstenite WebSocket server with Konsult's buffer
//! settings (server/src/ws/) that only answers and broadcasts, so that Konsult's figures read
//! as a ratio to what the hardware and the libraries allow. It speaks just enough of the
//! protocol for the load generator's clients: `hello` gets a `welcome`, `ping` a `pong`,
//! `list_teachers` an empty `teachers` (and makes the connection a watcher), `set_status` an
//! `ok` and a `presence` broadcast to every watcher (encoded once), anything else an `ok`.
//! Like Konsult, each connection has a bounded outbox; a full one drops the connection.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Konsult's defaults: `limits.max_frame_bytes` and `limits.outbox_messages`.
const MAX_FRAME: usize = 64 * 1024;
const OUTBOX: usize = 512;

/// The WebSocket configuration Konsult's upgrade uses (server/src/ws/mod.rs).
pub fn server_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_FRAME.max(1 << 20) * 4)
        .max_message_size(Some(MAX_FRAME))
        .max_frame_size(Some(MAX_FRAME))
}

/// Connections watching `presence`, by connection number.
#[derive(Debug, Default)]
struct Watchers {
    next: AtomicU64,
    outboxes: Mutex<HashMap<u64, mpsc::Sender<Utf8Bytes>>>,
}

impl Watchers {
    /// Queues a frame for every watcher; a full outbox drops that watcher.
    fn broadcast(&self, frame: &Utf8Bytes) {
        let mut outboxes = self
            .outboxes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        outboxes.retain(|_, tx| tx.try_send(frame.clone()).is_ok());
    }

    fn add(&self, id: u64, tx: mpsc::Sender<Utf8Bytes>) {
        self.outboxes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, tx);
    }

    fn remove(&self, id: u64) {
        self.outboxes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&id);
    }
}

/// Accepts connections until the process ends.
pub async fn serve_ws(listener: TcpListener) -> std::io::Result<()> {
    let watchers = Arc::new(Watchers::default());
    loop {
        let (stream, _) = listener.accept().await?;
        let watchers = watchers.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, &watchers).await {
                tracing_free_log(&e);
            }
        });
    }
}

fn tracing_free_log(e: &anyhow::Error) {
    if std::env::var_os("KONSULT_BASELINE_DEBUG").is_some() {
        eprintln!("baseline connection: {e:#}");
    }
}

async fn connection(stream: TcpStream, watchers: &Watchers) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    let mut ws = tokio_tungstenite::accept_async_with_config(stream, Some(server_config())).await?;
    // The first text frame is the hello.
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(_))) => break,
            Some(Ok(_)) => continue,
            _ => return Ok(()),
        }
    }
    let id = watchers.next.fetch_add(1, Ordering::Relaxed) + 1;
    let welcome = json!({"type": "welcome", "v": 1, "resume": "", "resumed": false,
        "user": {"id": id, "login": format!("u{id}"), "name": "baseline", "role": "student"},
        "ice_servers": []});
    ws.send(Message::Text(welcome.to_string().into())).await?;
    let (tx, mut rx) = mpsc::channel::<Utf8Bytes>(OUTBOX);
    let result = async {
        loop {
            tokio::select! {
                frame = rx.recv() => {
                    let Some(frame) = frame else { return anyhow::Ok(()) };
                    ws.feed(Message::Text(frame)).await?;
                    while let Ok(frame) = rx.try_recv() {
                        ws.feed(Message::Text(frame)).await?;
                    }
                    ws.flush().await?;
                }
                incoming = ws.next() => {
                    let text = match incoming {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Close(_))) | None => return Ok(()),
                        Some(Ok(_)) => continue,
                        Some(Err(e)) => return Err(e.into()),
                    };
                    let Ok(value) = serde_json::from_str::<Value>(&text) else { continue };
                    let re = value.get("rid").cloned().unwrap_or(Value::Null);
                    let reply = match value["type"].as_str() {
                        Some("ping") => json!({"type": "pong", "re": re}),
                        Some("list_teachers") => {
                            watchers.add(id, tx.clone());
                            json!({"type": "teachers", "teachers": [], "re": re})
                        }
                        Some("set_status") => {
                            let presence = json!({"type": "presence", "user": id,
                                                  "status": value["status"]});
                            watchers.broadcast(&Utf8Bytes::from(presence.to_string()));
                            json!({"type": "ok", "re": re})
                        }
                        _ => json!({"type": "ok", "re": re}),
                    };
                    if tx.try_send(Utf8Bytes::from(reply.to_string())).is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
    .await;
    watchers.remove(id);
    result
}
