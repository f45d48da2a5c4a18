//! Students' cameras in a frontal session: the host sees every student's camera, a student
//! sees no other student's until the host shows the class to itself, counted both on the wire
//! from the SFU and at the receiving peer.

use super::*;
use std::collections::HashMap;
use std::sync::Mutex;

/// A UDP relay between one peer and the SFU that counts the RTP packets the SFU sends to the
/// peer, by SSRC. SRTP leaves the RTP header in the clear, so this is what the SFU really sent,
/// whatever the peer does with it.
struct WireCounter {
    /// The address the peer sends to.
    addr: SocketAddr,
    /// RTP packets from the SFU to the peer, by SSRC.
    rtp: Arc<Mutex<HashMap<u32, u64>>>,
    task: tokio::task::JoinHandle<()>,
}

impl WireCounter {
    async fn start(target: SocketAddr) -> WireCounter {
        let outside = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let inside = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = outside.local_addr().expect("addr");
        let rtp = Arc::new(Mutex::new(HashMap::new()));
        let task = tokio::spawn({
            let rtp = rtp.clone();
            async move {
                let mut peer: Option<SocketAddr> = None;
                let mut a = vec![0u8; 2048];
                let mut b = vec![0u8; 2048];
                loop {
                    tokio::select! {
                        r = outside.recv_from(&mut a) => {
                            let Ok((n, from)) = r else { continue };
                            peer = Some(from);
                            // A datagram lost on loopback is the peer's to retransmit.
                            let _lost = inside.send_to(&a[..n], target).await;
                        }
                        r = inside.recv_from(&mut b) => {
                            let Ok((n, _)) = r else { continue };
                            let Some(to) = peer else { continue };
                            if let Some(ssrc) = rtp_ssrc(&b[..n]) {
                                *rtp.lock().expect("counts").entry(ssrc).or_default() += 1;
                            }
                            let _lost = outside.send_to(&b[..n], to).await;
                        }
                    }
                }
            }
        });
        WireCounter { addr, rtp, task }
    }

    fn counts(&self) -> HashMap<u32, u64> {
        self.rtp.lock().expect("counts").clone()
    }

    /// The SSRCs that carried at least `min` RTP packets to the peer during `window`.
    async fn active(&self, window: Duration, min: u64) -> Vec<u32> {
        let before = self.counts();
        tokio::time::sleep(window).await;
        let mut active: Vec<u32> = self
            .counts()
            .into_iter()
            .filter(|(ssrc, n)| n - before.get(ssrc).copied().unwrap_or(0) >= min)
            .map(|(ssrc, _)| ssrc)
            .collect();
        active.sort_unstable();
        active
    }
}

impl Drop for WireCounter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The SSRC of an RTP packet (not RTCP, STUN or DTLS), from its clear header.
fn rtp_ssrc(datagram: &[u8]) -> Option<u32> {
    let version = datagram.first()? >> 6;
    // RTCP's packet types 192..=223 show as 64..=95 without the marker bit.
    let payload_type = datagram.get(1)? & 0x7f;
    if version != 2 || (64..=95).contains(&payload_type) || datagram.len() < 12 {
        return None;
    }
    Some(u32::from_be_bytes(datagram[8..12].try_into().ok()?))
}

