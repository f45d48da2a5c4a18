//! A WebRTC client peer on the `webrtc` crate that negotiates through Konsult's `signal`
//! messages, peer to peer or with the SFU, publishes synthetic media (VP8 frames with real
//! keyframe headers, Opus-sized audio) and counts what it receives, checking every payload.
//!
//! [`MediaPeer`] is the peer connection alone: feed it the `data` of `signal`s and send what
//! comes out of its outbox. [`MediaLink`] runs one over a WebSocket connection of its own,
//! following the session from peer to peer to the SFU as a browser does.

use crate::ws::WsClient;
use ::rtc::ice::network_type::NetworkType;
use ::rtc::interceptor::{Attribute, Interceptor, Packet, Slot, StreamInfo, TaggedPacket};
use ::rtc::media::Sample;
use ::rtc::media_stream::MediaStreamTrack;
use ::rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use ::rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use ::rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use ::rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use ::rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use ::rtc::sansio::Protocol;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCIceCandidateInit, RTCPeerConnectionIceEvent, RTCPeerConnectionState, RTCSdpType,
    RTCSessionDescription, Registry, SettingEngineBuilder, register_default_interceptors,
};
use webrtc::rtp_transceiver::RtpSender;

/// Largest synthetic frame: one RTP packet each, so a packet's payload is a whole frame.
const MAX_FRAME: usize = 900;

/// What a peer publishes and how it negotiates.
#[derive(Clone, Debug)]
pub struct PeerOptions {
    pub audio: bool,
    pub video: bool,
    /// A second video track, the screen share.
    pub screen: bool,
    /// Video frames per second (audio is always 50 packets per second).
    pub fps: u32,
    /// Bytes of a video frame (at most 900).
    pub frame_size: usize,
    /// A keyframe at least this often; one also follows every PLI or FIR.
    pub keyframe_interval: Duration,
    /// Send trickled ICE candidates; without them the other side learns no address from us.
    pub send_candidates: bool,
    /// Rewrite this address in the remote side's SDP candidates to another (a proxy).
    pub rewrite_remote: Option<(SocketAddr, SocketAddr)>,
    /// Local address to bind (one loopback host candidate by default).
    pub bind: String,
    /// ICE over TCP only (an active TCP candidate, no UDP), as behind a firewall that blocks
    /// UDP.
    pub tcp_only: bool,
    /// Video pauses from the first to the second time after the connection is up (a camera
    /// turned off, then on); audio goes on.
    pub video_off: Option<(Duration, Duration)>,
    /// Send-receive transceivers, so that the two sides of a peer-to-peer call pair their
    /// audio and video m-lines; with the SFU a member's transceivers are send-only.
    pub sendrecv: bool,
}

impl Default for PeerOptions {
    fn default() -> PeerOptions {
        PeerOptions {
            audio: true,
            video: true,
            screen: false,
            fps: 30,
            frame_size: 600,
            keyframe_interval: Duration::from_secs(10),
            send_candidates: true,
            rewrite_remote: None,
            bind: "127.0.0.1:0".into(),
            tcp_only: false,
            video_off: None,
            sendrecv: false,
        }
    }
}

impl PeerOptions {
    /// A peer that only receives.
    pub fn receive_only() -> PeerOptions {
        PeerOptions {
            audio: false,
            video: false,
            ..PeerOptions::default()
        }
    }
}

/// What arrived on one remote track.
#[derive(Clone, Debug, Default)]
pub struct TrackStats {
    /// The remote track's stream id (the publisher's user id when it comes from the SFU).
    pub stream: String,
    pub kind: String,
    pub packets: u64,
    pub payload_bytes: u64,
    /// Frames whose checksum and pattern verified.
    pub intact: u64,
    /// Frames that did not verify.
    pub corrupt: u64,
    pub keyframes: u64,
    /// Whether the first frame received was a keyframe (video).
    pub first_was_keyframe: Option<bool>,
    /// Distinct frame numbers received (duplicates are retransmissions or repeats).
    pub frames: BTreeSet<u32>,
    pub first_at: Option<Instant>,
    pub last_at: Option<Instant>,
}

