//! The SFU over bad networks: a lossy, jittery link recovered by NACK, and ICE over TCP for a
//! member without UDP.

use super::*;

/// A UDP relay between one peer and the SFU that drops `loss` of the datagrams and delays each
/// by up to `jitter`, both ways.
struct LossyProxy {
    /// The address the peer sends to.
    addr: SocketAddr,
    pub dropped: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl LossyProxy {
    async fn start(target: SocketAddr, loss: f64, jitter: Duration) -> LossyProxy {
        let outside = Arc::new(
            tokio::net::UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("bind"),
        );
        let inside = Arc::new(
            tokio::net::UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("bind"),
        );
        let addr = outside.local_addr().expect("addr");
        let dropped = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn({
            let dropped = dropped.clone();
            async move {
                let mut rng = 0x2545_f491_4f6c_dd1du64;
                let mut random = move || {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    (rng >> 11) as f64 / (1u64 << 53) as f64
                };
                let mut peer: Option<SocketAddr> = None;
                let mut a = vec![0u8; 2048];
                let mut b = vec![0u8; 2048];
                loop {
                    let (data, socket, to) = tokio::select! {
                        r = outside.recv_from(&mut a) => {
                            let Ok((n, from)) = r else { continue };
                            peer = Some(from);
                            (a[..n].to_vec(), inside.clone(), target)
                        }
                        r = inside.recv_from(&mut b) => {
                            let Ok((n, _)) = r else { continue };
                            let Some(to) = peer else { continue };
                            (b[..n].to_vec(), outside.clone(), to)
                        }
                    };
                    if random() < loss {
                        dropped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let delay = jitter.mul_f64(random());
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        // A lost datagram is what this relay is for.
                        let _lost = socket.send_to(&data, to).await;
                    });
                }
            }
        });
        LossyProxy {
            addr,
            dropped,
            task,
        }
    }
}

impl Drop for LossyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_survives_loss_and_jitter_through_nack() {
    let port = free_udp_port();
    let sfu: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let server = Server::start(ServerOptions::demo().env("KONSULT_MEDIA_LISTEN", &sfu.to_string()));
    let (mut teacher, teacher_id) = connect(&server, "teacher3").await;
    let mut students = vec![connect(&server, "student9").await];
    let session = session_with(&mut teacher, &mut students, "group").await;
    let host = link(
        &server,
        "teacher3",
        session,
        Route::Sfu,
        PeerOptions {
            audio: false,
            keyframe_interval: Duration::from_secs(2),
            ..PeerOptions::default()
        },
    )
    .await;
    let proxy = LossyProxy::start(sfu, 0.05, Duration::from_millis(100)).await;
    let weak = link(
        &server,
        "student9",
        session,
        Route::Sfu,
        PeerOptions {
            send_candidates: false,
            rewrite_remote: Some((sfu, proxy.addr)),
            ..PeerOptions::receive_only()
        },
    )
    .await;
    assert!(
        weak.wait_for(Duration::from_secs(40), |c| frames(c, teacher_id, "video")
            >= 30)
            .await,
        "{:?}",
        weak.counters.received()
    );
    let nacks_before = metric(&server, "konsult_sfu_nacks_total");
    tokio::time::sleep(Duration::from_secs(8)).await;
    let t = track(&weak.counters, teacher_id, "video");
    assert_eq!(t.corrupt, 0);
    let first = *t.frames.first().expect("frames");
    let last = *t.frames.last().expect("frames");
    let span = f64::from(last - first + 1);
    let ratio = t.frames.len() as f64 / span;
    let nacks = metric(&server, "konsult_sfu_nacks_total") - nacks_before;
    let dropped = proxy.dropped.load(Ordering::Relaxed);
    eprintln!(
        "lossy link: {} of {span} frames arrived ({:.1}%), {dropped} datagrams dropped, {nacks} NACKs",
        t.frames.len(),
        ratio * 100.0
    );
    assert!(dropped > 0, "the proxy dropped nothing");
    assert!(nacks > 0.0, "no NACK reached the SFU");
    // 5% loss without retransmission would leave about 95%.
    assert!(
        ratio >= 0.98,
        "only {:.1}% of frames arrived",
        ratio * 100.0
    );
    host.stop().await;
    weak.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_without_udp_reaches_the_sfu_over_tcp() {
    let server = Server::start(ServerOptions::demo());
    let (mut teacher, teacher_id) = connect(&server, "teacher2").await;
    let mut students = vec![connect(&server, "student10").await];
    let student_id = students[0].1;
    let session = session_with(&mut teacher, &mut students, "group").await;
    let host = sfu_link(&server, "teacher2", session).await;
    let tcp = link(
        &server,
        "student10",
        session,
        Route::Sfu,
        PeerOptions {
            tcp_only: true,
            ..PeerOptions::default()
        },
    )
    .await;
    assert!(
        tcp.wait_for(MEDIA_WAIT, |c| frames(c, teacher_id, "video") >= 30)
            .await,
        "{:?} / errors {:?}",
        tcp.counters.received(),
        tcp.errors.lock().unwrap()
    );
    assert!(
        host.wait_for(MEDIA_WAIT, |c| frames(c, student_id, "video") >= 30)
            .await
    );
    assert_intact(&track(&tcp.counters, teacher_id, "video"), 30);
    assert_intact(&track(&host.counters, student_id, "video"), 30);
    // The member has no UDP socket at all; its 30 frames and more came in over TCP.
    let over_tcp = metric(&server, "konsult_sfu_tcp_received_packets_total");
    assert!(over_tcp >= 30.0, "{over_tcp} packets over ICE-TCP");
    host.stop().await;
    tcp.stop().await;
}
