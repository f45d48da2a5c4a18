//! The load's WebRTC peers on str0m (sans-IO, one UDP socket each): the negotiation with the
//! SFU through `signal` data, the synthetic media (360p-like VP8 frames and Opus-sized audio,
//! each frame stamped with its send time on the load generator's clock) and the reading of
//! what arrives as raw RTP: sequence gaps, send-time stamps, keyframe starts.

use anyhow::Context;
use konsult_testkit::vp8;
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::Instant;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;

/// First byte of a synthetic audio frame; a VP8 payload descriptor never starts with it (its
/// reserved bit is set).
const AUDIO_MARK: u8 = 0xff;

/// The load generator's clock, shared by publishers and subscribers (one process).
static CLOCK: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds on the load generator's clock.
pub fn clock_ns() -> u64 {
    CLOCK.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// A synthetic Opus-sized audio frame of `size` bytes stamped with `sent_ns` and its number.
pub fn audio_frame(sent_ns: u64, number: u32, size: usize) -> Vec<u8> {
    let mut frame = Vec::with_capacity(size.max(13));
    frame.push(AUDIO_MARK);
    frame.extend_from_slice(&sent_ns.to_be_bytes());
    frame.extend_from_slice(&number.to_be_bytes());
    frame.resize(size.max(13), 0x55);
    frame
}

/// A synthetic VP8 frame of `size` bytes stamped with `sent_ns` and its number, after a VP8
/// header (a keyframe's announces 640x360).
pub fn video_frame(sent_ns: u64, number: u32, size: usize, key: bool) -> Vec<u8> {
    let size = size.max(24);
    let mut frame = Vec::with_capacity(size);
    vp8::write_header(&mut frame, key, size, 640, 360);
    frame.extend_from_slice(&sent_ns.to_be_bytes());
    frame.extend_from_slice(&number.to_be_bytes());
    frame.resize(size, 0xaa);
    frame
}

/// What one RTP payload of the synthetic media says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stamp {
    /// Audio frame `number` (one per packet), sent at `sent_ns`.
    Audio { sent_ns: u64, number: u32 },
    /// The first packet of video frame `number`, sent at `sent_ns`.
    VideoStart {
        sent_ns: u64,
        number: u32,
        key: bool,
    },
    /// A later packet of a video frame.
    VideoRest,
}

/// Reads a payload: audio, or a VP8 payload descriptor and, at the start of a frame, its
/// header and stamp.
pub fn read_payload(payload: &[u8]) -> Option<Stamp> {
    if *payload.first()? == AUDIO_MARK {
        let (sent_ns, number) = stamp(payload.get(1..)?)?;
        return Some(Stamp::Audio { sent_ns, number });
    }
    if !vp8::starts_frame(payload) {
        return Some(Stamp::VideoRest);
    }
    let body = vp8::frame_data(payload)?;
    let key = vp8::is_keyframe(body)?;
    let (sent_ns, number) = stamp(body.get(vp8::header_len(key)..)?)?;
    Some(Stamp::VideoStart {
        sent_ns,
        number,
        key,
    })
}

/// The send time and frame number at the start of `bytes`.
fn stamp(bytes: &[u8]) -> Option<(u64, u32)> {
    let sent = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
    let number = u32::from_be_bytes(bytes.get(8..12)?.try_into().ok()?);
    Some((sent, number))
}

/// A `signal` to the SFU.
pub fn signal(session: i64, data: Value) -> Value {
    json!({"type": "signal", "session": session, "to": "sfu", "data": data})
}

/// One peer connection with the SFU and its UDP socket.
pub struct Peer {
    pub rtc: Rtc,
    pub socket: UdpSocket,
    local: SocketAddr,
    pending: Option<SdpPendingOffer>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer").field("local", &self.local).finish()
    }
}

impl Peer {
    /// A peer on a fresh socket of `ip`; `rtp_mode` hands received RTP packets out as they
    /// are, without depacketizing (subscribers), else str0m packetizes frames (publishers).
    pub async fn bind(ip: IpAddr, rtp_mode: bool) -> anyhow::Result<Peer> {
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
        let local = socket.local_addr()?;
        let mut rtc = Rtc::builder().set_rtp_mode(rtp_mode).build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp")?);
        Ok(Peer {
            rtc,
            socket,
            local,
            pending: None,
        })
    }

