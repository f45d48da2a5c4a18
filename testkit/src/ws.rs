//! One WebSocket connection to Konsult (or the baseline) and the protocol's first steps: a TCP
//! connection from a chosen loopback source address, the `hello`/`welcome` handshake, JSON
//! sent and awaited by type. [`crate::WsClient`] builds the tests' client on these.

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// A client's WebSocket.
pub type Ws = WebSocketStream<TcpStream>;

/// How long a connect plus handshake may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Client buffers small enough for tens of thousands of clients in one process.
pub fn small_config() -> WebSocketConfig {
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

/// Opens a WebSocket to `addr`'s `/ws` from `source`, with `config`'s buffers.
pub async fn connect(
    addr: SocketAddr,
    source: IpAddr,
    config: WebSocketConfig,
) -> anyhow::Result<Ws> {
    let socket = match source {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(source, 0))?;
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    let url = format!("ws://{addr}/ws");
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config)).await?;
    Ok(ws)
}

/// Sends `hello` with `token` and returns the `welcome` that must come first; an `error` or
/// any other first message is an error.
pub async fn hello(ws: &mut Ws, token: &str) -> anyhow::Result<Value> {
    let hello = json!({"type": "hello", "v": konsult_protocol::PROTOCOL_VERSION, "token": token});
    send(ws, &hello).await?;
    loop {
        let msg = ws.next().await.context("closed before welcome")??;
        if let Message::Text(text) = msg {
            let value: Value = serde_json::from_str(&text)?;
            match value["type"].as_str() {
                Some("welcome") => return Ok(value),
                Some("error") => anyhow::bail!("hello refused: {value}"),
                _ => anyhow::bail!("{value} came before welcome"),
            }
        }
    }
}

/// Connects with small buffers and says hello within a bound; returns the socket.
pub async fn connect_as(addr: SocketAddr, source: IpAddr, token: &str) -> anyhow::Result<Ws> {
    tokio::time::timeout(CONNECT_TIMEOUT, async {
        let mut ws = connect(addr, source, small_config()).await?;
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

/// Waits for the next message of type `ty` (others are skipped, an `error` fails), within
/// `wait`.
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
