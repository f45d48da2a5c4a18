//! One member's peer connection with the SFU: its str0m `Rtc`, the tracks it publishes, the
//! tracks forwarded to it, and the offer/answer exchange that adds and stops them.

use crate::command::ConnId;
use konsult_protocol::UserId;
use konsult_protocol::model::{MediaState, TrackKind};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, KeyframeRequestKind, MediaData, MediaKind, Mid};
use str0m::net::{Protocol, TcpType};
use str0m::stats::MediaEgressStats;
use str0m::{Candidate, Event, IceConnectionState, Output, Rtc};

use crate::dtls::Identity;
use crate::tcp::TcpLinks;

/// Where members reach the SFU: the address in its candidates, whether ICE-TCP listens there
/// too, and the DTLS identity every peer presents.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub tcp: bool,
    /// Made once when the SFU starts (see [`crate::dtls`]); `None`: each peer makes its own.
    pub identity: Option<Arc<Identity>>,
}

/// Where the SFU's datagrams go out: its UDP socket, or a member's ICE-TCP connection.
#[derive(Clone, Copy, Debug)]
pub struct Transport<'a> {
    pub udp: &'a tokio::net::UdpSocket,
    pub tcp: &'a TcpLinks,
}

/// A publisher is asked for a keyframe at most this often per track once it answered the
/// last request with one: members who settle one after another during a mass join each wait
/// at most this long.
const KEYFRAME_REQUEST_GAP: Duration = Duration::from_millis(100);
/// A request not answered by a keyframe yet is repeated after this long (the request or the
/// keyframe may have been lost); until then, whoever waits gets the keyframe on its way.
const KEYFRAME_REQUEST_RETRY: Duration = Duration::from_millis(300);

/// Forwarding to a member starts this long after its connection came up. When the SFU's side
/// of the DTLS handshake completes, the member's stack may still be installing its SRTP keys,
/// and what arrives meanwhile is dropped: a keyframe lost there would leave the member's
/// decoder with delta frames it cannot start from, and nothing would ask for another.
const SETTLE: Duration = Duration::from_millis(100);

/// How often str0m reports statistics (retransmission requests, bytes sent).
const STATS_INTERVAL: Duration = Duration::from_secs(1);

/// A member whose video sent nothing this long while its audio flows is `audio_only`: a
/// camera turned off, a browser that dropped video on a weak link.
pub const VIDEO_SILENCE: Duration = Duration::from_secs(3);

/// Negotiation input the SFU refuses.
#[derive(Debug, thiserror::Error)]
pub enum NegotiationError {
    #[error("the SDP cannot be read: {0}")]
    BadSdp(String),
    #[error("the SDP was refused: {0}")]
    Refused(String),
    #[error("no offer from the media server is waiting for an answer")]
    NoPendingOffer,
    #[error("the ICE candidate cannot be read: {0}")]
    BadCandidate(String),
}

/// A track the member sends to the SFU.
#[derive(Debug)]
pub struct Published {
    pub mid: Mid,
    pub kind: TrackKind,
    /// Whether the member sends on it: a stopped screen share keeps its m-line, turned
    /// `inactive`, for the next share.
    pub active: bool,
    last_keyframe_request: Option<Instant>,
    /// Whether a keyframe came since the last request: the request was answered.
    keyframe_since_request: bool,
}

/// Where a forwarded track is in negotiation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutState {
    /// Wanted; not yet in an offer.
    ToOpen,
    /// In the offer waiting for the member's answer.
    Negotiating(Mid),
    /// Negotiated: media may flow.
    Open(Mid),
    /// To be stopped in the next offer.
    ToStop(Mid),
    /// Stopped in the offer waiting for the member's answer.
    NegotiatingStop(Mid),
}

/// A track of another member forwarded to this one.
#[derive(Debug)]
pub struct Forwarded {
    pub source: UserId,
    pub source_mid: Mid,
    pub kind: TrackKind,
    pub state: OutState,
    /// Video waits for a keyframe: a decoder cannot start from a delta frame.
    pub needs_keyframe: bool,
    /// Whether the policy let the track through at the last check; becoming true again waits
    /// for a fresh keyframe.
    pub allowed: bool,
}