/// What a peer sent.
#[derive(Debug, Default)]
pub struct SentStats {
    pub video_frames: AtomicU64,
    pub keyframes: AtomicU64,
    pub audio_frames: AtomicU64,
    /// PLI and FIR received from the other side.
    pub keyframe_requests: AtomicU64,
}

/// Everything a peer counted, shared with the tasks that count it.
#[derive(Debug, Default)]
pub struct Counters {
    /// Received tracks by remote track id.
    pub received: Mutex<HashMap<String, TrackStats>>,
    pub sent: SentStats,
    /// Whether the peer connection is connected now.
    pub connected: AtomicBool,
    /// Whether it failed.
    pub failed: AtomicBool,
}

impl Counters {
    /// A copy of the per-track statistics.
    pub fn received(&self) -> HashMap<String, TrackStats> {
        self.received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Statistics of tracks published by `stream` (a user id through the SFU) of `kind`
    /// (`audio`, `video`, `screen`).
    pub fn track(&self, stream: &str, kind: &str) -> Option<TrackStats> {
        self.received()
            .into_values()
            .find(|t| t.stream == stream && t.kind == kind)
    }
}

/// A frame of the synthetic codec: `[header][number: u32][pattern...][fnv32 of all before]`.
/// A VP8 keyframe header is the 3-byte frame tag with the key bit clear, the start code and a
/// 640x480 size; a delta frame has the tag with the key bit set.
pub fn make_frame(number: u32, size: usize, video_key: Option<bool>) -> Vec<u8> {
    let size = size.clamp(24, MAX_FRAME);
    let mut frame = Vec::with_capacity(size);
    match video_key {
        Some(true) => {
            // key_frame=0, version=0, show_frame=1, first_part_size=size.
            let tag = (1u32 << 4) | ((size as u32) << 5);
            frame.extend_from_slice(&tag.to_le_bytes()[..3]);
            frame.extend_from_slice(&[0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]);
        }
        Some(false) => {
            let tag = 1u32 | (1 << 4) | ((size as u32) << 5);
            frame.extend_from_slice(&tag.to_le_bytes()[..3]);
        }
        None => {}
    }
    frame.extend_from_slice(&number.to_be_bytes());
    let mut i = 0u32;
    while frame.len() < size - 4 {
        frame.push((number.wrapping_mul(31).wrapping_add(i) % 251) as u8);
        i += 1;
    }
    let sum = fnv32(&frame);
    frame.extend_from_slice(&sum.to_be_bytes());
    frame
}

fn fnv32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// Checks a frame; returns its number and whether it is a VP8 keyframe.
pub fn check_frame(frame: &[u8], video: bool) -> Option<(u32, bool)> {
    if frame.len() < 8 {
        return None;
    }
    let (body, sum) = frame.split_at(frame.len() - 4);
    if fnv32(body).to_be_bytes() != sum {
        return None;
    }
    let (key, header) = match video {
        true if body[0] & 1 == 0 => (true, 10),
        true => (false, 3),
        false => (false, 0),
    };
    let number = u32::from_be_bytes(body.get(header..header + 4)?.try_into().ok()?);
    let pattern = (0u32..).map(|i| (number.wrapping_mul(31).wrapping_add(i) % 251) as u8);
    if !body[header + 4..]
        .iter()
        .copied()
        .eq(pattern.take(body.len() - header - 4))
    {
        return None;
    }
    Some((number, key))
}

/// The VP8 payload after the RTP payload descriptor (RFC 7741 section 4.2).
pub fn vp8_payload(payload: &[u8]) -> Option<&[u8]> {
    let first = *payload.first()?;
    let mut at = 1;
    if first & 0x80 != 0 {
        let ext = *payload.get(at)?;
        at += 1;
        if ext & 0x80 != 0 {
            let pid = *payload.get(at)?;
            at += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            at += 1;
        }
        if ext & 0x30 != 0 {
            at += 1;
        }
    }
    payload.get(at..)
}

/// Passes keyframe requests (PLI, FIR) on to the application; other inbound RTCP stays with
/// the interceptors that answer it (NACK responder, reports).
struct KeyframeRequests {
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequests {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = ::rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let requests: Vec<Box<dyn ::rtc::rtcp::Packet>> = packets
                .iter()
                .filter(|p| {
                    let any = p.as_any();
                    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
                })
                .cloned()
                .collect();
            if requests.is_empty() {
                return Ok(());
            }
            msg.message.packet = Packet::Rtcp(requests);
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.write.pop_front()
    }
}

impl Interceptor for KeyframeRequests {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

/// Events of the peer connection, into the counters and the outbox.
struct Handler {
    counters: Arc<Counters>,
    outbox: mpsc::UnboundedSender<Value>,
    send_candidates: bool,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if !self.send_candidates {
            return;
        }
        if let Ok(init) = event.candidate.to_json() {
            // The receiver may be gone at the end of a test: nothing left to tell.
            let _closing = self.outbox.send(json!({
                "candidate": init.candidate,
                "sdpMid": init.sdp_mid,
                "sdpMLineIndex": init.sdp_mline_index,
            }));
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        match state {
            RTCPeerConnectionState::Connected => {
                self.counters.connected.store(true, Ordering::SeqCst)
            }
            RTCPeerConnectionState::Failed => {
                self.counters.connected.store(false, Ordering::SeqCst);
                self.counters.failed.store(true, Ordering::SeqCst);
            }
            RTCPeerConnectionState::Disconnected | RTCPeerConnectionState::Closed => {
                self.counters.connected.store(false, Ordering::SeqCst)
            }
            _ => {}
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let counters = self.counters.clone();
        tokio::spawn(async move { read_track(track, counters).await });
    }
}

/// Counts and checks every packet of a remote track.
async fn read_track(track: Arc<dyn TrackRemote>, counters: Arc<Counters>) {
    let id = track.track_id().await;
    let stream = track.stream_id().await;
    let video = track.kind().await == RtpCodecKind::Video;
    // Through the SFU the track id is `<user>-<kind>`; peer to peer it is the kind itself.
    let kind = id.rsplit('-').next().unwrap_or(&id).to_string();
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            continue;
        };
        let payload: &[u8] = &packet.payload;
        let frame = if video {
            vp8_payload(payload)
        } else {
            Some(payload)
        };
        let checked = frame.and_then(|f| check_frame(f, video));
        let now = Instant::now();
        let mut all = counters.received.lock().unwrap_or_else(|e| e.into_inner());
        let stats = all.entry(id.clone()).or_default();
        stats.stream = stream.clone();
        stats.kind = kind.clone();
        stats.packets += 1;
        stats.payload_bytes += payload.len() as u64;
        stats.first_at.get_or_insert(now);
        stats.last_at = Some(now);
        match checked {
            Some((number, key)) => {
                stats.intact += 1;
                if key {
                    stats.keyframes += 1;
                }
                if video && stats.first_was_keyframe.is_none() {
                    stats.first_was_keyframe = Some(key);
                }
                stats.frames.insert(number);
            }
            None => stats.corrupt += 1,
        }
    }
}

/// One peer connection of a test client.
pub struct MediaPeer {
    pc: Arc<dyn PeerConnection>,
    pub counters: Arc<Counters>,
    options: PeerOptions,
    outbox: mpsc::UnboundedSender<Value>,
    stop: Arc<AtomicBool>,
    /// Candidates that came before the remote description.
    early_candidates: Mutex<Vec<RTCIceCandidateInit>>,
}

impl std::fmt::Debug for MediaPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaPeer")
            .field("options", &self.options)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl MediaPeer {
    /// A peer publishing what `options` say; its signals come out of the returned receiver.
    pub async fn new(
        options: PeerOptions,
        counters: Arc<Counters>,
    ) -> anyhow::Result<(MediaPeer, mpsc::UnboundedReceiver<Value>)> {
        let (outbox, signals) = mpsc::unbounded_channel();
        let mut engine = MediaEngine::default();
        engine.register_default_codecs()?;
        let registry = register_default_interceptors(Registry::new(), &mut engine)?;
        let registry = registry.with(
            Slot::from(14_000),
            KeyframeRequests {
                read: VecDeque::new(),
                write: VecDeque::new(),
            },
        );
        let handler = Arc::new(Handler {
            counters: counters.clone(),
            outbox: outbox.clone(),
            send_candidates: options.send_candidates,
        });
        let builder = PeerConnectionBuilder::new()
            .with_media_engine(engine)
            .with_interceptor_registry(registry)
            .with_handler(handler);
        let builder = if options.tcp_only {
            let settings = SettingEngineBuilder::new()
                .with_network_types(vec![NetworkType::Tcp4, NetworkType::Tcp6])
                .build();
            builder
                .with_setting_engine(settings)
                .with_tcp_addrs(vec![options.bind.clone()])
                .with_udp_addrs(Vec::<String>::new())
        } else {
            builder.with_udp_addrs(vec![options.bind.clone()])
        };
        let pc: Arc<dyn PeerConnection> = Arc::new(builder.build().await?);
        let peer = MediaPeer {
            pc,
            counters,
            options,
            outbox,
            stop: Arc::new(AtomicBool::new(false)),
            early_candidates: Mutex::new(Vec::new()),
        };
        let mut any = false;
        if peer.options.audio {
            peer.add_source(RtpCodecKind::Audio, "audio").await?;
            any = true;
        }
        if peer.options.video {
            peer.add_source(RtpCodecKind::Video, "video").await?;
            any = true;
        }
        if peer.options.screen {
            peer.add_source(RtpCodecKind::Video, "screen").await?;
            any = true;
        }
        if !any {
            // An offer needs one m-line: a receive-only peer offers a data channel.
            peer.pc.create_data_channel("konsult", None).await?;
        }
        Ok((peer, signals))
    }

    /// Adds a send-only track and the task that feeds it once connected.
    async fn add_source(&self, kind: RtpCodecKind, name: &str) -> anyhow::Result<()> {
        let (mime, clock_rate, channels) = match kind {
            RtpCodecKind::Audio => (MIME_TYPE_OPUS, 48_000, 2),
            _ => (MIME_TYPE_VP8, 90_000, 0),
        };
        let ssrc = rand_u32();
        let track = Arc::new(TrackLocalStaticSample::new(
            Instant::now(),
            MediaStreamTrack::new(
                "konsult".into(),
                name.into(),
                name.into(),
                kind,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(ssrc),
                        ..Default::default()
                    },
                    codec: RTCRtpCodec {
                        mime_type: mime.into(),
                        clock_rate,
                        channels,
                        sdp_fmtp_line: String::new(),
                        rtcp_feedback: vec![],
                    },
                    ..Default::default()
                }],
            ),
        )?);
        let transceiver = self
            .pc
            .add_transceiver_from_track(
                track.clone() as Arc<dyn TrackLocal>,
                Some(RTCRtpTransceiverInit {
                    direction: if self.options.sendrecv {
                        RTCRtpTransceiverDirection::Sendrecv
                    } else {
                        RTCRtpTransceiverDirection::Sendonly
                    },
                    streams: vec![],
                    send_encodings: vec![],
                }),
            )
            .await?;
        let sender = transceiver
            .sender()
            .await?
            .ok_or_else(|| anyhow::anyhow!("a send-only transceiver has a sender"))?;
        let counters = self.counters.clone();
        let stop = self.stop.clone();
        let options = self.options.clone();
        let video = kind == RtpCodecKind::Video;
        let wants_key = Arc::new(AtomicBool::new(true));
        {
            // Keyframe requests from the other side.
            let track = track.clone();
            let wants_key = wants_key.clone();
            let counters = counters.clone();
            tokio::spawn(async move {
                while let Some(event) = track.poll().await {
                    if let TrackLocalEvent::OnRtcpPacket(_) = event {
                        counters
                            .sent
                            .keyframe_requests
                            .fetch_add(1, Ordering::Relaxed);
                        wants_key.store(true, Ordering::SeqCst);
                    }
                }
            });
        }
        tokio::spawn(async move {
            send_frames(
                track, sender, ssrc, video, options, counters, stop, wants_key,
            )
            .await
        });
        Ok(())
    }

    /// Creates an offer; it comes out of the outbox.
    pub async fn offer(&self) -> anyhow::Result<()> {
        let offer = self.pc.create_offer(None).await?;
        // Queued before setting it, so it reaches the other side before our candidates.
        self.send_description(&offer);
        self.pc.set_local_description(offer).await?;
        Ok(())
    }

    fn send_description(&self, desc: &RTCSessionDescription) {
        let kind = match desc.sdp_type {
            RTCSdpType::Offer => "offer",
            _ => "answer",
        };
        let sdp = if self.options.send_candidates {
            desc.sdp.clone()
        } else {
            // A peer hiding its addresses sends none in its SDP either.
            desc.sdp
                .split("\r\n")
                .filter(|line| !line.starts_with("a=candidate"))
                .collect::<Vec<_>>()
                .join("\r\n")
        };
        // The receiver may be gone at the end of a test: nothing left to tell.
        let _closing = self.outbox.send(json!({"type": kind, "sdp": sdp}));
    }

    /// Takes the `data` of a `signal`: an offer (answered through the outbox), an answer, or a
    /// candidate.
    pub async fn on_signal(&self, data: &Value) -> anyhow::Result<()> {
        if let Some(candidate) = data["candidate"].as_str() {
            if candidate.is_empty() {
                return Ok(());
            }
            let init = RTCIceCandidateInit {
                candidate: self.rewrite(candidate),
                sdp_mid: data["sdpMid"].as_str().map(String::from),
                sdp_mline_index: data["sdpMLineIndex"].as_u64().map(|i| i as u16),
                ..Default::default()
            };
            if self.pc.remote_description().await.is_none() {
                // Early: kept until the description they belong to arrives.
                self.early_candidates
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(init);
            } else {
                self.pc.add_ice_candidate(init).await?;
            }
            return Ok(());
        }
        let sdp = self.rewrite(data["sdp"].as_str().unwrap_or_default());
        match data["type"].as_str() {
            Some("offer") => {
                self.pc
                    .set_remote_description(RTCSessionDescription::offer(sdp)?)
                    .await?;
                let answer = self.pc.create_answer(None).await?;
                self.send_description(&answer);
                self.pc.set_local_description(answer).await?;
                self.flush_candidates().await?;
            }
            Some("answer") => {
                self.pc
                    .set_remote_description(RTCSessionDescription::answer(sdp.clone())?)
                    .await?;
                self.dial_passive_tcp(&sdp).await?;
                self.flush_candidates().await?;
            }
            other => anyhow::bail!("unexpected signal type {other:?}"),
        }
        Ok(())
    }

    /// Gives the description's passive TCP candidates to the peer once more as trickled ones:
    /// the `webrtc` crate dials a passive TCP candidate only when it comes through
    /// `add_ice_candidate`, never from a remote description, and the SFU announces its
    /// candidates in the SDP.
    async fn dial_passive_tcp(&self, sdp: &str) -> anyhow::Result<()> {
        if !self.options.tcp_only {
            return Ok(());
        }
        let mid = sdp
            .lines()
            .find_map(|line| line.strip_prefix("a=mid:"))
            .map(|mid| mid.trim().to_string());
        for line in sdp.lines() {
            let Some(candidate) = line.strip_prefix("a=") else {
                continue;
            };
            let fields: Vec<&str> = candidate.split_whitespace().collect();
            let passive_tcp = fields.get(2).is_some_and(|p| p.eq_ignore_ascii_case("tcp"))
                && fields.windows(2).any(|w| w == ["tcptype", "passive"]);
            if candidate.starts_with("candidate:") && passive_tcp {
                self.pc
                    .add_ice_candidate(RTCIceCandidateInit {
                        candidate: candidate.trim().to_string(),
                        sdp_mid: mid.clone(),
                        sdp_mline_index: Some(0),
                        ..Default::default()
                    })
                    .await?;
            }
        }
        Ok(())
    }

    async fn flush_candidates(&self) -> anyhow::Result<()> {
        let early: Vec<RTCIceCandidateInit> = std::mem::take(
            &mut *self
                .early_candidates
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for init in early {
            self.pc.add_ice_candidate(init).await?;
        }
        Ok(())
    }

    /// The SDP or candidate text with the configured address rewritten.
    fn rewrite(&self, text: &str) -> String {
        match self.options.rewrite_remote {
            Some((from, to)) => text.replace(
                &format!("{} {}", from.ip(), from.port()),
                &format!("{} {}", to.ip(), to.port()),
            ),
            None => text.to_string(),
        }
    }

    /// Stops sending and closes the connection.
    pub async fn close(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Err(e) = self.pc.close().await {
            eprintln!("peer close: {e}");
        }
    }
}

