//! Bridges between nodes of a cluster. A client whose socket is on this node (the edge) and
//! whose school lives on another (the owner) has its frames carried both ways over the bus:
//! on the owner its connection runs exactly as on one node, over a [`BridgedSocket`]; on the
//! edge, [`relay`] only copies frames. A bus payload is one tag byte and the frame.
//!
//! A message the bus could not deliver (no node listens: the other side died) ends the
//! bridge: the edge closes the client with 1001 and the client resumes wherever its school
//! lives now; the owner's side ends its connection as a client that left.

use crate::app::App;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use bytes::{BufMut, Bytes};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use konsult_cluster::{Bus, BusReceiver, Envelope, Kind, NodeId, Outgoing, SchoolId as SchoolCode};
use konsult_protocol::CloseCode;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use tokio::sync::mpsc;

const TEXT: u8 = b'T';
const BINARY: u8 = b'B';
const PING: u8 = b'P';
const PONG: u8 = b'O';
const CLOSE: u8 = b'C';
/// Frames for one bridged connection waiting on the owner to be read.
const OWNER_QUEUE: usize = 256;
/// Bus messages published in one round trip at most.
const PUBLISH_BATCH: usize = 512;

/// A WebSocket message as a bus payload; `None` for what is not carried.
fn encode(msg: &Message) -> Bytes {
    let mut out = Vec::new();
    match msg {
        Message::Text(text) => {
            out.push(TEXT);
            out.extend_from_slice(text.as_str().as_bytes());
        }
        Message::Binary(bytes) => {
            out.push(BINARY);
            out.extend_from_slice(bytes);
        }
        Message::Ping(bytes) => {
            out.push(PING);
            out.extend_from_slice(bytes);
        }
        Message::Pong(bytes) => {
            out.push(PONG);
            out.extend_from_slice(bytes);
        }
        Message::Close(frame) => {
            out.push(CLOSE);
            if let Some(frame) = frame {
                out.put_u16(frame.code);
                out.extend_from_slice(frame.reason.as_str().as_bytes());
            }
        }
    }
    Bytes::from(out)
}

/// A bus payload back as a WebSocket message; `None` when it is not one of ours.
fn decode(payload: &[u8]) -> Option<Message> {
    let (&tag, rest) = payload.split_first()?;
    let text = || std::str::from_utf8(rest).ok().map(Utf8Bytes::from);
    Some(match tag {
        TEXT => Message::Text(text()?),
        BINARY => Message::Binary(Bytes::copy_from_slice(rest)),
        PING => Message::Ping(Bytes::copy_from_slice(rest)),
        PONG => Message::Pong(Bytes::copy_from_slice(rest)),
        CLOSE => match rest {
            [] => Message::Close(None),
            [hi, lo, reason @ ..] => Message::Close(Some(CloseFrame {
                code: u16::from_be_bytes([*hi, *lo]),
                reason: Utf8Bytes::from(std::str::from_utf8(reason).ok()?),
            })),
            _ => return None,
        },
        _ => return None,
    })
}

fn close_message(code: CloseCode) -> Message {
    Message::Close(Some(CloseFrame {
        code: code.code(),
        reason: Utf8Bytes::from_static(code.reason()),
    }))
}

/// A client's socket on this node whose school lives on `owner`.
#[derive(Debug)]
struct EdgeLink {
    school: SchoolCode,
    owner: NodeId,
    /// What the owner sends the client.
    tx: mpsc::Sender<Message>,
}

