//! Live media against the real binary with WebRTC peers on the `webrtc` crate: peer to peer
//! through the relay, the SFU forwarding intact payloads to every member, floor control and
//! mute, students' cameras seen by the host only in a frontal session, a late joiner starting from a keyframe, the fallback from a blocked peer-to-peer path,
//! a whole class in a frontal session, a lossy, jittery link recovered by NACK, ICE over TCP,
//! `audio_only` media states, and the call on a user's two devices.

mod cameras;
mod network;
mod p2p;
mod sfu;

use konsult_testkit::{Server, ServerOptions, WsClient};
use konsult_tests::rtc::{Counters, MediaLink, PeerOptions, Route, TrackStats};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long media may take to start flowing.
const MEDIA_WAIT: Duration = Duration::from_secs(20);

async fn connect(server: &Server, login: &str) -> (WsClient, i64) {
    let (client, welcome) = WsClient::connect_as(server, login).await;
    (client, welcome["user"]["id"].as_i64().expect("user id"))
}

/// A media link of `login` on its own connection.
async fn link(
    server: &Server,
    login: &str,
    session: i64,
    route: Route,
    options: PeerOptions,
) -> MediaLink {
    let (ws, _) = WsClient::connect_as(server, login).await;
    MediaLink::start(ws, session, route, options).await
}

/// A member's media link with the SFU, with default peer options.
async fn sfu_link(server: &Server, login: &str, session: i64) -> MediaLink {
    link(server, login, session, Route::Sfu, PeerOptions::default()).await
}

/// The teacher creates a session of `form`; each student joins.
async fn session_with(teacher: &mut WsClient, students: &mut [(WsClient, i64)], form: &str) -> i64 {
    let invite: Vec<i64> = students.iter().map(|(_, id)| *id).collect();
    let started = teacher
        .request(
            json!({"type": "create_session", "form": form, "subject": "math",
                        "title": "Разбор задач", "invite": invite}),
        )
        .await;
    assert_eq!(started["type"], "session_started", "{started}");
    assert_eq!(started["session"]["media"], "sfu");
    let session = started["session"]["id"].as_i64().expect("session id");
    for (client, _) in students.iter_mut() {
        let joined = client
            .request(json!({"type": "join_session", "session": session}))
            .await;
        assert_eq!(joined["type"], "session_started", "{joined}");
    }
    session
}

/// A free UDP port on loopback.
fn free_udp_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("addr").port()
}

/// Frames of `stream`'s `kind` track a link received so far.
fn frames(counters: &Counters, stream: i64, kind: &str) -> u64 {
    counters
        .track(&stream.to_string(), kind)
        .map_or(0, |t| t.intact)
}

fn track(counters: &Counters, stream: i64, kind: &str) -> TrackStats {
    counters
        .track(&stream.to_string(), kind)
        .unwrap_or_else(|| panic!("no {kind} track from {stream}: {:?}", counters.received()))
}

/// Reads one counter or gauge from /metrics (summing its label sets).
fn metric(server: &Server, name: &str) -> f64 {
    let text = server.metrics();
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Asserts a received track arrived whole: frames intact, none corrupt, the first a keyframe.
fn assert_intact(t: &TrackStats, min: u64) {
    assert!(t.intact >= min, "only {} intact frames: {t:?}", t.intact);
    assert_eq!(t.corrupt, 0, "corrupt frames: {t:?}");
    if t.kind != "audio" {
        assert_eq!(t.first_was_keyframe, Some(true), "first frame: {t:?}");
    }
}