fn rand_u32() -> u32 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    nanos ^ (NEXT.fetch_add(0x9e37_79b9, Ordering::Relaxed) as u32) ^ std::process::id()
}

/// Feeds a track with synthetic frames once its codec is negotiated.
#[allow(clippy::too_many_arguments)]
async fn send_frames(
    track: Arc<TrackLocalStaticSample>,
    sender: Arc<dyn RtpSender>,
    ssrc: u32,
    video: bool,
    options: PeerOptions,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    wants_key: Arc<AtomicBool>,
) {
    let period = if video {
        Duration::from_secs(1) / options.fps.max(1)
    } else {
        Duration::from_millis(20)
    };
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut number = 0u32;
    let mut last_key = Instant::now();
    let mut connected_at = None;
    while !stop.load(Ordering::SeqCst) {
        tick.tick().await;
        if !counters.connected.load(Ordering::SeqCst) {
            continue;
        }
        let since = *connected_at.get_or_insert_with(Instant::now);
        let paused = options
            .video_off
            .is_some_and(|(from, to)| (from..to).contains(&since.elapsed()));
        if video && paused {
            continue;
        }
        let Ok(params) = sender.get_parameters().await else {
            continue;
        };
        let Some(pt) = params.rtp_parameters.codecs.first().map(|c| c.payload_type) else {
            continue;
        };
        let (data, key) = if video {
            let key = wants_key.swap(false, Ordering::SeqCst)
                || last_key.elapsed() >= options.keyframe_interval;
            if key {
                last_key = Instant::now();
            }
            (make_frame(number, options.frame_size, Some(key)), key)
        } else {
            (make_frame(number, 120, None), false)
        };
        let sample = Sample {
            data: data.into(),
            duration: period,
            ..Sample::new(Instant::now())
        };
        if track
            .sample_writer(ssrc, pt)
            .write_sample(&sample)
            .await
            .is_ok()
        {
            number += 1;
            let sent = &counters.sent;
            if video {
                sent.video_frames.fetch_add(1, Ordering::Relaxed);
                if key {
                    sent.keyframes.fetch_add(1, Ordering::Relaxed);
                }
            } else {
                sent.audio_frames.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Where a link's signals go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// The SFU.
    Sfu,
    /// Peer to peer with this user; `offerer` says which side makes the offer. The link moves
    /// to the SFU when `session_state` says the session did.
    P2p { other: i64, offerer: bool },
}

/// A peer run over its own WebSocket connection, renegotiating as the session asks.
#[derive(Debug)]
pub struct MediaLink {
    pub counters: Arc<Counters>,
    /// `error` messages the link's connection received.
    pub errors: Arc<Mutex<Vec<Value>>>,
    /// Whether the link is on the SFU now.
    pub on_sfu: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
    stop: mpsc::UnboundedSender<()>,
}

impl MediaLink {
    /// Starts media in `session` over `ws` (a connection of a member).
    pub async fn start(
        ws: WsClient,
        session: i64,
        route: Route,
        options: PeerOptions,
    ) -> MediaLink {
        let counters = Arc::new(Counters::default());
        let errors = Arc::new(Mutex::new(Vec::new()));
        let on_sfu = Arc::new(AtomicBool::new(route == Route::Sfu));
        let (stop, stopped) = mpsc::unbounded_channel::<()>();
        let task = tokio::spawn(pump(
            ws,
            session,
            route,
            options,
            counters.clone(),
            errors.clone(),
            on_sfu.clone(),
            stopped,
        ));
        MediaLink {
            counters,
            errors,
            on_sfu,
            task,
            stop,
        }
    }

    /// Waits until `check` holds on the counters, up to `limit`.
    pub async fn wait_for(&self, limit: Duration, check: impl Fn(&Counters) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if check(&self.counters) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        check(&self.counters)
    }

    /// Stops the peer and the connection.
    pub async fn stop(self) {
        // The task may have ended already.
        let _ended = self.stop.send(());
        let _joined = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn pump(
    mut ws: WsClient,
    session: i64,
    route: Route,
    options: PeerOptions,
    counters: Arc<Counters>,
    errors: Arc<Mutex<Vec<Value>>>,
    on_sfu: Arc<AtomicBool>,
    mut stopped: mpsc::UnboundedReceiver<()>,
) {
    let first = PeerOptions {
        sendrecv: matches!(route, Route::P2p { .. }),
        ..options.clone()
    };
    let (mut peer, mut signals) = match MediaPeer::new(first, counters.clone()).await {
        Ok(p) => p,
        Err(e) => panic!("peer connection: {e}"),
    };
    let mut to = match route {
        Route::Sfu => json!("sfu"),
        Route::P2p { other, .. } => json!(other),
    };
    let offers = match route {
        Route::Sfu => true,
        Route::P2p { offerer, .. } => offerer,
    };
    if offers && let Err(e) = peer.offer().await {
        panic!("offer: {e}");
    }
    let mut reported = false;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = stopped.recv() => break,
            _ = tick.tick() => {
                // Peer to peer, the member reports its own media state, as a browser does.
                let connected = counters.connected.load(Ordering::SeqCst);
                if !on_sfu.load(Ordering::SeqCst) && connected != reported {
                    reported = connected;
                    let state = if connected { "connected" } else { "connecting" };
                    ws.send_json(&json!({"type": "media_state", "session": session, "state": state})).await;
                }
            }
            out = signals.recv() => {
                let Some(data) = out else { break };
                ws.send_json(&json!({"type": "signal", "session": session, "to": to, "data": data})).await;
            }
            msg = ws.recv_timeout(Duration::from_secs(3600)) => {
                let Some(msg) = msg else { break };
                match msg["type"].as_str() {
                    Some("signal") if msg["session"] == json!(session) => {
                        if let Err(e) = peer.on_signal(&msg["data"]).await {
                            errors.lock().unwrap_or_else(|e| e.into_inner())
                                .push(json!({"type": "client_error", "message": e.to_string()}));
                        }
                    }
                    Some("session_state") if msg["session"] == json!(session)
                        && msg["media"] == "sfu" && !on_sfu.load(Ordering::SeqCst) =>
                    {
                        // The session moved to the SFU: a new peer connection with the server.
                        peer.close().await;
                        counters.connected.store(false, Ordering::SeqCst);
                        counters.failed.store(false, Ordering::SeqCst);
                        let mut sfu_options = options.clone();
                        sfu_options.send_candidates = true;
                        (peer, signals) = match MediaPeer::new(sfu_options, counters.clone()).await {
                            Ok(p) => p,
                            Err(e) => panic!("peer connection: {e}"),
                        };
                        to = json!("sfu");
                        on_sfu.store(true, Ordering::SeqCst);
                        if let Err(e) = peer.offer().await {
                            panic!("offer: {e}");
                        }
                    }
                    Some("error") => errors.lock().unwrap_or_else(|e| e.into_inner()).push(msg),
                    _ => {}
                }
            }
        }
    }
    peer.close().await;
    ws.close().await;
}
