//! Konsult's SFU: one UDP socket (and ICE-TCP on its port) serving every member's peer
//! connection with the server (str0m, one `Rtc` per member), forwarding what each session's
//! media policy allows. It knows nothing of the server or the hub: [`Command`]s come in
//! through the [`SfuHandle`] that [`start`] returns, and what it produces (`signal`s and
//! errors for members' connections, members' media states) goes out through an [`Outlet`].

mod command;
mod dtls;
mod engine;
pub mod metrics;
mod outlet;
mod peer;
mod room;
mod sockets;
mod tcp;

pub use command::{Audience, Command, ConnId, MemberPolicy, SessionPolicy};
pub use outlet::Outlet;
pub use sockets::MediaSockets;

use konsult_protocol::ErrorCode;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Commands waiting for the SFU before more are refused.
const COMMAND_CAPACITY: usize = 4096;

/// How commands reach the SFU task.
#[derive(Debug)]
pub struct SfuHandle<O> {
    tx: mpsc::Sender<Command>,
    /// To tell a member when the SFU cannot take its `signal`.
    outlet: Arc<O>,
}

impl<O: Outlet> SfuHandle<O> {
    /// Hands a command to the SFU without waiting. When the SFU is too far behind, the
    /// command is refused: counted, logged, and a member's `signal` answered `unavailable`.
    pub fn command(&self, command: Command) {
        if let Err(e) = self.tx.try_send(command) {
            let command = e.into_inner();
            tracing::warn!(
                ?command,
                "the SFU is overloaded; a media command was refused"
            );
            ::metrics::counter!(metrics::REFUSED).increment(1);
            if let Command::Signal { conn, .. } = command {
                self.outlet.error(
                    conn,
                    ErrorCode::Unavailable,
                    "the media server is overloaded; retry shortly".into(),
                );
            }
        }
    }
}

/// Starts the SFU on its bound sockets, in the current tokio runtime, announcing `announce`
/// (`media.announce`; `None`: the listen address) to members. It runs until `shutdown`
/// resolves or the handle is dropped.
pub fn start<O: Outlet>(
    sockets: MediaSockets,
    announce: Option<IpAddr>,
    outlet: Arc<O>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<SfuHandle<O>> {
    let MediaSockets { udp, tcp } = sockets;
    udp.set_nonblocking(true)?;
    let local = udp.local_addr()?;
    let announce = sockets::announced_addr(announce, local);
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
    tokio::spawn(engine::run(
        udp,
        tcp,
        announce,
        outlet.clone(),
        rx,
        shutdown,
    ));
    Ok(SfuHandle { tx, outlet })
}