impl Forwarded {
    pub fn open_mid(&self) -> Option<Mid> {
        match self.state {
            OutState::Open(mid) => Some(mid),
            _ => None,
        }
    }
}

/// What polling a peer produced, for the room to act on.
#[derive(Debug)]
pub enum PeerEvent {
    /// ICE and DTLS are connected.
    Connected,
    /// The connection is gone.
    Failed,
    /// The member started or stopped publishing a track.
    Published,
    /// A frame from the member.
    Media(Box<MediaData>),
    /// The member's decoder wants a keyframe on a forwarded track (our `mid`).
    KeyframeWanted(Mid),
}

/// One member's connection with the SFU.
#[derive(Debug)]
pub struct Peer {
    pub user: UserId,
    /// The WebSocket connection that negotiates this peer: `signal`s from the SFU go there.
    pub conn: ConnId,
    pub rtc: Rtc,
    /// The SFU's offer waiting for the member's answer.
    pending: Option<SdpPendingOffer>,
    /// Whether the member's first offer has been answered: the SFU offers only after that.
    answered: bool,
    pub published: Vec<Published>,
    pub forwarded: Vec<Forwarded>,
    pub connected: bool,
    /// When ICE and DTLS connected: video silence is counted from there.
    connected_at: Option<Instant>,
    /// Whether the member has been connected for [`SETTLE`] and its first keyframes were asked
    /// for.
    settled: bool,
    /// When the last audio and video (camera or screen) frames came from the member.
    last_audio: Option<Instant>,
    last_video: Option<Instant>,
    /// The media state last reported, so each change is reported once.
    pub reported: Option<MediaState>,
    /// When str0m wants to be driven next.
    pub timeout: Instant,
    /// Whether str0m may have output since the peer was last polled: input reached it, a
    /// frame was written to it or a keyframe asked through it. Only woken peers are polled.
    pub woken: bool,
    /// The last cumulative egress statistics per forwarded track, to count differences.
    egress: HashMap<Mid, MediaEgressStats>,
}

impl Peer {
    pub fn new(user: UserId, conn: ConnId, endpoint: Endpoint, now: Instant) -> Peer {
        let local = endpoint.addr;
        // ICE-lite: the SFU has a reachable address and only answers the member's checks, so
        // a member behind NAT is reached at the address its checks come from.
        let mut config = Rtc::builder()
            .set_ice_lite(true)
            .set_stats_interval(Some(STATS_INTERVAL));
        if let Some(identity) = &endpoint.identity {
            config = config
                .set_dtls_cert(identity.cert.clone())
                .set_crypto_provider(Arc::clone(&identity.crypto));
        }
        let mut rtc = config.build(now);
        match Candidate::host(local, "udp") {
            Ok(candidate) => {
                rtc.add_local_candidate(candidate);
            }
            Err(e) => tracing::error!(error = %e, %local, "the SFU's address is no ICE candidate"),
        }
        if endpoint.tcp {
            let passive = Candidate::builder()
                .tcp()
                .host(local)
                .tcptype(TcpType::Passive)
                .build();
            match passive {
                Ok(candidate) => {
                    rtc.add_local_candidate(candidate);
                }
                Err(e) => tracing::error!(error = %e, %local, "no passive TCP candidate"),
            }
        }
        Peer {
            user,
            conn,
            rtc,
            pending: None,
            answered: false,
            published: Vec::new(),
            forwarded: Vec::new(),
            connected: false,
            connected_at: None,
            settled: false,
            last_audio: None,
            last_video: None,
            reported: None,
            timeout: now,
            woken: true,
            egress: HashMap::new(),
        }
    }

