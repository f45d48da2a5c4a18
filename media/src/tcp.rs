//! ICE over TCP (RFC 6544, passive side) on the SFU's port: accepts members' TCP connections,
//! unframes their packets (RFC 4571: a 2-byte length before each) for the SFU task, and frames
//! what the SFU sends back. A member behind a firewall that blocks UDP reaches the SFU here.

use std::collections::HashMap;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Packets waiting to be written to one member before more are dropped (as UDP would).
const WRITE_QUEUE: usize = 512;

/// What the TCP side tells the SFU task.
#[derive(Debug)]
pub enum TcpEvent {
    /// A member connected from `addr`; packets for it go into the sender.
    Opened(SocketAddr, mpsc::Sender<Vec<u8>>),
    /// A packet from `addr`.
    Packet(SocketAddr, Vec<u8>),
    /// The connection from `addr` ended.
    Closed(SocketAddr),
}

/// The TCP connections by member address, for the SFU's transmissions.
#[derive(Debug, Default)]
pub struct TcpLinks {
    links: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
}

impl TcpLinks {
    pub fn on_event(&mut self, event: &TcpEvent) {
        match event {
            TcpEvent::Opened(addr, tx) => {
                self.links.insert(*addr, tx.clone());
            }
            TcpEvent::Closed(addr) => {
                self.links.remove(addr);
            }
            TcpEvent::Packet(..) => {}
        }
    }

    /// Queues a packet for a member; false when its connection is gone or backed up.
    pub fn send(&self, to: SocketAddr, packet: &[u8]) -> bool {
        self.links
            .get(&to)
            .is_some_and(|tx| tx.try_send(packet.to_vec()).is_ok())
    }
}

/// Accepts connections until the SFU task is gone.
pub async fn accept(listener: TcpListener, events: mpsc::Sender<TcpEvent>) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::debug!(error = %e, "ICE-TCP accept failed");
                continue;
            }
        };
        if events.is_closed() {
            return;
        }
        tracing::debug!(%addr, "ICE-TCP connection");
        tokio::spawn(connection(stream, addr, events.clone()));
    }
}

async fn connection(stream: TcpStream, addr: SocketAddr, events: mpsc::Sender<TcpEvent>) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::trace!(error = %e, "TCP_NODELAY failed");
    }
    let (mut read, mut write) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(WRITE_QUEUE);
    if events.send(TcpEvent::Opened(addr, tx)).await.is_err() {
        return;
    }
    let writer = tokio::spawn(async move {
        while let Some(packet) = rx.recv().await {
            let Ok(len) = u16::try_from(packet.len()) else {
                continue;
            };
            let mut framed = Vec::with_capacity(packet.len() + 2);
            framed.extend_from_slice(&len.to_be_bytes());
            framed.extend_from_slice(&packet);
            if write.write_all(&framed).await.is_err() {
                return;
            }
        }
    });
    let mut len = [0u8; 2];
    loop {
        if read.read_exact(&mut len).await.is_err() {
            break;
        }
        let mut packet = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if read.read_exact(&mut packet).await.is_err() {
            break;
        }
        if events.send(TcpEvent::Packet(addr, packet)).await.is_err() {
            break;
        }
    }
    writer.abort();
    // The SFU task may be gone at shutdown: nothing left to tell.
    let _gone = events.send(TcpEvent::Closed(addr)).await;
}
