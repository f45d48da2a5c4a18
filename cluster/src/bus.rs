//! The bus between nodes: each node listens on its own Redis pub/sub channel, and any node
//! publishes to it. Messages are bytes behind a small header that says what they are, for
//! which school and which client connection, and which node sent them, so the node holding a
//! client's WebSocket can bridge its frames to the school's owner and route replies back.
//!
//! Delivery is at most once, as Redis pub/sub is: a message sent while the receiver is
//! reconnecting is lost. A send to a node nobody listens for fails with
//! [`ClusterError::NoListener`], which is how a bridge learns that the owner is gone.

use crate::{ClusterError, Keys, NodeId, RedisLink, SchoolId};
use bytes::{Buf, BufMut, Bytes};
use futures_util::StreamExt;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The header's layout version, first byte of every message.
const VERSION: u8 = 1;

/// What a bus message carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A client connected on the sending node for the school: the owner opens its side.
    Open = 1,
    /// A frame from a client, to the school's owner.
    Frame = 2,
    /// A frame for a client, from the school's owner back to the node holding its socket.
    Reply = 3,
    /// The connection ended, on either side.
    Close = 4,
    /// A change made on the sending node that this one must apply (an account changed, a
    /// token revoked); `connection` is 0.
    Notice = 5,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Open),
            2 => Some(Kind::Frame),
            3 => Some(Kind::Reply),
            4 => Some(Kind::Close),
            5 => Some(Kind::Notice),
            _ => None,
        }
    }
}

/// One bus message: the routing header and the bytes it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub kind: Kind,
    /// The node that sent it, where replies go.
    pub from: NodeId,
    pub school: SchoolId,
    /// The client connection on the edge node, unique there.
    pub connection: u64,
    pub payload: Bytes,
}

impl Envelope {
    /// The wire form: version, kind, `from` and `school` each as a u16 length and UTF-8,
    /// the connection as a big-endian u64, then the payload.
    pub fn encode(&self) -> Result<Vec<u8>, ClusterError> {
        let from = self.from.0.as_bytes();
        let school = self.school.0.as_bytes();
        let too_long = |what| ClusterError::Malformed {
            what,
            reason: "longer than 65535 bytes".into(),
        };
        let from_len = u16::try_from(from.len()).map_err(|_| too_long("node id"))?;
        let school_len = u16::try_from(school.len()).map_err(|_| too_long("school id"))?;
        let mut out = Vec::with_capacity(14 + from.len() + school.len() + self.payload.len());
        out.put_u8(VERSION);
        out.put_u8(self.kind as u8);
        out.put_u16(from_len);
        out.put_slice(from);
        out.put_u16(school_len);
        out.put_slice(school);
        out.put_u64(self.connection);
        out.put_slice(&self.payload);
        Ok(out)
    }

    /// Reads the wire form back; anything else is an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, ClusterError> {
        let bad = |reason: &str| ClusterError::Malformed {
            what: "bus message",
            reason: reason.into(),
        };
        let mut buf = bytes;
        if buf.remaining() < 2 {
            return Err(bad("shorter than its header"));
        }
        if buf.get_u8() != VERSION {
            return Err(bad("unknown header version"));
        }
        let kind = Kind::from_byte(buf.get_u8()).ok_or_else(|| bad("unknown kind"))?;
        let mut text = |what: &str| -> Result<String, ClusterError> {
            if buf.remaining() < 2 {
                return Err(bad(&format!("cut before the {what}")));
            }
            let len = usize::from(buf.get_u16());
            if buf.remaining() < len {
                return Err(bad(&format!("cut inside the {what}")));
            }
            let s = std::str::from_utf8(&buf[..len])
                .map_err(|_| bad(&format!("{what} is not UTF-8")))?
                .to_string();
            buf.advance(len);
            Ok(s)
        };
        let from = NodeId(text("node id")?);
        let school = SchoolId(text("school id")?);
        if buf.remaining() < 8 {
            return Err(bad("cut before the connection id"));
        }
        let connection = buf.get_u64();
        Ok(Envelope {
            kind,
            from,
            school,
            connection,
            payload: Bytes::copy_from_slice(buf),
        })
    }
}

/// One message to publish with [`Bus::send_batch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub to: NodeId,
    pub kind: Kind,
    pub school: SchoolId,
    pub connection: u64,
    pub payload: Bytes,
}

/// One node's end of the bus.
#[derive(Clone, Debug)]
pub struct Bus {
    /// The connection messages are published on.
    link: RedisLink,
    /// Where the channels are.
    keys: Keys,
    /// This node: the `from` of what it sends, and the channel it listens on.
    node: NodeId,
}

impl Bus {
    pub fn new(link: RedisLink, keys: Keys, node: NodeId) -> Bus {
        Bus { link, keys, node }
    }

