//! What the subscribers read from their packets: sequence gaps, frame numbers, the delay from
//! each frame's send stamp, the first keyframe; shared counters and one subscriber's own.

use crate::rtc::{Stamp, clock_ns, read_payload};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// What the subscribers have received, shared by their tasks.
#[derive(Debug, Default)]
pub(super) struct Counters {
    /// Whether delays are being recorded (the measured window).
    pub(super) measuring: AtomicBool,
    /// RTP packets with a payload received.
    pub(super) packets: AtomicU64,
    /// Packets the sequence numbers say were sent (highest minus first plus one, per stream):
    /// loss on the leg from the server to the subscriber.
    pub(super) expected: AtomicU64,
    /// Frames received (audio frames and video frames' first packets).
    pub(super) frames: AtomicU64,
    /// Frames the publisher's frame numbers say were sent since each subscriber's first: loss
    /// from the publisher to the subscriber, wherever it happened.
    pub(super) frames_expected: AtomicU64,
    /// Packets the publisher wrote (audio frames plus video frames' packets, estimated for
    /// Konsult by the frame size).
    pub(super) published: AtomicU64,
}

/// A subscriber's join: nanoseconds from its offer to connected and to the first keyframe.
#[derive(Clone, Copy, Debug)]
pub(super) struct Joined {
    pub(super) connect_ns: Option<u64>,
    pub(super) keyframe_ns: Option<u64>,
}

/// What one subscriber reads from its packets.
#[derive(Debug, Default)]
pub(super) struct Reception {
    /// Highest extended sequence number per SSRC.
    pub(super) streams: HashMap<u32, u64>,
    /// Highest audio and video frame numbers.
    pub(super) audio_frame: Option<u32>,
    pub(super) video_frame: Option<u32>,
    /// Delays from the send stamp, µs, in the measured window.
    pub(super) delays_us: Vec<u32>,
    pub(super) first_keyframe: Option<u64>,
}

impl Reception {
    /// Counts one RTP packet; returns its stamp.
    pub(super) fn packet(&mut self, ssrc: u32, seq: u64, payload: &[u8], counters: &Counters) {
        if payload.is_empty() {
            return;
        }
        let now = clock_ns();
        counters.packets.fetch_add(1, Ordering::Relaxed);
        let new = match self.streams.get_mut(&ssrc) {
            None => {
                self.streams.insert(ssrc, seq);
                1
            }
            Some(highest) if seq > *highest => {
                let gap = seq - *highest;
                *highest = seq;
                gap
            }
            Some(_) => 0,
        };
        counters.expected.fetch_add(new, Ordering::Relaxed);
        let sent = match read_payload(payload) {
            Some(Stamp::Audio { sent_ns, number }) => {
                count_frame(&mut self.audio_frame, number, counters);
                Some(sent_ns)
            }
            Some(Stamp::VideoStart {
                sent_ns,
                number,
                key,
            }) => {
                if key && self.first_keyframe.is_none() {
                    self.first_keyframe = Some(now);
                }
                count_frame(&mut self.video_frame, number, counters);
                Some(sent_ns)
            }
            _ => None,
        };
        if let Some(sent) = sent
            && counters.measuring.load(Ordering::Relaxed)
        {
            self.delays_us
                .push((now.saturating_sub(sent) / 1_000).min(u64::from(u32::MAX)) as u32);
        }
    }
}

/// Counts frame `number` against the highest seen so far.
pub(super) fn count_frame(highest: &mut Option<u32>, number: u32, counters: &Counters) {
    counters.frames.fetch_add(1, Ordering::Relaxed);
    let new = match *highest {
        None => 1,
        Some(h) if number > h => number - h,
        Some(_) => 0,
    };
    if new > 0 {
        *highest = Some(number);
    }
    counters
        .frames_expected
        .fetch_add(u64::from(new), Ordering::Relaxed);
}