/// Every bridge this node takes part in, on either side, and the queue to the bus.
#[derive(Debug)]
pub struct Bridges {
    out: mpsc::UnboundedSender<Outgoing>,
    /// Edge side: by this node's connection id.
    edges: Mutex<HashMap<u64, EdgeLink>>,
    /// Owner side: by the edge node and its connection id, the connection's inbound frames.
    owned: Mutex<HashMap<(NodeId, u64), mpsc::Sender<Message>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every update is one insert or remove: a panic cannot leave a map half-changed.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Bridges {
    /// A node's bridges, and the queue [`publish`] sends to the bus.
    pub fn new() -> (Arc<Bridges>, mpsc::UnboundedReceiver<Outgoing>) {
        let (out, rx) = mpsc::unbounded_channel();
        let bridges = Arc::new(Bridges {
            out,
            edges: Mutex::new(HashMap::new()),
            owned: Mutex::new(HashMap::new()),
        });
        (bridges, rx)
    }

    fn send(&self, to: &NodeId, kind: Kind, school: &SchoolCode, connection: u64, payload: Bytes) {
        // The publisher lives as long as the node; a send after it stopped has nowhere to go.
        let _gone = self.out.send(Outgoing {
            to: to.clone(),
            kind,
            school: school.clone(),
            connection,
            payload,
        });
    }

    /// The schools of the bridges whose socket is on this node.
    pub fn edge_schools(&self) -> Vec<SchoolCode> {
        let mut schools: Vec<_> = lock(&self.edges)
            .values()
            .map(|e| e.school.clone())
            .collect();
        schools.sort();
        schools.dedup();
        schools
    }

    /// Closes with 1001 every edge bridge whose school's owner is no longer its owner.
    pub fn close_moved(&self, owners: &BTreeMap<SchoolCode, Option<NodeId>>) {
        for edge in lock(&self.edges).values() {
            if owners.get(&edge.school).and_then(|o| o.as_ref()) != Some(&edge.owner) {
                let _full = edge.tx.try_send(close_message(CloseCode::GoingAway));
            }
        }
    }

    /// A message could not be delivered: the node it was for is gone. The bridge ends.
    fn undelivered(&self, item: &Outgoing) {
        match item.kind {
            Kind::Notice => {}
            Kind::Open | Kind::Frame | Kind::Close => {
                if let Some(edge) = lock(&self.edges).get(&item.connection) {
                    let _full = edge.tx.try_send(close_message(CloseCode::GoingAway));
                }
            }
            Kind::Reply => {
                // Dropping the sender ends the connection's inbound frames: it ends as a
                // client that left, kept for a resume.
                lock(&self.owned).remove(&(item.to.clone(), item.connection));
            }
        }
    }
}

/// Publishes the bridges' messages in batches, in order; ends the bridges whose other side
/// no longer listens.
pub async fn publish(bus: Bus, bridges: Arc<Bridges>, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    while rx.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
        match bus.send_batch(&batch).await {
            Ok(heard) => {
                for (item, heard) in batch.iter().zip(heard) {
                    if !heard {
                        bridges.undelivered(item);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, messages = batch.len(), "the bus failed; the bridges concerned end");
                for item in &batch {
                    bridges.undelivered(item);
                }
            }
        }
        batch.clear();
    }
}

/// Routes what other nodes send this one: new bridged connections and their frames (as the
/// owner), and the owner's frames for clients whose socket is here (as the edge).
pub async fn receive(app: Arc<App>, mut rx: BusReceiver) {
    while let Some(envelope) = rx.recv().await {
        arrive(&app, envelope);
    }
}

fn arrive(app: &Arc<App>, envelope: Envelope) {
    let Some(node) = app.node.get() else { return };
    let bridges = &node.bridges;
    let Envelope {
        kind,
        from,
        school,
        connection,
        payload,
    } = envelope;
    match kind {
        Kind::Open => {
            let running = app.schools.by_code(&school.0).is_some();
            if !running || app.drain.is_stopping() {
                let close = encode(&close_message(CloseCode::GoingAway));
                bridges.send(&from, Kind::Reply, &school, connection, close);
                return;
            }
            let peer = std::str::from_utf8(&payload)
                .ok()
                .and_then(|p| p.parse().ok())
                .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
            let (tx, rx) = mpsc::channel(OWNER_QUEUE);
            lock(&bridges.owned).insert((from.clone(), connection), tx);
            let socket = BridgedSocket {
                rx,
                bridges: bridges.clone(),
                edge: from,
                connection,
                school,
                closed: false,
            };
            tokio::spawn(super::conn::run_bridged(app.clone(), socket, peer));
        }
        Kind::Frame => {
            let Some(msg) = decode(&payload) else { return };
            let key = (from, connection);
            let sent = lock(&bridges.owned).get(&key).map(|tx| tx.try_send(msg));
            match sent {
                Some(Ok(())) => {}
                Some(Err(mpsc::error::TrySendError::Full(_))) => {
                    lock(&bridges.owned).remove(&key);
                    let close = encode(&close_message(CloseCode::SlowConsumer));
                    bridges.send(&key.0, Kind::Reply, &school, connection, close);
                }
                // The connection ended here: the edge learns it.
                Some(Err(mpsc::error::TrySendError::Closed(_))) | None => {
                    let close = encode(&close_message(CloseCode::GoingAway));
                    bridges.send(&key.0, Kind::Reply, &school, connection, close);
                }
            }
        }
        Kind::Reply => {
            let Some(msg) = decode(&payload) else { return };
            let mut edges = lock(&bridges.edges);
            if let Some(edge) = edges.get(&connection)
                && edge.tx.try_send(msg).is_err()
            {
                // The client does not read: dropping the sender tells its relay.
                edges.remove(&connection);
            }
        }
        Kind::Notice => match serde_json::from_slice::<crate::notices::Notice>(&payload) {
            Ok(notice) => {
                let app = app.clone();
                tokio::spawn(async move { crate::notices::apply(&app, notice).await });
            }
            Err(e) => tracing::warn!(node = %from, error = %e, "a notice that is not one"),
        },
        Kind::Close => {}
    }
}

/// The owner's side of a bridged connection: what the client sends arrives from the bus, what
/// the connection writes goes back over it to the edge.
#[derive(Debug)]
pub struct BridgedSocket {
    rx: mpsc::Receiver<Message>,
    bridges: Arc<Bridges>,
    edge: NodeId,
    connection: u64,
    school: SchoolCode,
    /// A close was sent to the edge.
    closed: bool,
}

impl Stream for BridgedSocket {
    type Item = Result<Message, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx).map(|m| m.map(Ok))
    }
}

