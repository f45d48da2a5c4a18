//! A WebRTC client peer on the `webrtc` crate that negotiates through Konsult's `signal`
//! messages, peer to peer or with the SFU, publishes synthetic media (VP8 frames with real
//! keyframe headers, Opus-sized audio) and counts what it receives, checking every payload.
//!
//! [`MediaPeer`] is the peer connection alone: feed it the `data` of `signal`s and send what
//! comes out of its outbox. [`MediaLink`] runs one over a WebSocket connection of its own,
//! following the session from peer to peer to the SFU as a browser does.

mod counters;
mod frames;
mod keyframe_requests;
mod link;
mod options;
mod peer;
mod sender;

pub use counters::{Counters, SentStats, TrackStats};
pub use frames::{check_frame, make_frame};
pub use link::{MediaLink, Route};
pub use options::PeerOptions;
pub use peer::MediaPeer;