    /// Answers the member's offer. An offer of ours still waiting is rolled back (the SFU is
    /// the polite peer) and its changes offered again later.
    pub fn accept_offer(&mut self, sdp: &str) -> Result<String, NegotiationError> {
        let offer =
            SdpOffer::from_sdp_string(sdp).map_err(|e| NegotiationError::BadSdp(e.to_string()))?;
        let answer = self
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| NegotiationError::Refused(e.to_string()))?;
        self.pending = None;
        for track in &mut self.forwarded {
            track.state = match track.state {
                OutState::Negotiating(_) => OutState::ToOpen,
                OutState::NegotiatingStop(mid) => OutState::ToStop(mid),
                other => other,
            };
        }
        self.answered = true;
        Ok(answer.to_sdp_string())
    }

    /// Takes the member's answer to our offer: the forwarded tracks it accepted open, video
    /// waiting for a keyframe.
    pub fn accept_answer(&mut self, sdp: &str) -> Result<(), NegotiationError> {
        let answer =
            SdpAnswer::from_sdp_string(sdp).map_err(|e| NegotiationError::BadSdp(e.to_string()))?;
        let pending = self
            .pending
            .take()
            .ok_or(NegotiationError::NoPendingOffer)?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| NegotiationError::Refused(e.to_string()))?;
        for track in &mut self.forwarded {
            if let OutState::Negotiating(mid) = track.state {
                track.state = OutState::Open(mid);
                track.needs_keyframe = track.kind != TrackKind::Audio;
            }
        }
        self.forwarded
            .retain(|t| !matches!(t.state, OutState::NegotiatingStop(_)));
        Ok(())
    }

    /// A trickled candidate of the member; an empty one (end of candidates) is accepted.
    pub fn add_candidate(&mut self, text: &str) -> Result<(), NegotiationError> {
        let text = text.trim();
        let text = text.strip_prefix("a=").unwrap_or(text);
        if text.is_empty() {
            return Ok(());
        }
        let candidate = Candidate::from_sdp_string(text)
            .map_err(|e| NegotiationError::BadCandidate(e.to_string()))?;
        self.rtc.add_remote_candidate(candidate);
        Ok(())
    }

    /// An offer adding and stopping forwarded tracks, when some changed and no negotiation is
    /// in flight.
    pub fn offer_if_needed(&mut self) -> Option<String> {
        if !self.answered || self.pending.is_some() || !self.rtc.is_alive() {
            return None;
        }
        let wanted = self
            .forwarded
            .iter()
            .any(|t| matches!(t.state, OutState::ToOpen | OutState::ToStop(_)));
        if !wanted {
            return None;
        }
        let mut change = self.rtc.sdp_api();
        for track in &mut self.forwarded {
            match track.state {
                OutState::ToOpen => {
                    let kind = match track.kind {
                        TrackKind::Audio => MediaKind::Audio,
                        TrackKind::Video | TrackKind::Screen => MediaKind::Video,
                    };
                    let stream = track.source.0.to_string();
                    let id = format!("{}-{}", track.source.0, kind_name(track.kind));
                    let mid =
                        change.add_media(kind, Direction::SendOnly, Some(stream), Some(id), None);
                    track.state = OutState::Negotiating(mid);
                }
                OutState::ToStop(mid) => {
                    change.stop_media(mid);
                    track.state = OutState::NegotiatingStop(mid);
                }
                _ => {}
            }
        }
        let (offer, pending) = change.apply()?;
        self.pending = Some(pending);
        Some(offer.to_sdp_string())
    }

    /// Drains str0m's output: datagrams go out on `socket`, events into `events`.
    pub fn poll(&mut self, transport: Transport<'_>, now: Instant, events: &mut Vec<PeerEvent>) {
        loop {
            if !self.rtc.is_alive() {
                self.timeout = now + Duration::from_secs(3600);
                return;
            }
            match self.rtc.poll_output() {
                Ok(Output::Timeout(at)) => {
                    self.timeout = at;
                    return;
                }
                Ok(Output::Transmit(transmit)) => {
                    // A full send buffer drops the datagram, as the network would.
                    let sent = match transmit.proto {
                        Protocol::Udp => transport
                            .udp
                            .try_send_to(&transmit.contents, transmit.destination)
                            .is_ok(),
                        _ => transport.tcp.send(transmit.destination, &transmit.contents),
                    };
                    if !sent {
                        metrics::counter!(crate::metrics::SEND_DROPS).increment(1);
                    }
                }
                Ok(Output::Event(event)) => self.on_event(event, now, events),
                Err(e) => {
                    tracing::info!(user = %self.user, error = %e, "SFU peer failed");
                    self.rtc.disconnect();
                    events.push(PeerEvent::Failed);
                }
            }
        }
    }

    fn on_event(&mut self, event: Event, now: Instant, events: &mut Vec<PeerEvent>) {
        match event {
            Event::Connected => {
                self.connected = true;
                self.connected_at = Some(now);
                events.push(PeerEvent::Connected);
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.rtc.disconnect();
                events.push(PeerEvent::Failed);
            }
            Event::MediaAdded(added) if added.direction.is_receiving() => {
                self.publish(added.mid, added.kind);
                events.push(PeerEvent::Published);
            }
            // A renegotiated direction: a share stopped (`inactive`) or started (again).
            Event::MediaChanged(changed) => {
                let active = changed.direction.is_receiving();
                match self.published.iter_mut().find(|p| p.mid == changed.mid) {
                    Some(track) if track.active != active => track.active = active,
                    Some(_) => return,
                    None if active => {
                        let Some(kind) = self.rtc.media(changed.mid).map(|m| m.kind()) else {
                            return;
                        };
                        self.publish(changed.mid, kind);
                    }
                    None => return,
                }
                events.push(PeerEvent::Published);
            }
            Event::MediaData(data) => {
                let track = self.published.iter_mut().find(|p| p.mid == data.mid);
                match track {
                    Some(track) if track.kind == TrackKind::Audio => self.last_audio = Some(now),
                    Some(track) => {
                        self.last_video = Some(now);
                        if data.is_keyframe() {
                            track.keyframe_since_request = true;
                        }
                    }
                    None => {}
                }
                events.push(PeerEvent::Media(Box::new(data)));
            }
            Event::KeyframeRequest(request) => events.push(PeerEvent::KeyframeWanted(request.mid)),
            Event::MediaEgressStats(stats) => self.count_egress(stats),
            _ => {}
        }
    }

    /// Whether frames of other members may be written to this one: connected, and settled
    /// (see [`SETTLE`]).
    pub fn receives(&self, now: Instant) -> bool {
        self.connected
            && self
                .connected_at
                .is_some_and(|at| now.saturating_duration_since(at) >= SETTLE)
    }

    /// Once, when the member has just settled: the sources of the video it waits for, whose
    /// publishers are asked for a keyframe now rather than when their next delta frame
    /// finds the member waiting.
    pub fn settle(&mut self, now: Instant) -> Option<Vec<(UserId, Mid)>> {
        if self.settled || !self.receives(now) {
            return None;
        }
        self.settled = true;
        Some(self.awaiting_keyframes())
    }

    /// The (source, source's mid) of forwarded tracks that are open and allowed and wait for
    /// a keyframe.
    pub fn awaiting_keyframes(&self) -> Vec<(UserId, Mid)> {
        self.forwarded
            .iter()
            .filter(|t| t.allowed && t.needs_keyframe && t.open_mid().is_some())
            .map(|t| (t.source, t.source_mid))
            .collect()
    }

    /// When the peer next wants to be driven: str0m's timer, or the moment it settles.
    pub fn wake_at(&self) -> Instant {
        match self
            .connected_at
            .filter(|_| self.connected && !self.settled)
        {
            Some(at) => self.timeout.min(at + SETTLE),
            None => self.timeout,
        }
    }

    /// A track the member started sending on. The first video a member publishes is its
    /// camera, a later one its screen.
    fn publish(&mut self, mid: Mid, kind: MediaKind) {
        let kind = match kind {
            MediaKind::Audio => TrackKind::Audio,
            MediaKind::Video if self.published.iter().any(|p| p.kind == TrackKind::Video) => {
                TrackKind::Screen
            }
            MediaKind::Video => TrackKind::Video,
        };
        self.published.push(Published {
            mid,
            kind,
            active: true,
            last_keyframe_request: None,
            keyframe_since_request: false,
        });
    }

    /// What the member's connection carries now, once connected: `audio_only` when it
    /// publishes audio and its video is absent, or silent for [`VIDEO_SILENCE`] while audio
    /// flows; `connected` otherwise (a member that only receives included).
    pub fn media_state(&self, now: Instant) -> Option<MediaState> {
        let connected_at = self.connected_at.filter(|_| self.connected)?;
        let publishes = |kind: TrackKind| self.published.iter().any(|p| p.kind == kind && p.active);
        let recent = |at: Option<Instant>| {
            at.is_some_and(|at| now.saturating_duration_since(at) < VIDEO_SILENCE)
        };
        let publishes_video = publishes(TrackKind::Video) || publishes(TrackKind::Screen);
        let video_silent =
            now.saturating_duration_since(self.last_video.unwrap_or(connected_at)) >= VIDEO_SILENCE;
        let audio_only = publishes(TrackKind::Audio)
            && (!publishes_video || (video_silent && recent(self.last_audio)));
        Some(if audio_only {
            MediaState::AudioOnly
        } else {
            MediaState::Connected
        })
    }

    fn count_egress(&mut self, stats: MediaEgressStats) {
        let (packets, bytes, nacks) = match self.egress.get(&stats.mid) {
            Some(last) => (last.packets, last.bytes, last.nacks),
            None => (0, 0, 0),
        };
        use crate::metrics::{NACKS, SENT_BYTES, SENT_PACKETS};
        metrics::counter!(SENT_PACKETS).increment(stats.packets.saturating_sub(packets));
        metrics::counter!(SENT_BYTES).increment(stats.bytes.saturating_sub(bytes));
        metrics::counter!(NACKS).increment(stats.nacks.saturating_sub(nacks));
        self.egress.insert(stats.mid, stats);
    }

    /// Asks the member for a keyframe on one of its tracks: at most every
    /// [`KEYFRAME_REQUEST_GAP`] once the last request brought one, else every
    /// [`KEYFRAME_REQUEST_RETRY`].
    pub fn request_keyframe(&mut self, mid: Mid, now: Instant) {
        let Some(track) = self.published.iter_mut().find(|p| p.mid == mid) else {
            return;
        };
        let wait = if track.keyframe_since_request {
            KEYFRAME_REQUEST_GAP
        } else {
            KEYFRAME_REQUEST_RETRY
        };
        if track
            .last_keyframe_request
            .is_some_and(|at| now.saturating_duration_since(at) < wait)
        {
            return;
        }
        track.last_keyframe_request = Some(now);
        track.keyframe_since_request = false;
        self.woken = true;
        let Some(mut writer) = self.rtc.writer(mid) else {
            return;
        };
        let kind = if writer.is_request_keyframe_possible(KeyframeRequestKind::Pli) {
            KeyframeRequestKind::Pli
        } else {
            KeyframeRequestKind::Fir
        };
        match writer.request_keyframe(None, kind) {
            Ok(()) => metrics::counter!(crate::metrics::KEYFRAME_REQUESTS).increment(1),
            Err(e) => tracing::debug!(error = %e, "keyframe request not sent"),
        }
    }

    /// Writes a frame from another member on one of our forwarded tracks.
    pub fn write(&mut self, mid: Mid, data: &MediaData) -> bool {
        let Some(writer) = self.rtc.writer(mid) else {
            return false;
        };
        let Some(pt) = writer.match_params(data.params) else {
            return false;
        };
        match writer.write(pt, data.network_time, data.time, data.data.clone()) {
            Ok(()) => {
                self.woken = true;
                true
            }
            Err(e) => {
                tracing::debug!(user = %self.user, error = %e, "forwarding failed");
                false
            }
        }
    }
}

