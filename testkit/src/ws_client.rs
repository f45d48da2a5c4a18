//! The tests' WebSocket client: one connection to a test [`Server`] that keeps what arrives
//! while it waits for a reply or a push, and panics when what a test expects does not come.

use crate::server::Server;
use crate::ws::{self, Ws};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// How long a test waits for an expected message.
pub const WAIT: Duration = Duration::from_secs(10);

/// One client connection.
#[derive(Debug)]
pub struct WsClient {
    stream: Ws,
    /// Messages received while waiting for another.
    pending: VecDeque<Value>,
    next_rid: i64,
    /// The close code, once the server closed.
    pub closed: Option<u16>,
}

impl WsClient {
    /// Opens a socket without saying hello.
    pub async fn connect(server: &Server) -> WsClient {
        Self::try_connect(server.addr)
            .await
            .expect("websocket connect")
    }

    /// Opens a socket to the server at `addr` without saying hello; an error when it cannot
    /// (a server that is down or refuses the upgrade).
    pub async fn try_connect(addr: SocketAddr) -> anyhow::Result<WsClient> {
        let stream = ws::connect(addr, addr.ip(), WebSocketConfig::default()).await?;
        Ok(WsClient {
            stream,
            pending: VecDeque::new(),
            next_rid: 1,
            closed: None,
        })
    }

    /// Says `hello` with `token` (and `resume` when given) and waits up to `limit` for the
    /// answer: the `welcome`, else what came instead (another first message such as an
    /// `error`, the close code, or nothing at all).
    pub async fn try_hello(
        &mut self,
        token: &str,
        resume: Option<&str>,
        limit: Duration,
    ) -> Result<Value, String> {
        let mut hello = json!({"type": "hello", "v": konsult_protocol::PROTOCOL_VERSION,
                               "token": token});
        if let Some(resume) = resume {
            hello["resume"] = json!(resume);
        }
        self.try_send_json(&hello)
            .await
            .map_err(|e| format!("hello not sent: {e}"))?;
        match self.recv_timeout(limit).await {
            Some(welcome) if welcome["type"] == "welcome" => Ok(welcome),
            Some(other) => Err(format!("{other} came instead of welcome")),
            None => match self.closed {
                Some(code) => Err(format!("closed with {code} before welcome")),
                None => Err(format!("no welcome within {limit:?}")),
            },
        }
    }

    /// Logs in, connects and completes the handshake; returns the client and its `welcome`.
    pub async fn connect_as(server: &Server, login: &str) -> (WsClient, Value) {
        let token = server.login(login, "demo");
        Self::connect_with_token(server, &token).await
    }