async fn show_cameras(teacher: &mut WsClient, session: i64, to: &str) {
    let shown = teacher
        .request(json!({"type": "show_cameras", "session": session, "to": to}))
        .await;
    assert_eq!(shown["type"], "ok", "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_students_camera_reaches_the_host_only_until_the_class_is_shown() {
    let port = free_udp_port();
    let sfu: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let server = Server::start(ServerOptions::demo().env("KONSULT_MEDIA_LISTEN", &sfu.to_string()));
    let (mut teacher, teacher_id) = connect(&server, "teacher1").await;
    let mut students = vec![
        connect(&server, "student3").await,
        connect(&server, "student4").await,
    ];
    let (a_id, b_id) = (students[0].1, students[1].1);
    let session = session_with(&mut teacher, &mut students, "frontal").await;
    let host = sfu_link(&server, "teacher1", session).await;
    let wire = WireCounter::start(sfu).await;
    let a = link(
        &server,
        "student3",
        session,
        Route::Sfu,
        PeerOptions {
            send_candidates: false,
            rewrite_remote: Some((sfu, wire.addr)),
            ..PeerOptions::default()
        },
    )
    .await;
    let b = sfu_link(&server, "student4", session).await;

    // The host receives both students' cameras, whole, from a keyframe.
    assert!(
        host.wait_for(MEDIA_WAIT, |c| frames(c, a_id, "video") >= 30
            && frames(c, b_id, "video") >= 30)
            .await,
        "{:?}",
        host.counters.received()
    );
    assert_intact(&track(&host.counters, a_id, "video"), 30);
    assert_intact(&track(&host.counters, b_id, "video"), 30);
    // Without the floor a student is not heard, not even by the host.
    assert_eq!(frames(&host.counters, a_id, "audio"), 0);
    assert!(
        a.wait_for(MEDIA_WAIT, |c| frames(c, teacher_id, "video") >= 30)
            .await
    );

    // Student A gets the host's audio and video and nothing else: on the wire two SSRCs carry
    // RTP to it (B publishes audio and video at 30 and 50 packets a second), and its peer has
    // no track of B's.
    let active = wire.active(Duration::from_secs(2), 20).await;
    assert_eq!(active.len(), 2, "RTP to student A on SSRCs {active:?}");
    assert!(a.counters.track(&b_id.to_string(), "video").is_none());
    assert!(a.counters.track(&b_id.to_string(), "audio").is_none());
    let host_only: u64 = wire.counts().values().sum();

    // The class sees itself: B's camera reaches A, renegotiated, from a keyframe; still not
    // B's voice.
    show_cameras(&mut teacher, session, "class").await;
    assert!(
        a.wait_for(MEDIA_WAIT, |c| frames(c, b_id, "video") >= 30)
            .await,
        "{:?}",
        a.counters.received()
    );
    assert_intact(&track(&a.counters, b_id, "video"), 30);
    assert!(
        b.wait_for(MEDIA_WAIT, |c| frames(c, a_id, "video") >= 30)
            .await
    );
    let active = wire.active(Duration::from_secs(2), 20).await;
    assert_eq!(active.len(), 3, "RTP to student A on SSRCs {active:?}");
    assert!(wire.counts().values().sum::<u64>() > host_only);
    assert_eq!(frames(&a.counters, b_id, "audio"), 0);

    // Private again: B's track to A is stopped; the host still sees both.
    show_cameras(&mut teacher, session, "host").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let active = wire.active(Duration::from_secs(2), 1).await;
    assert_eq!(active.len(), 2, "RTP to student A on SSRCs {active:?}");
    let then = frames(&a.counters, b_id, "video");
    let host_then = frames(&host.counters, b_id, "video");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(frames(&a.counters, b_id, "video"), then);
    assert!(frames(&host.counters, b_id, "video") >= host_then + 20);

    // A student may not change the rule.
    let (a_ws, _) = &mut students[0];
    let refused = a_ws
        .request(json!({"type": "show_cameras", "session": session, "to": "class"}))
        .await;
    assert_eq!(refused["code"], "forbidden", "{refused}");
    for l in [host, a, b] {
        l.stop().await;
    }
}

/// In a group session every camera reaches everyone, and `show_cameras` is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_session_shows_every_camera_to_everyone() {
    let server = Server::start(ServerOptions::demo());
    let (mut teacher, _) = connect(&server, "teacher2").await;
    let mut students = vec![
        connect(&server, "student5").await,
        connect(&server, "student6").await,
    ];
    let b_id = students[1].1;
    let session = session_with(&mut teacher, &mut students, "group").await;
    let host = sfu_link(&server, "teacher2", session).await;
    let a = sfu_link(&server, "student5", session).await;
    let b = sfu_link(&server, "student6", session).await;
    assert!(
        a.wait_for(MEDIA_WAIT, |c| frames(c, b_id, "video") >= 30
            && frames(c, b_id, "audio") >= 30)
            .await,
        "{:?}",
        a.counters.received()
    );
    let refused = teacher
        .request(json!({"type": "show_cameras", "session": session, "to": "host"}))
        .await;
    assert_eq!(refused["code"], "conflict", "{refused}");
    for l in [host, a, b] {
        l.stop().await;
    }
}