/// The name a track kind has in forwarded track ids.
pub fn kind_name(kind: TrackKind) -> &'static str {
    match kind {
        TrackKind::Audio => "audio",
        TrackKind::Video => "video",
        TrackKind::Screen => "screen",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A member's peer on a UDP-only SFU, created at `now`.
    fn member(now: Instant) -> Peer {
        let endpoint = Endpoint {
            addr: "127.0.0.1:4000".parse().unwrap(),
            tcp: false,
            identity: None,
        };
        Peer::new(UserId(7), ConnId(1), endpoint, now)
    }

    #[test]
    fn a_member_receives_forwarded_frames_only_once_its_connection_settled() {
        let start = Instant::now();
        let mut peer = member(start);
        assert!(!peer.receives(start), "not connected yet");
        let mut events = Vec::new();
        let up = start + Duration::from_secs(1);
        peer.on_event(Event::Connected, up, &mut events);
        assert!(matches!(events.as_slice(), [PeerEvent::Connected]));
        // Right after the handshake the member may not have its SRTP keys yet.
        assert!(!peer.receives(up));
        assert!(!peer.receives(up + SETTLE / 2));
        assert!(peer.receives(up + SETTLE));
    }

    #[test]
    fn a_member_asks_for_its_keyframes_once_when_it_settles() {
        let start = Instant::now();
        let mut peer = member(start);
        peer.forwarded.push(Forwarded {
            source: UserId(3),
            source_mid: Mid::from("1"),
            kind: TrackKind::Video,
            state: OutState::Open(Mid::from("5")),
            needs_keyframe: true,
            allowed: true,
        });
        let up = start + Duration::from_secs(1);
        peer.on_event(Event::Connected, up, &mut Vec::new());
        // The SFU is woken when the member settles, not only by str0m's timer.
        peer.timeout = up + Duration::from_secs(5);
        assert_eq!(peer.wake_at(), up + SETTLE);
        assert_eq!(peer.settle(up + SETTLE / 2), None);
        assert_eq!(
            peer.settle(up + SETTLE),
            Some(vec![(UserId(3), Mid::from("1"))])
        );
        assert_eq!(peer.settle(up + SETTLE * 2), None, "asked once");
        assert_eq!(peer.wake_at(), peer.timeout);
    }

    #[test]
    fn keyframe_requests_repeat_sooner_once_the_last_was_answered() {
        let start = Instant::now();
        let mut peer = member(start);
        peer.publish(Mid::from("1"), MediaKind::Video);
        let asked = |peer: &Peer| peer.published[0].last_keyframe_request;
        peer.request_keyframe(Mid::from("1"), start);
        assert_eq!(asked(&peer), Some(start));
        // Unanswered: whoever else waits gets the keyframe on its way; no new request until
        // the retry interval.
        let later = start + KEYFRAME_REQUEST_GAP;
        peer.request_keyframe(Mid::from("1"), later);
        assert_eq!(asked(&peer), Some(start));
        peer.request_keyframe(Mid::from("1"), start + KEYFRAME_REQUEST_RETRY);
        assert_eq!(asked(&peer), Some(start + KEYFRAME_REQUEST_RETRY));
        // Answered by a keyframe: the next member to settle may ask after the short gap.
        let answered = start + KEYFRAME_REQUEST_RETRY;
        peer.published[0].keyframe_since_request = true;
        peer.request_keyframe(Mid::from("1"), answered + KEYFRAME_REQUEST_GAP / 2);
        assert_eq!(asked(&peer), Some(answered));
        peer.request_keyframe(Mid::from("1"), answered + KEYFRAME_REQUEST_GAP);
        assert_eq!(asked(&peer), Some(answered + KEYFRAME_REQUEST_GAP));
        assert!(!peer.published[0].keyframe_since_request);
    }

    #[test]
    fn a_stopped_screen_share_stops_being_published_until_it_is_sent_again() {
        use str0m::media::{MediaAdded, MediaChanged};
        let now = Instant::now();
        let mut peer = member(now);
        let mut events = Vec::new();
        for (mid, kind) in [
            ("0", MediaKind::Audio),
            ("1", MediaKind::Video),
            ("2", MediaKind::Video),
        ] {
            let added = MediaAdded {
                mid: Mid::from(mid),
                kind,
                direction: Direction::RecvOnly,
                simulcast: None,
            };
            peer.on_event(Event::MediaAdded(added), now, &mut events);
        }
        let kinds: Vec<(TrackKind, bool)> =
            peer.published.iter().map(|p| (p.kind, p.active)).collect();
        assert_eq!(
            kinds,
            [
                (TrackKind::Audio, true),
                (TrackKind::Video, true),
                (TrackKind::Screen, true)
            ]
        );
        let change = |direction: Direction, peer: &mut Peer| {
            let mut events = Vec::new();
            let changed = MediaChanged {
                mid: Mid::from("2"),
                direction,
            };
            peer.on_event(Event::MediaChanged(changed), now, &mut events);
            events.len()
        };
        // The member turned its screen's m-line inactive: one change, told once.
        assert_eq!(change(Direction::Inactive, &mut peer), 1);
        assert!(!peer.published[2].active);
        assert_eq!(change(Direction::Inactive, &mut peer), 0);
        // Shared again on the same m-line: still the screen, not a second camera.
        assert_eq!(change(Direction::RecvOnly, &mut peer), 1);
        assert_eq!(peer.published[2].kind, TrackKind::Screen);
        assert!(peer.published[2].active);
    }
}
