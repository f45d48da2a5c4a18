//! The hub over real WebSockets: pairing, queues, sessions, moderation, permissions and the
//! consultation record, as students, teachers and admins use them.

use konsult_testkit::{Server, ServerOptions, WsClient, http_request};
use serde_json::{Value, json};
use sqlx::Connection;
use std::time::Duration;

async fn available(server: &Server, login: &str) -> (WsClient, i64) {
    let (mut teacher, welcome) = WsClient::connect_as(server, login).await;
    let ok = teacher
        .request(json!({"type": "set_status", "status": "available"}))
        .await;
    assert_eq!(ok["type"], "ok", "{ok}");
    (teacher, welcome["user"]["id"].as_i64().expect("id"))
}

fn ask(subject: &str, topic: &str) -> Value {
    json!({"type": "request_help", "subject": subject, "form": "individual", "mode": "online", "topic": topic})
}

#[tokio::test]
async fn a_student_is_paired_with_a_teacher_and_the_record_keeps_it() {
    let server = Server::start(ServerOptions::demo());
    let (mut teacher, teacher_id) = available(&server, "teacher3").await;
    let (mut student, _) = WsClient::connect_as(&server, "student1").await;

    let teachers = student
        .request(json!({"type": "list_teachers", "subject": "russian"}))
        .await;
    assert_eq!(teachers["type"], "teachers");
    let listed = &teachers["teachers"][0];
    assert_eq!(listed["id"], teacher_id);
    assert_eq!(listed["status"], "available");

    let queued = student.request(ask("russian", "Причастный оборот")).await;
    assert_eq!(queued["type"], "request_queued", "{queued}");
    assert_eq!(queued["request"]["position"], 1);
    let request = queued["request"]["id"].clone();

    let offer = teacher.recv_type("help_offer").await;
    assert_eq!(offer["request"]["id"], request);
    assert_eq!(offer["request"]["student"]["login"], "student1");
    assert_eq!(offer["request"]["topic"], "Причастный оборот");
    // The student hears that a teacher is being offered the request, not which one.
    let offered = student.recv_type("request_offered").await;
    assert_eq!(offered["request"], request, "{offered}");
    assert_eq!(offered["expires_in"], offer["expires_in"], "{offered}");
    assert_eq!(
        offered.as_object().map(|o| o.len()),
        Some(3),
        "type, request and expires_in only: {offered}"
    );
    let started = teacher
        .request(json!({"type": "accept", "request": request}))
        .await;
    assert_eq!(started["type"], "session_started", "{started}");
    assert_eq!(started["session"]["form"], "individual");
    assert_eq!(started["session"]["media"], "p2p");
    assert!(started["session"]["thread"].as_i64().is_some_and(|t| t > 0));
    let mine = student.recv_type("session_started").await;
    assert_eq!(mine["session"]["id"], started["session"]["id"]);
    let session = started["session"]["id"].clone();

    // The teacher is busy while in an individual session.
    let (mut other, _) = WsClient::connect_as(&server, "student2").await;
    let teachers = other
        .request(json!({"type": "list_teachers", "subject": "russian"}))
        .await;
    assert_eq!(teachers["teachers"][0]["status"], "busy");

    let ended = teacher
        .request(json!({"type": "end_session", "session": session}))
        .await;
    assert_eq!(ended["type"], "ok");
    let gone = student.recv_type("session_ended").await;
    assert_eq!(gone["reason"], "ended");

    // The record reaches the administration.
    let token = server.login("admin", "demo");
    let auth = format!("Bearer {token}");
    let mut rows = Value::Null;
    for _ in 0..50 {
        let resp = http_request(
            server.addr,
            "GET",
            "/api/consultations",
            &[("authorization", &auth)],
            b"",
        );
        assert_eq!(resp.status, 200, "{}", resp.text());
        rows = resp.json()["consultations"].clone();
        if rows[0]["outcome"] == "held" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let row = &rows[0];
    assert_eq!(row["outcome"], "held", "{rows}");
    assert_eq!(row["form"], "individual");
    assert_eq!(row["subject"], "russian");
    assert_eq!(row["students"], json!(["Ученик 1"]));
    assert!(
        row["staff"]
            .as_str()
            .is_some_and(|s| s.contains("Кузнецова"))
    );
    assert!(row["wait_secs"].as_i64().is_some());

    let csv = http_request(
        server.addr,
        "GET",
        "/api/consultations?form=individual&from=2000-01-01",
        &[("authorization", &auth), ("accept", "text/csv")],
        b"",
    );
    assert_eq!(csv.status, 200);
    assert!(
        csv.header("content-type")
            .is_some_and(|c| c.starts_with("text/csv"))
    );
    let text = csv.text();
    assert!(text.starts_with("id,form,mode,subject"), "{text}");
    assert!(text.contains("Причастный оборот"));

    // Students and teachers do not read the record.
    let student_token = server.login("student1", "demo");
    let refused = http_request(
        server.addr,
        "GET",
        "/api/consultations",
        &[("authorization", &format!("Bearer {student_token}"))],
        b"",
    );
    assert_eq!(refused.status, 403);
    let anonymous = http_request(server.addr, "GET", "/api/consultations", &[], b"");
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn nobody_online_defers_to_a_thread_and_a_second_request_conflicts() {
    let server = Server::start(ServerOptions::demo());
    let (mut student, _) = WsClient::connect_as(&server, "student3").await;
    let reply = student.request(ask("physics", "Закон Ома")).await;
    assert_eq!(reply["type"], "ok", "{reply}");
    let deferred = student.recv_type("request_deferred").await;
    assert_eq!(deferred["reason"], "no_teacher");
    assert!(deferred["thread"].as_i64().is_some());
    let added = student.recv_type("thread_added").await;
    assert_eq!(added["thread"]["id"], deferred["thread"]);

    // teacher1 teaches physics and finds the thread when they connect... and a live queue.
    let (_teacher, _) = available(&server, "teacher2").await;
    let queued = student.request(ask("math", "Дроби")).await;
    assert_eq!(queued["type"], "request_queued");
    let again = student.request(ask("math", "Ещё")).await;
    assert_eq!(again["code"], "conflict");
    let cancelled = student
        .request(json!({"type": "cancel_request", "request": queued["request"]["id"]}))
        .await;
    assert_eq!(cancelled["type"], "request_cancelled");
}

#[tokio::test]
async fn a_frontal_session_with_floor_control_and_permissions() {
    let server = Server::start(ServerOptions::demo());
    let (mut teacher, _) = WsClient::connect_as(&server, "teacher1").await;
    let mut students = Vec::new();
    for n in 1..=3 {
        let (client, welcome) = WsClient::connect_as(&server, &format!("student{n}")).await;
        students.push((client, welcome["user"]["id"].as_i64().expect("id")));
    }
    let started = teacher
        .request(
            json!({"type": "create_session", "form": "frontal", "subject": "math",
                        "title": "Подготовка к ОГЭ", "class": "9A"}),
        )
        .await;
    assert_eq!(started["type"], "session_started", "{started}");
    assert_eq!(started["session"]["media"], "sfu");
    let session = started["session"]["id"].clone();
    for (client, _) in students.iter_mut() {
        let invite = client.recv_type("session_invite").await;
        assert_eq!(invite["session"]["id"], session);
        assert_eq!(invite["from"]["login"], "teacher1");
        let joined = client
            .request(json!({"type": "join_session", "session": session}))
            .await;
        assert_eq!(joined["type"], "session_started", "{joined}");
    }
    let (first, first_id) = &mut students[0];
    let hand = first
        .request(json!({"type": "raise_hand", "session": session}))
        .await;
    assert_eq!(hand["type"], "ok");
    let state = teacher
        .recv_where(|m| m["type"] == "session_state" && m["hands"] == json!([*first_id]))
        .await;
    assert_eq!(state["members"].as_array().map(Vec::len), Some(4));
    let refused = first
        .request(json!({"type": "grant_floor", "session": session, "user": *first_id}))
        .await;
    assert_eq!(refused["code"], "forbidden");
    let granted = teacher
        .request(json!({"type": "grant_floor", "session": session, "user": *first_id}))
        .await;
    assert_eq!(granted["type"], "ok");
    let state = first
        .recv_where(|m| m["type"] == "session_state" && m["floor"] == json!(*first_id))
        .await;
    assert_eq!(state["hands"], json!([]));

    // A member cannot end it; an unknown session is not found.
    let refused = students[1]
        .0
        .request(json!({"type": "end_session", "session": session}))
        .await;
    assert_eq!(refused["code"], "forbidden");
    let unknown = students[1]
        .0
        .request(json!({"type": "join_session", "session": 999_999}))
        .await;
    assert_eq!(unknown["code"], "not_found");

    let removed = teacher
        .request(json!({"type": "remove_member", "session": session, "user": students[2].1}))
        .await;
    assert_eq!(removed["type"], "ok");
    let gone = students[2].0.recv_type("session_ended").await;
    assert_eq!(gone["reason"], "removed");
    let back = students[2]
        .0
        .request(json!({"type": "join_session", "session": session}))
        .await;
    assert_eq!(back["code"], "forbidden");

    teacher
        .request(json!({"type": "end_session", "session": session}))
        .await;
    let ended = students[1].0.recv_type("session_ended").await;
    assert_eq!(ended["reason"], "ended");
}

#[tokio::test]
async fn declines_and_offer_timeouts_pass_the_request_on() {
    let server = Server::start(ServerOptions::demo().env("KONSULT_HUB_OFFER_TIMEOUT", "1s"));
    let (mut first, _) = available(&server, "teacher1").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (mut second, _) = available(&server, "teacher2").await;
    let (mut student, _) = WsClient::connect_as(&server, "student5").await;
    let queued = student.request(ask("math", "Степени")).await;
    let request = queued["request"]["id"].clone();
    let offer = first.recv_type("help_offer").await;
    assert_eq!(
        offer["request"]["id"], request,
        "the longest-idle teacher first"
    );
    let declined = first
        .request(json!({"type": "decline", "request": request}))
        .await;
    assert_eq!(declined["type"], "ok");
    second.recv_type("help_offer").await;
    // teacher2 lets it lapse: it is deferred (everyone declined) and teacher2 is set away.
    let deferred = student.recv_type("request_deferred").await;
    assert_eq!(deferred["reason"], "all_declined");
    let presence = second.recv_type("presence").await;
    assert_eq!(presence["status"], "away");
}

#[tokio::test]
async fn the_p2p_relay_only_reaches_the_other_member() {
    let server = Server::start(ServerOptions::demo());
    let (mut teacher, teacher_id) = available(&server, "teacher2").await;
    let (mut student, welcome) = WsClient::connect_as(&server, "student8").await;
    let student_id = welcome["user"]["id"].clone();
    let (mut bystander, _) = WsClient::connect_as(&server, "student9").await;
    student.request(ask("math", "Графики")).await;
    let offer = teacher.recv_type("help_offer").await;
    let started = teacher
        .request(json!({"type": "accept", "request": offer["request"]["id"]}))
        .await;
    let session = started["session"]["id"].clone();
    student.recv_type("session_started").await;
    let sdp = json!({"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"});
    let ok = student
        .request(json!({"type": "signal", "session": session, "to": teacher_id, "data": sdp}))
        .await;
    assert_eq!(ok["type"], "ok");
    let relayed = teacher.recv_type("signal").await;
    assert_eq!(relayed["from"], student_id);
    assert_eq!(relayed["data"], sdp);
    let refused = bystander
        .request(json!({"type": "signal", "session": session, "to": teacher_id, "data": sdp}))
        .await;
    assert_eq!(refused["code"], "not_found");
    assert!(
        !bystander
            .sees_within(Duration::from_millis(300), |m| m["type"] == "signal")
            .await
    );
}

#[tokio::test]
async fn a_dropped_student_keeps_the_place_only_for_the_grace_period() {
    let server = Server::start(ServerOptions::demo().env("KONSULT_HUB_GRACE", "2s"));
    let (mut teacher, _) = WsClient::connect_as(&server, "teacher3").await;
    let busy = teacher
        .request(json!({"type": "set_status", "status": "busy"}))
        .await;
    assert_eq!(busy["type"], "ok");
    let (mut first, _) = WsClient::connect_as(&server, "student11").await;
    let (mut second, _) = WsClient::connect_as(&server, "student12").await;
    first.request(ask("russian", "Орфограммы")).await;
    let queued = second.request(ask("russian", "Пунктуация")).await;
    assert_eq!(queued["request"]["position"], 2);
    first.close().await;
    // Back within the grace period: still first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (mut first, _) = WsClient::connect_as(&server, "student11").await;
    let restored = first.recv_type("queue_position").await;
    assert_eq!(restored["request"]["position"], 1);
    first.close().await;
    // Gone for longer: the place is lost and the other student moves up.
    let moved = second.recv_type("queue_position").await;
    assert_eq!(moved["request"]["position"], 1);
    let queue = teacher.request(json!({"type": "list_queue"})).await;
    assert_eq!(queue["total"], 1, "{queue}");
    assert_eq!(queue["requests"][0]["student"]["login"], "student12");
}

#[tokio::test]
async fn consultations_with_the_psychologist_stay_confidential() {
    let server = Server::start(ServerOptions::demo());
    let (mut psychologist, _) = available(&server, "psychologist1").await;
    let (mut teacher, _) = available(&server, "teacher1").await;
    let (mut student, _) = WsClient::connect_as(&server, "student20").await;
    let queued = student
        .request(ask("support", "Не могу сосредоточиться на уроках"))
        .await;
    assert_eq!(queued["type"], "request_queued", "{queued}");
    let offer = psychologist.recv_type("help_offer").await;
    assert!(
        !teacher
            .sees_within(Duration::from_millis(300), |m| m["type"] == "help_offer")
            .await
    );
    let refused = teacher
        .request(json!({"type": "list_queue", "subject": "support"}))
        .await;
    assert_eq!(refused["code"], "forbidden");
    let started = psychologist
        .request(json!({"type": "accept", "request": offer["request"]["id"]}))
        .await;
    psychologist
        .request(json!({"type": "end_session", "session": started["session"]["id"]}))
        .await;
    let token = server.login("admin", "demo");
    let auth = format!("Bearer {token}");
    let mut row = Value::Null;
    for _ in 0..50 {
        let rows = http_request(
            server.addr,
            "GET",
            "/api/consultations",
            &[("authorization", &auth)],
            b"",
        )
        .json()["consultations"]
            .clone();
        row = rows[0].clone();
        if row["outcome"] == "held" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(row["outcome"], "held");
    assert_eq!(row["confidential"], true);
    assert_eq!(row["subject"], Value::Null, "{row}");
    assert_eq!(row["topic"], Value::Null);
    assert_eq!(row["staff"], Value::Null);
    assert_eq!(row["students"], json!([]));
}

#[tokio::test]
async fn waiting_students_get_an_estimate_from_recent_consultations() {
    let server = Server::start(ServerOptions::demo());
    let (mut teacher, _) = available(&server, "teacher3").await;
    let (mut first, _) = WsClient::connect_as(&server, "student21").await;
    first.request(ask("russian", "Корни")).await;
    let offer = teacher.recv_type("help_offer").await;
    let started = teacher
        .request(json!({"type": "accept", "request": offer["request"]["id"]}))
        .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    teacher
        .request(json!({"type": "end_session", "session": started["session"]["id"]}))
        .await;
    teacher
        .request(json!({"type": "set_status", "status": "busy"}))
        .await;
    let (mut second, _) = WsClient::connect_as(&server, "student22").await;
    let queued = second.request(ask("russian", "Суффиксы")).await;
    assert_eq!(queued["request"]["position"], 1);
    assert!(
        queued["request"]["eta_secs"]
            .as_u64()
            .is_some_and(|s| s >= 1),
        "an estimate from the last consultation: {queued}"
    );
}

/// The database stays locked longer than the server's busy timeout (another process holds
/// SQLite's write lock, as a backup tool or a storm of writers can): the accepted request still
/// becomes a session once the lock is released, instead of failing with `internal`.
#[tokio::test]
async fn an_accept_survives_a_database_locked_past_the_busy_timeout() {
    // SQLite's lock, whatever KONSULT_TEST_STORE says.
    let server = Server::start(ServerOptions::demo().env("KONSULT_STORE_URL", ""));
    let (mut teacher, _) = available(&server, "teacher3").await;
    let (mut student, _) = WsClient::connect_as(&server, "student1").await;
    let queued = student.request(ask("russian", "Деепричастия")).await;
    assert_eq!(queued["type"], "request_queued", "{queued}");
    let offer = teacher.recv_type("help_offer").await;

    let url = format!("sqlite://{}", server.data.join("konsult.db").display());
    let mut lock = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open db");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut lock)
        .await
        .expect("take the write lock");
    teacher
        .send_json(&json!({"type": "accept", "request": offer["request"]["id"], "rid": "a1"}))
        .await;
    // Past the server's 10 s busy timeout.
    tokio::time::sleep(Duration::from_secs(12)).await;
    sqlx::query("ROLLBACK")
        .execute(&mut lock)
        .await
        .expect("release the lock");

    let started = teacher.recv_where(|m| m["re"] == "a1").await;
    assert_eq!(started["type"], "session_started", "{started}");
    assert_eq!(started["session"]["form"], "individual");
    assert!(started["session"]["thread"].as_i64().is_some_and(|t| t > 0));
    let mine = student.recv_type("session_started").await;
    assert_eq!(mine["session"]["id"], started["session"]["id"]);
}
