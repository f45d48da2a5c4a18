//! Row f against the baseline: `konsult-baseline udp` forwarding plain RTP-like packets, the
//! same frames on the same schedule, to UDP subscribers.

use super::reception::{Counters, Reception};
use super::run::{Run, window};
use super::{AUDIO_PER_SEC, BASELINE_MTU, MediaArgs};
use crate::rtc::{audio_frame, clock_ns, video_frame};
use crate::scenario::Common;
use crate::stats::sort;
use konsult_testkit::ws::source;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// The baseline: `konsult-baseline udp` forwards plain RTP-like packets (no SRTP, no ICE) to
/// every subscriber socket that said `subscribe`; the same schedule and packet sizes.
pub(super) async fn run(
    common: &Common,
    subscribers: usize,
    secs: u64,
    media: &MediaArgs,
) -> anyhow::Result<Run> {
    let mut spec = common.spec(&[]);
    spec.baseline_command = "udp";
    let target = crate::target::Target::start(&spec)?;
    let counters = Arc::new(Counters::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let (joined_tx, mut joined_rx) = mpsc::unbounded_channel::<bool>();
    let mut tasks = Vec::new();
    for i in 0..subscribers {
        let src = source(i + 1, common.sources);
        let (counters, mut stop, joined) = (counters.clone(), stop_rx.clone(), joined_tx.clone());
        let addr = target.addr;
        tasks.push(tokio::spawn(async move {
            let result: anyhow::Result<Vec<u32>> = async {
                let socket = tokio::net::UdpSocket::bind(SocketAddr::new(src, 0)).await?;
                socket
                    .send_to(crate::udp_forwarder::SUBSCRIBE, addr)
                    .await?;
                let mut reception = Reception::default();
                let mut last: HashMap<u32, u64> = HashMap::new();
                let mut buf = vec![0u8; 2048];
                let mut reported = false;
                loop {
                    tokio::select! {
                        r = socket.recv_from(&mut buf) => {
                            let (n, _) = r?;
                            let Some((ssrc, seq16, payload)) = rtp_parts(&buf[..n]) else {
                                continue;
                            };
                            let seq = extend_seq(last.entry(ssrc).or_insert(u64::from(seq16)), seq16);
                            reception.packet(ssrc, seq, payload, &counters);
                            if !reported && reception.first_keyframe.is_some() {
                                reported = true;
                                let _ = joined.send(true);
                            }
                        }
                        _ = stop.changed() => break,
                    }
                }
                Ok(reception.delays_us)
            }
            .await;
            result.unwrap_or_else(|e| {
                eprintln!("baseline subscriber {i}: {e:#}");
                let _ = joined.send(false);
                Vec::new()
            })
        }));
    }
    drop(joined_tx);
    // Subscriptions reach the forwarder before the first packet is sent.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let publisher = tokio::spawn(publish_plain(
        target.addr,
        counters.clone(),
        media.clone(),
        stop_rx.clone(),
    ));
    let mut run = Run::default();
    let started = Instant::now();
    for _ in 0..subscribers {
        match tokio::time::timeout(Duration::from_secs(10), joined_rx.recv()).await {
            Ok(Some(true)) => run.receiving += 1,
            Ok(Some(false)) => {}
            _ => break,
        }
    }
    run.join_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    window(target.pid, secs, &counters, &mut run).await?;
    stop_tx.send(true)?;
    let mut delays = Vec::new();
    for task in tasks {
        delays.extend(task.await?);
    }
    let _ = publisher.await;
    run.delays_ms = delays.iter().map(|&us| f64::from(us) / 1e3).collect();
    sort(&mut run.delays_ms);
    Ok(run)
}

/// SSRC, sequence number and payload of an RTP packet with a plain 12-byte header.
fn rtp_parts(packet: &[u8]) -> Option<(u32, u16, &[u8])> {
    if packet.len() < 12 || packet[0] >> 6 != 2 {
        return None;
    }
    let seq = u16::from_be_bytes([packet[2], packet[3]]);
    let ssrc = u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]);
    Some((ssrc, seq, &packet[12..]))
}

/// Extends a 16-bit sequence number next to the last extended one.
fn extend_seq(last: &mut u64, seq: u16) -> u64 {
    let delta = i64::from(seq.wrapping_sub(*last as u16) as i16);
    let extended = (*last as i64 + delta).max(0) as u64;
    *last = (*last).max(extended);
    extended
}

/// An RTP packet with a plain 12-byte header.
fn rtp_packet(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(12 + payload.len());
    p.push(0x80);
    p.push(pt | if marker { 0x80 } else { 0 });
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// The baseline's publisher: the same frames as Konsult's publisher, cut into packets with a one-byte
/// VP8 payload descriptor, sent in the clear.
async fn publish_plain(
    to: SocketAddr,
    counters: Arc<Counters>,
    media: MediaArgs,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let frame_bytes = media.frame_bytes();
    let mut audio_tick = tokio::time::interval(Duration::from_secs(1) / AUDIO_PER_SEC);
    let mut video_tick = tokio::time::interval(Duration::from_secs(1) / media.fps.max(1));
    let (mut audio_seq, mut video_seq, mut frames, mut audio_n) = (0u16, 0u16, 0u64, 0u32);
    loop {
        tokio::select! {
            _ = audio_tick.tick() => {
                let frame = audio_frame(clock_ns(), audio_n, media.audio_bytes);
                audio_n += 1;
                let ts = (u64::from(audio_seq) * 960) as u32;
                let packet = rtp_packet(111, true, audio_seq, ts, 1, &frame);
                audio_seq = audio_seq.wrapping_add(1);
                if socket.send_to(&packet, to).await.is_ok() {
                    counters.published.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ = video_tick.tick() => {
                // A keyframe every 10 s; the first frame is one.
                let key = frames.is_multiple_of(u64::from(media.fps.max(1)) * 10);
                let frame = video_frame(clock_ns(), frames as u32, frame_bytes, key);
                let ts = (frames * 90_000 / u64::from(media.fps.max(1))) as u32;
                frames += 1;
                let chunks: Vec<&[u8]> = frame.chunks(BASELINE_MTU).collect();
                for (k, chunk) in chunks.iter().enumerate() {
                    let mut payload = Vec::with_capacity(chunk.len() + 1);
                    payload.push(if k == 0 { 0x10 } else { 0x00 });
                    payload.extend_from_slice(chunk);
                    let packet =
                        rtp_packet(96, k + 1 == chunks.len(), video_seq, ts, 2, &payload);
                    video_seq = video_seq.wrapping_add(1);
                    if socket.send_to(&packet, to).await.is_ok() {
                        counters.published.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            _ = stop.changed() => break,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_extend_across_the_wrap() {
        let mut last = 65_534u64;
        assert_eq!(extend_seq(&mut last, 65_535), 65_535);
        assert_eq!(extend_seq(&mut last, 0), 65_536);
        assert_eq!(extend_seq(&mut last, 65_535), 65_535);
        assert_eq!(last, 65_536);
    }

    #[test]
    fn plain_rtp_round_trips() {
        let p = rtp_packet(96, true, 7, 9000, 2, b"abc");
        assert_eq!(rtp_parts(&p), Some((2, 7, &b"abc"[..])));
    }
}