impl Sink<Message> for BridgedSocket {
    type Error = axum::Error;

    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn start_send(mut self: Pin<&mut Self>, msg: Message) -> Result<(), Self::Error> {
        if matches!(msg, Message::Close(_)) {
            self.closed = true;
        }
        let this = &*self;
        let payload = encode(&msg);
        this.bridges.send(
            &this.edge,
            Kind::Reply,
            &this.school,
            this.connection,
            payload,
        );
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
}

impl Drop for BridgedSocket {
    fn drop(&mut self) {
        lock(&self.bridges.owned).remove(&(self.edge.clone(), self.connection));
        if !self.closed {
            let close = encode(&Message::Close(None));
            self.bridges.send(
                &self.edge,
                Kind::Reply,
                &self.school,
                self.connection,
                close,
            );
        }
    }
}

/// Takes the edge's entry out when the relay ends, telling the owner unless it closed first.
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
        lock(&self.bridges.edges).remove(&self.connection);
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
) -> Option<CloseCode> {
    let node = app.node.get()?;
    let bridges = &node.bridges;
    let connection = app.directory.next_id().0;
    let (tx, mut rx) = mpsc::channel(app.config.limits.outbox_messages.max(16));
    lock(&bridges.edges).insert(
        connection,
        EdgeLink {
            school: school.clone(),
            owner: owner.clone(),
            tx,
        },
    );
    let mut entry = EdgeEntry {
        bridges,
        owner: owner.clone(),
        school: school.clone(),
        connection,
        owner_closed: false,
    };
    let open = Bytes::from(peer.to_string());
    bridges.send(&owner, Kind::Open, &school, connection, open);
    let hello = encode(&Message::Text(hello));
    bridges.send(&owner, Kind::Frame, &school, connection, hello);
    let write_timeout = app.config.limits.write_timeout;
    let mut stopping = app.drain.watch();
    loop {
        tokio::select! {
            _ = crate::drain::stopped(&mut stopping) => return Some(CloseCode::GoingAway),
            from_owner = rx.recv() => {
                let Some(msg) = from_owner else {
                    // Dropped for a full queue: the client does not read.
                    return Some(CloseCode::SlowConsumer);
                };
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
                let msg = match from_client {
                    Some(Ok(msg @ (Message::Text(_) | Message::Binary(_) | Message::Pong(_)))) => msg,
                    Some(Ok(Message::Ping(_))) => continue,
                    Some(Ok(Message::Close(_))) | None => return None,
                    Some(Err(e)) => return super::conn::read_error_close(&e),
                };
                bridges.send(&owner, Kind::Frame, &school, connection, encode(&msg));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_survives_its_bus_form() {
        let messages = [
            Message::Text(Utf8Bytes::from(
                "{\"type\":\"hello\",\"v\":1,\"token\":\"ё\"}",
            )),
            Message::Text(Utf8Bytes::from("")),
            Message::Binary(Bytes::from_static(&[0, 1, 2, 255])),
            Message::Ping(Bytes::new()),
            Message::Pong(Bytes::from_static(b"p")),
            Message::Close(None),
            close_message(CloseCode::GoingAway),
        ];
        for msg in messages {
            assert_eq!(decode(&encode(&msg)), Some(msg.clone()), "{msg:?}");
        }
    }

    #[test]
    fn a_payload_that_is_not_ours_is_refused() {
        for bad in [&b""[..], b"X{}", b"T\xff\xfe", b"C\x03", b"C\x03\xe9\xff"] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }
}
