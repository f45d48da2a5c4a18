//! What a test peer publishes and how it negotiates.

use std::net::SocketAddr;
use std::time::Duration;

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
