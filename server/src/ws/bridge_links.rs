//! The parts of the bridges between nodes of a cluster that hold no server state: the bus
//! form of a WebSocket message (a tag byte and the frame), the table of this node's bridges on
//! either side, the task that publishes their messages in order, and the owner's end of a
//! bridged connection, [`BridgedSocket`]. `bridge.rs` runs the edge's relay; `bus_inbox.rs`
//! routes what arrives.
//!
//! A message the bus could not deliver (no node listens: the other side died) ends the
//! bridge: the edge closes the client with 1001 and the client resumes wherever its school
//! lives now; the owner's side ends its connection as a client that left.

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use bytes::{BufMut, Bytes};
use futures_util::{Sink, Stream};
use konsult_cluster::{Bus, Kind, NodeId, Outgoing, SchoolId as SchoolCode};
use konsult_protocol::CloseCode;
use std::collections::{BTreeMap, HashMap};
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
pub(crate) const OWNER_QUEUE: usize = 256;
/// Bus messages published in one round trip at most.
const PUBLISH_BATCH: usize = 512;

/// A WebSocket message as a bus payload.
pub(crate) fn encode(msg: &Message) -> Bytes {
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
pub(crate) fn decode(payload: &[u8]) -> Option<Message> {
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

pub(crate) fn close_message(code: CloseCode) -> Message {
    Message::Close(Some(CloseFrame {
        code: code.code(),
        reason: Utf8Bytes::from_static(code.reason()),
    }))
}

/// A client's socket on this node whose school lives on `owner`.
#[derive(Debug)]
pub(crate) struct EdgeLink {
    school: SchoolCode,
    owner: NodeId,
    /// What the owner sends the client.
    tx: mpsc::Sender<Message>,
    /// When the bridge was made: a view of the owners read before it may be out of date.
    opened: std::time::Instant,
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

    /// Queues a message for the bus.
    pub fn send(
        &self,
        to: &NodeId,
        kind: Kind,
        school: &SchoolCode,
        connection: u64,
        payload: Bytes,
    ) {
        // The publisher lives as long as the node; a send after it stopped has nowhere to go.
        let _gone = self.out.send(Outgoing {
            to: to.clone(),
            kind,
            school: school.clone(),
            connection,
            payload,
        });
    }

    /// Registers the edge side of connection `connection` of this node, bridged to `owner`:
    /// what the owner sends the client arrives on `tx`.
    pub(crate) fn add_edge(
        &self,
        connection: u64,
        school: SchoolCode,
        owner: NodeId,
        tx: mpsc::Sender<Message>,
    ) {
        let mut edges = lock(&self.edges);
        let opened = std::time::Instant::now();
        edges.insert(
            connection,
            EdgeLink {
                school,
                owner,
                tx,
                opened,
            },
        );
        metrics::gauge!(crate::metrics::BRIDGED, "side" => "edge").set(edges.len() as f64);
    }

    pub(crate) fn remove_edge(&self, connection: u64) {
        let mut edges = lock(&self.edges);
        edges.remove(&connection);
        metrics::gauge!(crate::metrics::BRIDGED, "side" => "edge").set(edges.len() as f64);
    }

    /// Hands what the owner sent to the edge's relay; a relay that does not keep up (the
    /// client does not read) is cut off: its queue closes.
    pub(crate) fn to_edge(&self, connection: u64, msg: Message) {
        let mut edges = lock(&self.edges);
        if let Some(edge) = edges.get(&connection)
            && edge.tx.try_send(msg).is_err()
        {
            edges.remove(&connection);
        }
    }

    /// Registers the owner's side of connection `connection` of node `edge`: what the client
    /// sends is to be written to `tx`.
    pub(crate) fn add_owned(&self, edge: NodeId, connection: u64, tx: mpsc::Sender<Message>) {
        let mut owned = lock(&self.owned);
        owned.insert((edge, connection), tx);
        metrics::gauge!(crate::metrics::BRIDGED, "side" => "owner").set(owned.len() as f64);
    }

    fn remove_owned(&self, edge: &NodeId, connection: u64) {
        let mut owned = lock(&self.owned);
        owned.remove(&(edge.clone(), connection));
        metrics::gauge!(crate::metrics::BRIDGED, "side" => "owner").set(owned.len() as f64);
    }

    /// Hands a client's frame to its connection on this node; `false` when the connection is
    /// gone or does not keep up (it is then cut off).
    pub(crate) fn to_owner(&self, edge: &NodeId, connection: u64, msg: Message) -> bool {
        let key = (edge.clone(), connection);
        let mut owned = lock(&self.owned);
        match owned.get(&key).map(|tx| tx.try_send(msg)) {
            Some(Ok(())) => true,
            Some(Err(_)) => {
                owned.remove(&key);
                metrics::gauge!(crate::metrics::BRIDGED, "side" => "owner").set(owned.len() as f64);
                false
            }
            None => false,
        }
    }

    /// The nodes holding the sockets of connections that run here.
    pub fn edges_of_owned(&self) -> Vec<NodeId> {
        let mut nodes: Vec<NodeId> = lock(&self.owned).keys().map(|(n, _)| n.clone()).collect();
        nodes.sort();
        nodes.dedup();
        nodes
    }

    /// Ends every connection running here whose socket was on `edge` (a node that died): each
    /// ends as a client that left, kept for a resume, so that the client, reconnecting
    /// elsewhere, gets its place back.
    pub fn end_from(&self, edge: &NodeId) {
        let mut owned = lock(&self.owned);
        owned.retain(|(n, _), _| n != edge);
        metrics::gauge!(crate::metrics::BRIDGED, "side" => "owner").set(owned.len() as f64);
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

    /// Closes with 1001 every edge bridge whose school's owner is no longer its owner (`None`: no
    /// owner, or one that died), as `owners` read at `read_at` says. A bridge made since was
    /// routed by a newer reading (a failover's next owner, say) and is left alone: closing
    /// it could lose the `welcome` of a client that just resumed.
    pub fn close_moved(
        &self,
        owners: &BTreeMap<SchoolCode, Option<NodeId>>,
        read_at: std::time::Instant,
    ) {
        for edge in lock(&self.edges).values() {
            if edge.opened < read_at
                && owners.get(&edge.school).and_then(|o| o.as_ref()) != Some(&edge.owner)
            {
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
                self.remove_owned(&item.to, item.connection);
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
                let unheard = heard.iter().filter(|h| !**h).count();
                let published = crate::metrics::BUS_PUBLISHED;
                metrics::counter!(published, "outcome" => "heard")
                    .increment((heard.len() - unheard) as u64);
                if unheard > 0 {
                    metrics::counter!(published, "outcome" => "unheard").increment(unheard as u64);
                }
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

impl BridgedSocket {
    /// The owner's end of connection `connection` of node `edge`, for a user of `school`,
    /// reading the client's frames from `rx`.
    pub fn new(
        rx: mpsc::Receiver<Message>,
        bridges: Arc<Bridges>,
        edge: NodeId,
        connection: u64,
        school: SchoolCode,
    ) -> BridgedSocket {
        BridgedSocket {
            rx,
            bridges,
            edge,
            connection,
            school,
            closed: false,
        }
    }
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
        self.bridges.remove_owned(&self.edge, self.connection);
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
    fn a_bridge_made_after_the_owners_were_read_is_not_closed_by_that_reading() {
        let (bridges, _out) = Bridges::new();
        let school = SchoolCode("s1".into());
        let old_owner = NodeId("n3".into());
        let (tx, mut before) = mpsc::channel(4);
        bridges.add_edge(1, school.clone(), old_owner.clone(), tx);
        // The reading: the school has no live owner (n3 died).
        let read_at = std::time::Instant::now();
        let owners = BTreeMap::from([(school.clone(), None)]);
        // Meanwhile a client resumed through a bridge to the next owner.
        let (tx, mut after) = mpsc::channel(4);
        bridges.add_edge(2, school.clone(), NodeId("n1".into()), tx);
        bridges.close_moved(&owners, read_at);
        assert_eq!(
            before.try_recv().ok(),
            Some(close_message(CloseCode::GoingAway))
        );
        assert!(after.try_recv().is_err(), "the new bridge was closed");
        // The next reading sees n1 and leaves it too.
        let owners = BTreeMap::from([(school, Some(NodeId("n1".into())))]);
        bridges.close_moved(&owners, std::time::Instant::now());
        assert!(after.try_recv().is_err());
    }

    #[test]
    fn a_payload_that_is_not_ours_is_refused() {
        for bad in [&b""[..], b"X{}", b"T\xff\xfe", b"C\x03", b"C\x03\xe9\xff"] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }
}
