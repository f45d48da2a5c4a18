//! Peer to peer through the relay, the fallback to the SFU from a blocked path, and the call
//! on a user's two devices.

use super::*;

/// Pairs student and teacher in an individual session (peer to peer).
async fn individual(
    server: &Server,
    teacher: &str,
    student: &str,
) -> (WsClient, i64, WsClient, i64, i64) {
    let (mut t, teacher_id) = connect(server, teacher).await;
    let ok = t
        .request(json!({"type": "set_status", "status": "available"}))
        .await;
    assert_eq!(ok["type"], "ok");
    let (mut s, student_id) = connect(server, student).await;
    let queued = s
        .request(
            json!({"type": "request_help", "subject": "math", "form": "individual",
                        "mode": "online", "topic": "Дроби"}),
        )
        .await;
    assert_eq!(queued["type"], "request_queued", "{queued}");
    let offer = t.recv_type("help_offer").await;
    let started = t
        .request(json!({"type": "accept", "request": offer["request"]["id"]}))
        .await;
    assert_eq!(started["session"]["media"], "p2p", "{started}");
    let session = started["session"]["id"].as_i64().expect("session id");
    s.recv_type("session_started").await;
    (t, teacher_id, s, student_id, session)
}

/// A media link of `login` on a device of its own that takes the session's media over with
/// `join_session`, so that the other member's signals reach it (docs/protocol.md, One user,
/// several devices).
async fn device_link(
    server: &Server,
    login: &str,
    session: i64,
    route: Route,
    options: PeerOptions,
) -> MediaLink {
    let (mut ws, _) = WsClient::connect_as(server, login).await;
    let joined = ws
        .request(json!({"type": "join_session", "session": session}))
        .await;
    assert_eq!(joined["type"], "session_started", "{joined}");
    MediaLink::start(ws, session, route, options).await
}

