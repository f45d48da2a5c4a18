//! Row f's baseline: a bare UDP forwarder. Every datagram that is not a subscription is sent
//! on to every subscriber, as it came: no SRTP, no ICE, no RTCP, one socket, one thread.

use std::net::{SocketAddr, UdpSocket};

/// The datagram a subscriber sends to be forwarded to.
pub const SUBSCRIBE: &[u8] = b"konsult-baseline subscribe";

/// Forwards until the socket fails.
pub fn serve(socket: &UdpSocket) -> std::io::Result<()> {
    let mut subscribers: Vec<SocketAddr> = Vec::new();
    let mut buf = [0u8; 2048];
    loop {
        let (n, from) = socket.recv_from(&mut buf)?;
        let datagram = &buf[..n];
        if datagram == SUBSCRIBE {
            if !subscribers.contains(&from) {
                subscribers.push(from);
            }
            continue;
        }
        for to in &subscribers {
            // A subscriber gone or a full buffer loses the datagram, as a network would.
            let _sent = socket.send_to(datagram, to);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn forwards_to_every_subscriber() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        std::thread::spawn(move || serve(&server));
        let subs: Vec<UdpSocket> = (0..3)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        for s in &subs {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.send_to(SUBSCRIBE, addr).unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
        let publisher = UdpSocket::bind("127.0.0.1:0").unwrap();
        publisher.send_to(b"packet", addr).unwrap();
        for s in &subs {
            let mut buf = [0u8; 16];
            let (n, _) = s.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"packet");
        }
    }
}
