//! The SFU: one UDP socket serving every member's peer connection with the server (str0m, one
//! `Rtc` per member), forwarding what each session's media policy allows. The hub talks to it
//! through [`SfuHandle`], a [`MediaSink`]; it answers members with `signal` from `"sfu"` and
//! reports their media state back to the hub.

mod dtls;
mod engine;
mod peer;
mod room;
mod tcp;

use crate::app::App;
use crate::hub::MediaSink;
use crate::wire;
use konsult_protocol::{ErrorCode, ServerMessage};
use konsult_signaling::MediaCommand;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Commands waiting for the SFU before the hub's are refused.
const COMMAND_CAPACITY: usize = 4096;

/// Receive buffer asked for the SFU's UDP socket (the kernel caps it at `net.core.rmem_max`):
/// one socket takes every member's packets, and the default (208 KiB, under 0.2 s of 300
/// members' traffic) overflowed whenever the SFU task waited for a CPU, losing publishers'
/// packets and so whole frames.
const UDP_RECEIVE_BUFFER: usize = 4 << 20;

/// How the hub reaches the SFU.
#[derive(Debug)]
pub struct SfuHandle {
    tx: mpsc::Sender<MediaCommand>,
    /// To tell a member when the SFU cannot take its `signal`.
    directory: Arc<crate::directory::Directory>,
}

impl MediaSink for SfuHandle {
    fn command(&self, command: MediaCommand) {
        if let Err(e) = self.tx.try_send(command) {
            let command = e.into_inner();
            tracing::warn!(
                ?command,
                "the SFU is overloaded; a media command was refused"
            );
            metrics::counter!(crate::metrics::SFU_REFUSED).increment(1);
            if let MediaCommand::Signal { conn, .. } = command {
                let msg = ServerMessage::error(
                    ErrorCode::Unavailable,
                    "the media server is overloaded; retry shortly",
                );
                self.directory.send_to_conn(conn, &wire::encode(&msg, None));
            }
        }
    }
}

/// The address members reach the SFU at: `media.announce`, else the listen address when it
/// names one interface, else 127.0.0.1; with the port the socket is bound to.
pub fn announced_addr(
    announce: Option<&str>,
    local: SocketAddr,
) -> Result<SocketAddr, std::net::AddrParseError> {
    let ip = match announce.filter(|a| !a.is_empty()) {
        Some(text) => text.parse::<IpAddr>()?,
        None if local.ip().is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        None => local.ip(),
    };
    Ok(SocketAddr::new(ip, local.port()))
}

/// The SFU's bound sockets: UDP, and the ICE-TCP listener on the same port when it could bind.
#[derive(Debug)]
pub struct MediaSockets {
    pub udp: std::net::UdpSocket,
    pub tcp: Option<std::net::TcpListener>,
}

impl MediaSockets {
    /// Binds UDP on `listen`, then TCP on the same address and port; a UDP failure is an
    /// error, a TCP failure only leaves ICE-TCP off.
    pub fn bind(listen: SocketAddr) -> std::io::Result<MediaSockets> {
        let udp = std::net::UdpSocket::bind(listen)?;
        if let Err(e) = socket2::SockRef::from(&udp).set_recv_buffer_size(UDP_RECEIVE_BUFFER) {
            tracing::warn!(error = %e, "the SFU's UDP receive buffer keeps its default size");
        }
        let port = udp.local_addr()?.port();
        let tcp = match std::net::TcpListener::bind(SocketAddr::new(listen.ip(), port)) {
            Ok(tcp) => Some(tcp),
            Err(e) => {
                eprintln!("konsult: ICE-TCP is off: cannot listen on TCP port {port}: {e}");
                None
            }
        };
        Ok(MediaSockets { udp, tcp })
    }
}

/// Starts the SFU on its bound sockets and returns the handle for `App.media`.
pub fn start(app: &Arc<App>, sockets: MediaSockets) -> anyhow::Result<Arc<dyn MediaSink>> {
    let MediaSockets { udp, tcp } = sockets;
    udp.set_nonblocking(true)?;
    let local = udp.local_addr()?;
    let announce = announced_addr(app.config.media.announce.as_deref(), local)
        .map_err(|e| anyhow::anyhow!("config key `media.announce`: {e}"))?;
    let udp = tokio::net::UdpSocket::from_std(udp)?;
    let tcp = match tcp {
        Some(listener) => {
            listener.set_nonblocking(true)?;
            Some(tokio::net::TcpListener::from_std(listener)?)
        }
        None => None,
    };
    let (tx, rx) = mpsc::channel(COMMAND_CAPACITY);
    tracing::info!(listen = %local, %announce, tcp = tcp.is_some(), "media server listening");
    tokio::spawn(engine::run(app.clone(), udp, tcp, announce, rx));
    Ok(Arc::new(SfuHandle {
        tx,
        directory: app.directory.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_announced_address_follows_config_then_the_socket() {
        let any: SocketAddr = "0.0.0.0:4000".parse().unwrap();
        let one: SocketAddr = "10.1.2.3:4000".parse().unwrap();
        assert_eq!(
            announced_addr(Some("192.0.2.7"), any).unwrap(),
            "192.0.2.7:4000".parse().unwrap()
        );
        assert_eq!(
            announced_addr(None, any).unwrap(),
            "127.0.0.1:4000".parse().unwrap()
        );
        assert_eq!(announced_addr(Some(""), one).unwrap(), one);
        assert!(announced_addr(Some("not an ip"), one).is_err());
    }
}
