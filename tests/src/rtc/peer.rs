//! One peer connection of a test client on the `webrtc` crate: its tracks, negotiation through
//! the `data` of `signal`s, and the counting of what arrives.

use super::counters::Counters;
use super::frames::check_frame;
use super::keyframe_requests::KeyframeRequests;
use super::options::PeerOptions;
use super::sender::{Feed, Source, send_frames};
use ::rtc::ice::network_type::NetworkType;
use ::rtc::interceptor::Slot;
use ::rtc::media_stream::MediaStreamTrack;
use ::rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use ::rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use ::rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use ::rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use konsult_testkit::vp8;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCIceCandidateInit, RTCPeerConnectionIceEvent, RTCPeerConnectionState, RTCSdpType,
    RTCSessionDescription, Registry, SettingEngineBuilder, register_default_interceptors,
};

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
    let direct = !id.contains('-');
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            continue;
        };
        // Peer to peer, a stream whose first packets were lost while the connection was set up
        // starts mid-picture: like a browser, drop frames until a keyframe and ask for one. (The
        // SFU asks publishers itself and must send a keyframe first; that stays checked.)
        if direct && video && first_frame_is_not_key(&counters, &id, &packet.payload) {
            counters
                .received
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(id.clone())
                .or_default()
                .before_keyframe += 1;
            let pli = PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc: packet.header.ssrc,
            };
            let _ = track.write_rtcp(vec![Box::new(pli)]).await;
            continue;
        }
        let payload: &[u8] = &packet.payload;
        let frame = if video {
            vp8::frame_data(payload)
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

/// Whether `payload` would be the first video frame of track `id` and is an intact frame that
/// is not a keyframe.
fn first_frame_is_not_key(counters: &Counters, id: &str, payload: &[u8]) -> bool {
    let all = counters.received.lock().unwrap_or_else(|e| e.into_inner());
    if all.get(id).is_some_and(|s| s.first_was_keyframe.is_some()) {
        return false;
    }
    // A frame that does not verify is counted as corrupt, not dropped.
    matches!(
        vp8::frame_data(payload).and_then(|f| check_frame(f, true)),
        Some((_, false))
    )
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
        let registry = registry.with(Slot::from(14_000), KeyframeRequests::default());
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
        let source = Source {
            track,
            sender,
            ssrc,
            video,
        };
        let feed = Feed {
            options,
            counters,
            stop,
            wants_key,
        };
        tokio::spawn(send_frames(source, feed));
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
