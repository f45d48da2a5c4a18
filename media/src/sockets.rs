//! The SFU's sockets and address: UDP, and ICE-TCP on the same port, bound before the server
//! starts; the address members are told to reach them at.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Receive buffer asked for the SFU's UDP socket (the kernel caps it at `net.core.rmem_max`):
/// one socket takes every member's packets, and the default (208 KiB, under 0.2 s of 300
/// members' traffic) overflowed whenever the SFU task waited for a CPU, losing publishers'
/// packets and so whole frames.
const UDP_RECEIVE_BUFFER: usize = 4 << 20;

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

/// The address members reach the SFU at: the announced IP (`media.announce`), else the
/// listen address when it names one interface, else 127.0.0.1; with the port the socket is
/// bound to.
pub(crate) fn announced_addr(announce: Option<IpAddr>, local: SocketAddr) -> SocketAddr {
    let ip = match announce {
        Some(ip) => ip,
        None if local.ip().is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        None => local.ip(),
    };
    SocketAddr::new(ip, local.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_announced_address_follows_config_then_the_socket() {
        let any: SocketAddr = "0.0.0.0:4000".parse().unwrap();
        let one: SocketAddr = "10.1.2.3:4000".parse().unwrap();
        let announced: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(
            announced_addr(Some(announced), any),
            "192.0.2.7:4000".parse().unwrap()
        );
        assert_eq!(announced_addr(None, any), "127.0.0.1:4000".parse().unwrap());
        assert_eq!(announced_addr(None, one), one);
    }
}
