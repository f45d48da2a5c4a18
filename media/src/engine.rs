//! The SFU task: owns the UDP socket and every room, demultiplexes datagrams to the member
//! they belong to (by source address, else by str0m's `accepts`: the ICE ufrag of a STUN
//! check), carries out the [`Command`]s it is handed, drives str0m's timers, and delivers what
//! the rooms produce (signals and errors for connections, media states) to the [`Outlet`].

use crate::command::Command;
use crate::dtls::Identity;
use crate::outlet::Outlet;
use crate::peer::{Endpoint, Transport};
use crate::room::{Effects, Room};
use crate::tcp::{TcpEvent, TcpLinks};
use konsult_protocol::{SessionId, UserId};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use str0m::net::{Protocol, Receive};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Largest datagram read; WebRTC keeps under the path MTU.
const DATAGRAM_MAX: usize = 2048;

/// Longest the task sleeps without looking at its peers.
const IDLE_TICK: Duration = Duration::from_millis(500);

/// Every room and the routes of datagrams to them.
struct Engine<O> {
    /// Where signals, errors and media states go.
    outlet: Arc<O>,
    /// The address members reach the SFU at (the candidate every peer announces).
    local: SocketAddr,
    rooms: HashMap<SessionId, Room>,
    /// Which member a source address belongs to, learnt from the first datagram accepted.
    routes: HashMap<SocketAddr, (SessionId, UserId)>,
    udp: UdpSocket,
    /// Members' ICE-TCP connections.
    tcp: TcpLinks,
    tcp_enabled: bool,
    /// The DTLS certificate and configuration all peers share, made once.
    identity: Option<Arc<Identity>>,
}

/// Runs the SFU until its handle is dropped or `shutdown` resolves.
pub async fn run<O: Outlet>(
    socket: UdpSocket,
    tcp: Option<tokio::net::TcpListener>,
    local: SocketAddr,
    outlet: Arc<O>,
    mut rx: mpsc::Receiver<Command>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let (tcp_tx, mut tcp_rx) = mpsc::channel(4096);
    let tcp_enabled = tcp.is_some();
    let acceptor = tcp.map(|listener| tokio::spawn(crate::tcp::accept(listener, tcp_tx)));
    let mut engine = Engine {
        outlet,
        local,
        rooms: HashMap::new(),
        routes: HashMap::new(),
        udp: socket,
        tcp: TcpLinks::default(),
        tcp_enabled,
        identity: Identity::new().map(Arc::new),
    };
    let mut buf = vec![0u8; DATAGRAM_MAX];
    tokio::pin!(shutdown);
    loop {
        let now = Instant::now();
        let deadline = engine.next_timeout(now);
        let mut fx = Effects::default();
        tokio::select! {
            received = engine.udp.recv_from(&mut buf) => match received {
                Ok((n, source)) => {
                    let datagram = buf[..n].to_vec();
                    engine.on_datagram(Protocol::Udp, &datagram, source, &mut fx);
                }
                // ICMP errors (a member went away) surface here on some systems: not fatal.
                Err(e) => tracing::debug!(error = %e, "SFU socket read failed"),
            },
            Some(event) = tcp_rx.recv() => {
                engine.tcp.on_event(&event);
                if let TcpEvent::Packet(source, packet) = event {
                    metrics::counter!(crate::metrics::TCP_PACKETS).increment(1);
                    engine.on_datagram(Protocol::Tcp, &packet, source, &mut fx);
                }
            }
            command = rx.recv() => match command {
                Some(command) => engine.on_command(command, &mut fx),
                None => break,
            },
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => {
                engine.on_timeout(&mut fx);
            }
            () = &mut shutdown => break,
        }
        engine.deliver(fx).await;
    }
    if let Some(acceptor) = acceptor {
        acceptor.abort();
    }
    tracing::info!("media server stopped");
}

impl<O: Outlet> Engine<O> {
    fn next_timeout(&self, now: Instant) -> Instant {
        self.rooms
            .values()
            .filter_map(Room::next_timeout)
            .min()
            .unwrap_or(now + IDLE_TICK)
            .min(now + IDLE_TICK)
    }