/// Peer-to-peer links of teacher (answering) and student (offering), each on a new device.
async fn p2p_pair(
    server: &Server,
    session: i64,
    teacher: (&str, i64),
    student: (&str, i64),
    options: PeerOptions,
) -> (MediaLink, MediaLink) {
    let answerer = Route::P2p {
        other: student.1,
        offerer: false,
    };
    let t = device_link(server, teacher.0, session, answerer, options.clone()).await;
    let offerer = Route::P2p {
        other: teacher.1,
        offerer: true,
    };
    let s = device_link(server, student.0, session, offerer, options).await;
    (t, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_exchange_media_directly_through_the_relay() {
    let server = Server::start(ServerOptions::demo());
    let (t, teacher_id, s, student_id, session) = individual(&server, "teacher2", "student7").await;
    // Each member's media on the connection it consults on; the answerer listens first.
    let answerer = Route::P2p {
        other: student_id,
        offerer: false,
    };
    let teacher = MediaLink::start(t, session, answerer, PeerOptions::default()).await;
    let offerer = Route::P2p {
        other: teacher_id,
        offerer: true,
    };
    let student = MediaLink::start(s, session, offerer, PeerOptions::default()).await;
    for (me, name) in [(&student, "student"), (&teacher, "teacher")] {
        let got = me
            .wait_for(MEDIA_WAIT, |c| {
                let r = c.received();
                r.get("video").is_some_and(|t| t.intact >= 30)
                    && r.get("audio").is_some_and(|t| t.intact >= 30)
            })
            .await;
        assert!(
            got,
            "{name} received {:?}, errors {:?}",
            me.counters.received().keys().collect::<Vec<_>>(),
            me.errors.lock().unwrap()
        );
        let r = me.counters.received();
        assert_intact(&r["video"], 30);
        assert_intact(&r["audio"], 30);
    }
    assert!(!student.on_sfu.load(Ordering::SeqCst));
    assert_eq!(metric(&server, "konsult_sfu_members"), 0.0);
    student.stop().await;
    teacher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_peer_to_peer_path_falls_back_to_the_sfu() {
    let server = Server::start(ServerOptions::demo().env("KONSULT_MEDIA_P2P_TIMEOUT", "2s"));
    let (mut t, teacher_id, _s, student_id, session) =
        individual(&server, "teacher1", "student8").await;
    // Neither side tells the other an address: ICE has nothing to try.
    let hidden = PeerOptions {
        send_candidates: false,
        ..PeerOptions::default()
    };
    // The answerer listens before the offer goes out.
    let (teacher, student) = p2p_pair(
        &server,
        session,
        ("teacher1", teacher_id),
        ("student8", student_id),
        hidden,
    )
    .await;
    let state = t
        .recv_where(|m| m["type"] == "session_state" && m["media"] == "sfu")
        .await;
    assert_eq!(state["session"], session);
    for (me, other) in [(&student, teacher_id), (&teacher, student_id)] {
        assert!(
            me.wait_for(MEDIA_WAIT, |c| frames(c, other, "video") >= 30)
                .await,
            "{:?} / errors {:?}",
            me.counters.received(),
            me.errors.lock().unwrap()
        );
        assert!(me.on_sfu.load(Ordering::SeqCst));
        assert_intact(&track(&me.counters, other, "video"), 30);
    }
    t.recv_where(|m| {
        m["type"] == "session_state"
            && m["members"]
                .as_array()
                .is_some_and(|ms| ms.iter().all(|x| x["media"] == "connected"))
    })
    .await;
    student.stop().await;
    teacher.stop().await;
}

/// A `signal` candidate from `from` to `to` in `session`, marked with `tag` to be told apart.
fn candidate(session: i64, to: i64, tag: &str) -> Value {
    json!({"type": "signal", "session": session, "to": to,
           "data": {"candidate": format!("candidate:{tag} 1 udp 2130706431 127.0.0.1 9 typ host"),
                    "sdpMid": "0"}})
}

fn is_signal(tag: &str) -> impl Fn(&Value) -> bool + '_ {
    move |m| {
        m["type"] == "signal"
            && m["data"]["candidate"]
                .as_str()
                .is_some_and(|c| c.starts_with(&format!("candidate:{tag} ")))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teacher_on_two_devices_gets_the_call_on_the_one_that_accepted() {
    let server = Server::start(ServerOptions::demo());
    let (mut desk, _) = connect(&server, "teacher3").await;
    let ok = desk
        .request(json!({"type": "set_status", "status": "available"}))
        .await;
    assert_eq!(ok["type"], "ok");
    let (mut laptop, teacher_id) = connect(&server, "teacher3").await;
    let (mut s, student_id) = connect(&server, "student3").await;
    let queued = s
        .request(
            json!({"type": "request_help", "subject": "russian", "form": "individual",
                        "mode": "online", "topic": "Дроби"}),
        )
        .await;
    assert_eq!(queued["type"], "request_queued", "{queued}");
    // Both devices get the offer; the laptop takes it.
    desk.recv_type("help_offer").await;
    let offer = laptop.recv_type("help_offer").await;
    let started = laptop
        .request(json!({"type": "accept", "request": offer["request"]["id"]}))
        .await;
    assert_eq!(started["session"]["media"], "p2p", "{started}");
    let session = started["session"]["id"].as_i64().expect("session id");
    s.recv_type("session_started").await;
    // Real peers: the student offers, the laptop answers; media flows between them.
    let teacher = MediaLink::start(
        laptop,
        session,
        Route::P2p {
            other: student_id,
            offerer: false,
        },
        PeerOptions::default(),
    )
    .await;
    let student = MediaLink::start(
        s,
        session,
        Route::P2p {
            other: teacher_id,
            offerer: true,
        },
        PeerOptions::default(),
    )
    .await;
    for (me, name) in [(&teacher, "laptop"), (&student, "student")] {
        assert!(
            me.wait_for(MEDIA_WAIT, |c| c
                .received()
                .get("video")
                .is_some_and(|t| t.intact >= 30))
                .await,
            "{name} received {:?}, errors {:?}",
            me.counters.received(),
            me.errors.lock().unwrap()
        );
    }
    assert!(!student.on_sfu.load(Ordering::SeqCst));
    // The desk, the teacher's other device, saw none of the negotiation.
    assert!(
        !desk
            .sees_within(Duration::from_millis(300), |m| m["type"] == "signal")
            .await,
        "{:?}",
        desk.pending()
    );
    teacher.stop().await;
    student.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_follow_the_device_that_carries_the_media() {
    let server = Server::start(ServerOptions::demo());
    let (mut desk, _) = connect(&server, "teacher3").await;
    let ok = desk
        .request(json!({"type": "set_status", "status": "available"}))
        .await;
    assert_eq!(ok["type"], "ok");
    let (mut laptop, teacher) = connect(&server, "teacher3").await;
    let (mut s, student) = connect(&server, "student3").await;
    s.request(
        json!({"type": "request_help", "subject": "russian", "form": "individual",
                     "mode": "online", "topic": "Дроби"}),
    )
    .await;
    let offer = laptop.recv_type("help_offer").await;
    let started = laptop
        .request(json!({"type": "accept", "request": offer["request"]["id"]}))
        .await;
    let session = started["session"]["id"].as_i64().expect("session id");
    s.recv_type("session_started").await;
    let quiet = Duration::from_millis(300);

    // The laptop accepted: the student's signals reach it alone.
    assert_eq!(
        s.request(candidate(session, teacher, "a")).await["type"],
        "ok"
    );
    laptop.recv_where(is_signal("a")).await;
    assert!(!desk.sees_within(quiet, is_signal("a")).await);

    // The desk joins the session: media moves there.
    let joined = desk
        .request(json!({"type": "join_session", "session": session}))
        .await;
    assert_eq!(joined["type"], "session_started", "{joined}");
    assert_eq!(
        s.request(candidate(session, teacher, "b")).await["type"],
        "ok"
    );
    desk.recv_where(is_signal("b")).await;
    assert!(!laptop.sees_within(quiet, is_signal("b")).await);

    // The teacher's answer from the desk reaches the student.
    assert_eq!(
        desk.request(candidate(session, student, "c")).await["type"],
        "ok"
    );
    s.recv_where(is_signal("c")).await;

    // The desk closes while the laptop stays: signals go to the laptop again, not nowhere.
    desk.close().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut reached = false;
    let mut n = 0;
    while !reached && Instant::now() < deadline {
        n += 1;
        let tag = format!("d{n}");
        assert_eq!(
            s.request(candidate(session, teacher, &tag)).await["type"],
            "ok"
        );
        reached = laptop.sees_within(quiet, is_signal(&tag)).await;
    }
    assert!(
        reached,
        "no signal reached the laptop after the desk closed"
    );
}
