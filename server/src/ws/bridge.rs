//! The edge's side of a bridge between nodes of a cluster: a client whose socket is on this
//! node and whose school lives on another (the owner) has its frames copied both ways over the
//! bus by [`relay`]; on the owner its connection runs exactly as on one node, over a
//! `BridgedSocket` (`bridge_links.rs`), for the account this node's check of the `hello`
//! vouches for (`passport.rs`).

use super::bridge_links::{Bridges, encode};
use crate::app::App;
use axum::extract::ws::{Message, Utf8Bytes};
use futures_util::{SinkExt, StreamExt};
use konsult_cluster::{Kind, NodeId, SchoolId as SchoolCode};
use konsult_protocol::CloseCode;
use std::net::SocketAddr;
use tokio::sync::mpsc;

struct EdgeEntry<'a> {
    bridges: &'a Bridges,
    owner: NodeId,
    school: SchoolCode,
    connection: u64,
    /// The owner ended the bridge: nothing to tell it.
    owner_closed: bool,
}

impl Drop for EdgeEntry<'_> {
    fn drop(&mut self) {
        self.bridges.remove_edge(self.connection);
        if !self.owner_closed {
            let close = encode(&Message::Close(None));
            self.bridges.send(
                &self.owner,
                Kind::Frame,
                &self.school,
                self.connection,
                close,
            );
        }
    }
}

/// Copies frames between the client's `socket` on this node and its connection on `owner`,
/// starting with the client's `hello`, until either side ends. The close code to send the
/// client, if any.
pub async fn relay<S: super::Socket>(
    app: &App,
    socket: &mut S,
    owner: NodeId,
    school: SchoolCode,
    hello: Utf8Bytes,
    peer: SocketAddr,
    user: &crate::store::users::User,
) -> Option<CloseCode> {
    let node = app.node.get()?;
    let bridges = &node.bridges;
    let connection = app.directory.next_id().0;
    let (tx, mut rx) = mpsc::channel(app.config.limits.outbox_messages.max(16));
    bridges.add_edge(connection, school.clone(), owner.clone(), tx);
    let mut entry = EdgeEntry {
        bridges,
        owner: owner.clone(),
        school: school.clone(),
        connection,
        owner_closed: false,
    };
    // The owner takes this node's word for the account the hello proved.
    let passport = super::passport::Route {
        edge: &node.id,
        connection,
        school: &school,
    };
    let open = passport.issue(&app.seal, peer, user, crate::auth::unix_now());
    bridges.send(&owner, Kind::Open, &school, connection, open);
    let hello = encode(&Message::Text(hello));
    bridges.send(&owner, Kind::Frame, &school, connection, hello);
    let limits = &app.config.limits;
    let write_timeout = limits.write_timeout;
    let mut stopping = app.drain.watch();
    // The socket's keepalive is this node's: a ping and its pong never cross the bus, and the
    // owner does not ping a bridged connection (`conn.rs`).
    let mut last_rx = tokio::time::Instant::now();
    let mut pinged = false;
    let tick = tokio::time::sleep_until(last_rx + limits.ping_after);
    tokio::pin!(tick);
    loop {
        tokio::select! {
            _ = crate::drain::stopped(&mut stopping) => return Some(CloseCode::GoingAway),
            _ = &mut tick => {
                let now = tokio::time::Instant::now();
                if now >= last_rx + limits.idle_timeout {
                    return Some(CloseCode::IdleTimeout);
                }
                if !pinged && now >= last_rx + limits.ping_after {
                    pinged = true;
                    let ping = socket.send(Message::Ping(bytes::Bytes::new()));
                    if !matches!(tokio::time::timeout(write_timeout, ping).await, Ok(Ok(()))) {
                        return None;
                    }
                }
                let next = if pinged { limits.idle_timeout } else { limits.ping_after };
                tick.as_mut().reset(last_rx + next);
            }
            from_owner = rx.recv() => {
                let Some(msg) = from_owner else {
                    // Dropped for a full queue: the client does not read.
                    return Some(CloseCode::SlowConsumer);
                };
                if let Message::Ping(payload) = msg {
                    // The owner asks whether the bridge still stands: it does, and the
                    // client's socket is this node's to keep alive.
                    let pong = encode(&Message::Pong(payload));
                    bridges.send(&owner, Kind::Frame, &school, connection, pong);
                    continue;
                }
                if let Message::Close(frame) = msg {
                    entry.owner_closed = true;
                    let code = frame.and_then(|f| CloseCode::ALL.into_iter().find(|c| c.code() == f.code));
                    return code;
                }
                let sent = tokio::time::timeout(write_timeout, socket.send(msg)).await;
                if !matches!(sent, Ok(Ok(()))) {
                    return None;
                }
            }
            from_client = socket.next() => {
                last_rx = tokio::time::Instant::now();
                if pinged {
                    pinged = false;
                    tick.as_mut().reset(last_rx + limits.ping_after);
                }
                let msg = match from_client {
                    Some(Ok(msg @ (Message::Text(_) | Message::Binary(_)))) => msg,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | None => return None,
                    Some(Err(e)) => return super::read_error_close(&e),
                };
                bridges.send(&owner, Kind::Frame, &school, connection, encode(&msg));
            }
        }
    }
}
