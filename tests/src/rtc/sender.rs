//! The task that feeds one published track with synthetic frames.

use super::counters::Counters;
use super::frames::make_frame;
use super::options::PeerOptions;
use ::rtc::media::Sample;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::rtp_transceiver::RtpSender;

/// One published track.
pub(super) struct Source {
    pub track: Arc<TrackLocalStaticSample>,
    /// Its sender, which knows the negotiated payload type.
    pub sender: Arc<dyn RtpSender>,
    pub ssrc: u32,
    pub video: bool,
}

/// What a track's feeding task shares with its peer.
pub(super) struct Feed {
    pub options: PeerOptions,
    pub counters: Arc<Counters>,
    /// Set when the peer closes.
    pub stop: Arc<AtomicBool>,
    /// Set by a keyframe request; the next video frame is a keyframe.
    pub wants_key: Arc<AtomicBool>,
}

/// Feeds a track with synthetic frames once its codec is negotiated.
pub(super) async fn send_frames(source: Source, feed: Feed) {
    let Source {
        track,
        sender,
        ssrc,
        video,
    } = source;
    let Feed {
        options,
        counters,
        stop,
        wants_key,
    } = feed;
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