    /// An offer publishing audio and camera video, send-only; returns it and the two mids.
    pub fn offer_publish(&mut self) -> anyhow::Result<(Value, Mid, Mid)> {
        let mut change = self.rtc.sdp_api();
        let audio = change.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        let video = change.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
        let (offer, pending) = change.apply().context("no offer to make")?;
        self.pending = Some(pending);
        Ok((description("offer", offer.to_sdp_string()), audio, video))
    }

    /// The offer of a member that only receives: a data channel.
    pub fn offer_receive(&mut self) -> anyhow::Result<Value> {
        let mut change = self.rtc.sdp_api();
        change.add_channel("konsult".into());
        let (offer, pending) = change.apply().context("no offer to make")?;
        self.pending = Some(pending);
        Ok(description("offer", offer.to_sdp_string()))
    }

    /// Takes the `data` of a `signal` from the SFU; an offer's answer comes back to be sent.
    pub fn on_signal(&mut self, data: &Value) -> anyhow::Result<Option<Value>> {
        let sdp = data["sdp"].as_str().unwrap_or_default();
        match data["type"].as_str() {
            Some("answer") => {
                let answer = SdpAnswer::from_sdp_string(sdp)?;
                let pending = self.pending.take().context("an answer to no offer")?;
                self.rtc.sdp_api().accept_answer(pending, answer)?;
                Ok(None)
            }
            Some("offer") => {
                let offer = SdpOffer::from_sdp_string(sdp)?;
                let answer = self.rtc.sdp_api().accept_offer(offer)?;
                Ok(Some(description("answer", answer.to_sdp_string())))
            }
            // The SFU does not trickle; anything else is not for us.
            _ => Ok(None),
        }
    }

    /// Sends what str0m has to send and hands its events to `on_event`; returns when str0m
    /// next wants time, or an error once the peer is dead.
    pub fn drain(&mut self, mut on_event: impl FnMut(Event)) -> anyhow::Result<Instant> {
        loop {
            anyhow::ensure!(self.rtc.is_alive(), "peer connection closed");
            match self.rtc.poll_output()? {
                Output::Timeout(at) => return Ok(at),
                Output::Transmit(t) => {
                    // A full socket buffer drops the datagram, as a network would.
                    let _sent = self.socket.try_send_to(&t.contents, t.destination);
                }
                Output::Event(event) => on_event(event),
            }
        }
    }

    /// Feeds a received datagram to str0m.
    pub fn receive(&mut self, datagram: &[u8], source: SocketAddr) -> anyhow::Result<()> {
        let receive = Receive::new(Protocol::Udp, source, self.local, datagram)?;
        self.rtc
            .handle_input(Input::Receive(Instant::now(), receive))?;
        Ok(())
    }

    /// Tells str0m the time.
    pub fn tick(&mut self) -> anyhow::Result<()> {
        self.rtc.handle_input(Input::Timeout(Instant::now()))?;
        Ok(())
    }

    /// Writes a frame on a published track with the first payload type of `codec`.
    pub fn write(&mut self, mid: Mid, codec: Codec, rtp_time: MediaTime, frame: Vec<u8>) -> bool {
        let Some(writer) = self.rtc.writer(mid) else {
            return false;
        };
        let Some(pt) = writer
            .payload_params()
            .find(|p| p.spec().codec == codec)
            .map(|p| p.pt())
        else {
            return false;
        };
        writer.write(pt, Instant::now(), rtp_time, frame).is_ok()
    }
}

fn description(kind: &str, sdp: String) -> Value {
    json!({"type": kind, "sdp": sdp})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_survive_packetizing() {
        let audio = audio_frame(77, 3, 160);
        assert_eq!(
            read_payload(&audio),
            Some(Stamp::Audio {
                sent_ns: 77,
                number: 3
            })
        );
        // A VP8 payload descriptor with a 15-bit picture id, then the frame.
        let mut packet = vec![0x90, 0x80, 0x81, 0x23];
        packet.extend(video_frame(99, 4, 2000, true));
        assert_eq!(
            read_payload(&packet),
            Some(Stamp::VideoStart {
                sent_ns: 99,
                number: 4,
                key: true
            })
        );
        let mut delta = vec![0x10];
        delta.extend(video_frame(5, 6, 2000, false));
        assert_eq!(
            read_payload(&delta),
            Some(Stamp::VideoStart {
                sent_ns: 5,
                number: 6,
                key: false
            })
        );
        assert_eq!(read_payload(&[0x00, 1, 2, 3]), Some(Stamp::VideoRest));
    }
}