    fn on_datagram(
        &mut self,
        proto: Protocol,
        datagram: &[u8],
        source: SocketAddr,
        fx: &mut Effects,
    ) {
        let now = Instant::now();
        let Ok(receive) = Receive::new(proto, source, self.local, datagram) else {
            metrics::counter!(crate::metrics::UNROUTED).increment(1);
            return;
        };
        let input = str0m::Input::Receive(now, receive);
        let route = self
            .routes
            .get(&source)
            .copied()
            .filter(|(session, user)| {
                self.rooms
                    .get(session)
                    .and_then(|r| r.peers.get(user))
                    .is_some_and(|p| p.rtc.accepts(&input))
            })
            .or_else(|| {
                self.rooms.values().find_map(|room| {
                    room.peers
                        .values()
                        .find(|p| p.rtc.accepts(&input))
                        .map(|p| (room.session, p.user))
                })
            });
        let Some((session, user)) = route else {
            // Common right before a member's offer reaches the SFU, and for stray traffic.
            tracing::debug!(%source, ?proto, "datagram for no member");
            metrics::counter!(crate::metrics::UNROUTED).increment(1);
            return;
        };
        self.routes.insert(source, (session, user));
        let transport = Transport {
            udp: &self.udp,
            tcp: &self.tcp,
        };
        let Some(room) = self.rooms.get_mut(&session) else {
            return;
        };
        if let Some(peer) = room.peers.get_mut(&user) {
            peer.woken = true;
            if let Err(e) = peer.rtc.handle_input(input) {
                tracing::info!(%user, error = %e, "SFU peer failed on input");
                peer.rtc.disconnect();
            }
        }
        room.drive(transport, now, fx);
    }

    fn on_command(&mut self, command: Command, fx: &mut Effects) {
        let now = Instant::now();
        let session = match command {
            Command::Signal {
                session,
                user,
                conn,
                data,
            } => {
                let room = self
                    .rooms
                    .entry(session)
                    .or_insert_with(|| Room::new(session));
                let endpoint = Endpoint {
                    addr: self.local,
                    tcp: self.tcp_enabled,
                    identity: self.identity.clone(),
                };
                room.signal(user, conn, data, endpoint, now, fx);
                session
            }
            Command::SetPolicy { session, policy } => {
                let room = self
                    .rooms
                    .entry(session)
                    .or_insert_with(|| Room::new(session));
                room.set_policy(policy, now);
                session
            }
            Command::View {
                session,
                user,
                video,
            } => {
                let room = self
                    .rooms
                    .entry(session)
                    .or_insert_with(|| Room::new(session));
                room.set_view(user, video, now);
                session
            }
            Command::RemoveMember { session, user } => {
                if let Some(room) = self.rooms.get_mut(&session) {
                    room.remove(user, now);
                }
                self.routes.retain(|_, route| *route != (session, user));
                session
            }
            Command::EndSession { session } => {
                if let Some(room) = self.rooms.remove(&session) {
                    for mut peer in room.peers.into_values() {
                        peer.rtc.disconnect();
                    }
                }
                self.routes.retain(|_, route| route.0 != session);
                self.count();
                return;
            }
        };
        let transport = Transport {
            udp: &self.udp,
            tcp: &self.tcp,
        };
        if let Some(room) = self.rooms.get_mut(&session) {
            room.wake_all();
            room.drive(transport, now, fx);
        }
        self.count();
    }

    fn on_timeout(&mut self, fx: &mut Effects) {
        let now = Instant::now();
        let transport = Transport {
            udp: &self.udp,
            tcp: &self.tcp,
        };
        for room in self.rooms.values_mut() {
            if room.next_timeout().is_some_and(|at| at <= now) {
                room.drive(transport, now, fx);
            }
        }
    }

    /// Members and sessions on the SFU, for /metrics.
    fn count(&self) {
        let members: usize = self.rooms.values().map(|r| r.peers.len()).sum();
        metrics::gauge!(crate::metrics::MEMBERS).set(members as f64);
        metrics::gauge!(crate::metrics::SESSIONS).set(self.rooms.len() as f64);
    }

    /// Hands what the rooms produced to the outlet: signals and errors for connections
    /// without waiting, media states waiting for room.
    async fn deliver(&self, fx: Effects) {
        for (conn, session, data) in fx.signals {
            self.outlet.signal(conn, session, data);
        }
        for (conn, code, message) in fx.errors {
            self.outlet.error(conn, code, message);
        }
        for (session, user, state) in fx.states {
            self.outlet.media_state(session, user, state).await;
        }
    }
}