    /// Connects with a token; panics unless `welcome` comes back.
    pub async fn connect_with_token(server: &Server, token: &str) -> (WsClient, Value) {
        let mut client = Self::connect(server).await;
        let welcome = ws::hello(&mut client.stream, token)
            .await
            .unwrap_or_else(|e| panic!("no welcome: {e:#}"));
        (client, welcome)
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Message::text(text.to_string()))
            .await
            .expect("send");
    }

    pub async fn send_json(&mut self, value: &Value) {
        self.send_text(&value.to_string()).await;
    }

    /// Sends a message; an error when the connection is gone (for tests that kill the server).
    pub async fn try_send_json(
        &mut self,
        value: &Value,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        self.stream.send(Message::text(value.to_string())).await
    }

    /// Sends a text frame; an error when the connection is gone (for tests the server cuts off).
    pub async fn try_send_text(
        &mut self,
        text: &str,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        self.stream.send(Message::text(text.to_string())).await
    }

    /// Sends a frame; an error when the connection is gone.
    pub async fn try_send_message(
        &mut self,
        msg: Message,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        self.stream.send(msg).await
    }

    pub async fn send_message(&mut self, msg: Message) {
        self.stream.send(msg).await.expect("send");
    }

    /// Sends `value` with a fresh `rid` and waits for the message whose `re` matches.
    pub async fn request(&mut self, value: Value) -> Value {
        let rid = self.next_rid;
        self.next_rid += 1;
        let mut value = value;
        value["rid"] = json!(rid);
        self.send_json(&value).await;
        self.recv_where(|m| m["re"] == json!(rid)).await
    }

    /// Every message received within `limit`.
    pub async fn frames_within(&mut self, limit: Duration) -> Vec<Value> {
        let mut frames = Vec::new();
        let until = tokio::time::Instant::now() + limit;
        while let Some(left) = until.checked_duration_since(tokio::time::Instant::now()) {
            match self.recv_timeout(left).await {
                Some(frame) => frames.push(frame),
                None => break,
            }
        }
        frames
    }

    /// Every message of a thread, oldest first, paging with `history`'s `after` as a client
    /// catching up does, `page` messages at a time.
    pub async fn whole_history(&mut self, thread: i64, page: u32) -> Vec<Value> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let got = self
                .request(
                    json!({"type": "history", "thread": thread, "after": after, "limit": page}),
                )
                .await;
            assert_eq!(got["type"], "history", "{got}");
            let messages = got["messages"].as_array().expect("messages").clone();
            if let Some(last) = messages.last() {
                after = last["seq"].as_i64().expect("seq");
            }
            all.extend(messages);
            if got["has_more"] != true {
                return all;
            }
        }
    }

    /// The next message, or `None` after `limit` (or when the socket closed).
    pub async fn recv_timeout(&mut self, limit: Duration) -> Option<Value> {
        if let Some(v) = self.pending.pop_front() {
            return Some(v);
        }
        self.read_one(limit).await
    }

    async fn read_one(&mut self, limit: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??;
            match next {
                Ok(Message::Text(text)) => {
                    return Some(serde_json::from_str(&text).expect("server sent JSON"));
                }
                Ok(Message::Close(frame)) => {
                    self.closed = Some(frame.map_or(1005, |f| u16::from(f.code)));
                    return None;
                }
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// The next message; panics after `WAIT`.
    pub async fn recv(&mut self) -> Value {
        match self.recv_timeout(WAIT).await {
            Some(v) => v,
            None => panic!("no message within {WAIT:?} (closed: {:?})", self.closed),
        }
    }

    /// The first message matching `pred`; others are kept for later.
    pub async fn recv_where(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.pending.iter().position(&pred) {
            return self.pending.remove(i).expect("index");
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.read_one(left).await {
                Some(v) if pred(&v) => return v,
                Some(v) => self.pending.push_back(v),
                None => panic!(
                    "expected message not received (closed: {:?}); got meanwhile: {:?}",
                    self.closed, self.pending
                ),
            }
        }
    }

    /// The first message of `type`.
    pub async fn recv_type(&mut self, ty: &str) -> Value {
        self.recv_where(|m| m["type"] == ty).await
    }

    /// Whether a message matching `pred` arrives within `limit` (kept for later if so).
    pub async fn sees_within(&mut self, limit: Duration, pred: impl Fn(&Value) -> bool) -> bool {
        if self.pending.iter().any(&pred) {
            return true;
        }
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            match self.read_one(left).await {
                Some(v) => {
                    let hit = pred(&v);
                    self.pending.push_back(v);
                    if hit {
                        return true;
                    }
                }
                None => return false,
            }
        }
    }

    /// Reads until the server closes; returns the close code (1005 without one, 1006 when the
    /// connection dropped without a close frame).
    pub async fn expect_close(&mut self, limit: Duration) -> u16 {
        match self.closes_within(limit).await {
            Some(code) => code,
            None => panic!("server did not close within {limit:?}"),
        }
    }

    /// Reads until the server closes, keeping what arrives meanwhile; the close code as
    /// [`WsClient::expect_close`] gives it, or `None` when the socket is still open after
    /// `limit`.
    pub async fn closes_within(&mut self, limit: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(code) = self.closed {
                return Some(code);
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            match tokio::time::timeout(left, self.stream.next()).await {
                Err(_) => return None,
                Ok(None) | Ok(Some(Err(_))) => {
                    let code = self.closed.unwrap_or(1006);
                    self.closed = Some(code);
                    return Some(code);
                }
                Ok(Some(Ok(Message::Close(frame)))) => {
                    let code = frame.map_or(1005, |f| u16::from(f.code));
                    self.closed = Some(code);
                    return Some(code);
                }
                Ok(Some(Ok(Message::Text(text)))) => {
                    self.pending
                        .push_back(serde_json::from_str(&text).expect("server sent JSON"));
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Messages received and not yet consumed.
    pub fn pending(&self) -> &VecDeque<Value> {
        &self.pending
    }

    /// Closes the socket from the client side.
    pub async fn close(mut self) {
        // The server may have closed first: nothing left to close.
        let _closed = self.stream.close(None).await;
    }
}

/// The `name` of every item of `list[key]` (a list of teachers, threads, members...).
pub fn names(list: &Value, key: &str) -> Vec<String> {
    list[key]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}