    /// This node's id.
    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// Publishes a message to node `to`. Fails with [`ClusterError::NoListener`] when no
    /// node listens on `to`'s channel.
    pub async fn send(
        &self,
        to: &NodeId,
        kind: Kind,
        school: &SchoolId,
        connection: u64,
        payload: impl Into<Bytes>,
    ) -> Result<(), ClusterError> {
        let envelope = Envelope {
            kind,
            from: self.node.clone(),
            school: school.clone(),
            connection,
            payload: payload.into(),
        };
        let receivers: i64 = self
            .link
            .query(
                redis::cmd("PUBLISH")
                    .arg(self.keys.bus(to))
                    .arg(envelope.encode()?),
            )
            .await?;
        if receivers == 0 {
            return Err(ClusterError::NoListener(to.clone()));
        }
        Ok(())
    }

    /// Whether a node listens on `node`'s channel now: a node that died stops listening the
    /// moment Redis sees its connection close, long before its leases run out.
    pub async fn listening(&self, node: &NodeId) -> Result<bool, ClusterError> {
        let counts: Vec<(String, i64)> = self
            .link
            .query(redis::cmd("PUBSUB").arg("NUMSUB").arg(self.keys.bus(node)))
            .await?;
        Ok(counts.first().is_some_and(|(_, n)| *n > 0))
    }

    /// Publishes several messages in one round trip (a pipeline), in order: what each
    /// connection sends stays in its order. For each message, whether a node listened.
    pub async fn send_batch(&self, batch: &[Outgoing]) -> Result<Vec<bool>, ClusterError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for out in batch {
            let envelope = Envelope {
                kind: out.kind,
                from: self.node.clone(),
                school: out.school.clone(),
                connection: out.connection,
                payload: out.payload.clone(),
            };
            pipe.cmd("PUBLISH")
                .arg(self.keys.bus(&out.to))
                .arg(envelope.encode()?);
        }
        let receivers: Vec<i64> = self.link.query_pipeline(&pipe).await?;
        Ok(receivers.into_iter().map(|n| n > 0).collect())
    }

    /// Starts listening on this node's channel; messages wait in a queue of `capacity`
    /// (when it is full, reading from Redis pauses and Redis buffers). Returns once
    /// subscribed, so a message sent after it is received.
    pub async fn listen(&self, capacity: usize) -> Result<BusReceiver, ClusterError> {
        let channel = self.keys.bus(&self.node);
        let first = subscribe(&self.link, &channel).await?;
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let link = self.link.clone();
        let task = tokio::spawn(async move {
            let mut stream = first;
            loop {
                while let Some(msg) = stream.next().await {
                    match Envelope::decode(msg.get_payload_bytes()) {
                        Ok(envelope) => {
                            if tx.send(envelope).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "bus message dropped"),
                    }
                }
                tracing::warn!(%channel, "bus subscription lost, resubscribing");
                stream = loop {
                    if tx.is_closed() {
                        return;
                    }
                    match subscribe(&link, &channel).await {
                        Ok(stream) => break stream,
                        Err(e) => {
                            tracing::warn!(%channel, error = %e, "bus resubscription failed");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                };
            }
        });
        Ok(BusReceiver { rx, task })
    }
}

async fn subscribe(
    link: &RedisLink,
    channel: &str,
) -> Result<redis::aio::PubSubStream, ClusterError> {
    let timeout = link.reply_timeout();
    let subscribed = async {
        let mut pubsub = link.client().get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok::<_, redis::RedisError>(pubsub.into_on_message())
    };
    match tokio::time::timeout(timeout, subscribed).await {
        Ok(stream) => Ok(stream?),
        Err(_) => Err(ClusterError::Timeout(timeout)),
    }
}

/// The messages sent to this node; dropping it unsubscribes.
#[derive(Debug)]
pub struct BusReceiver {
    /// Decoded messages, in the order Redis delivered them.
    rx: mpsc::Receiver<Envelope>,
    /// Reads the subscription; stopped on drop.
    task: JoinHandle<()>,
}

impl BusReceiver {
    /// The next message; `None` once the bus is closed.
    pub async fn recv(&mut self) -> Option<Envelope> {
        self.rx.recv().await
    }
}

impl Drop for BusReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Envelope {
        Envelope {
            kind: Kind::Frame,
            from: NodeId("node-a".into()),
            school: SchoolId("школа-7".into()),
            connection: 0x0102_0304_0506_0708,
            payload: Bytes::from_static(br#"{"type":"hello"}"#),
        }
    }

    #[test]
    fn an_envelope_survives_its_wire_form() {
        let e = sample();
        assert_eq!(
            Envelope::decode(&e.encode().expect("encodes")).expect("decodes"),
            e
        );
    }

    #[test]
    fn every_cut_or_corrupt_header_is_an_error() {
        let wire = sample().encode().expect("encodes");
        let header = wire.len() - sample().payload.len();
        for cut in 0..header {
            assert!(Envelope::decode(&wire[..cut]).is_err(), "cut at {cut}");
        }
        let mut wrong_version = wire.clone();
        wrong_version[0] = 9;
        assert!(Envelope::decode(&wrong_version).is_err());
        let mut wrong_kind = wire.clone();
        wrong_kind[1] = 0;
        assert!(Envelope::decode(&wrong_kind).is_err());
        let mut not_utf8 = wire;
        not_utf8[4] = 0xff;
        assert!(Envelope::decode(&not_utf8).is_err());
    }
}
