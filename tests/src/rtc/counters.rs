//! What a test peer counted, sent and received, shared with the tasks that count it.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Instant;

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
    /// Whether the first frame received was a keyframe (video). Peer to peer, frames before
    /// the first keyframe are dropped as a decoder drops them (`before_keyframe`) and a
    /// keyframe asked for: this is then whether the first frame kept was one.
    pub first_was_keyframe: Option<bool>,
    /// Peer to peer: frames that came before the first keyframe (its packets lost while the
    /// connection was being set up), dropped, with a PLI sent for a keyframe.
    pub before_keyframe: u64,
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
