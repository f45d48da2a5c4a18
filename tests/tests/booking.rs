//! Booking slots of consultation hours, black-box: slots cut from a teacher's hours in the
//! school's time zone, one student per individual slot however many race for it, group slots
//! up to their limit, the student's limit and the time after which only the teacher may cancel,
//! cancellations reaching the other side, the private calendar feed, and the session a booked
//! slot opens at its time for the teacher and the student.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use konsult_testkit::{HttpResponse, Server, ServerOptions, WsClient, api_call, http_request};
use serde_json::{Value, json};
use std::time::Duration;

/// A zone with one offset all year (+04:00), so that the test's arithmetic needs no rules.
const ZONE: &str = "Europe/Samara";

fn server() -> Server {
    Server::start(
        ServerOptions::demo()
            .env("KONSULT_SCHOOL_TIMEZONE", ZONE)
            .env("KONSULT_BOOKING_MAX_OPEN", "2"),
    )
}

fn call(server: &Server, method: &str, path: &str, token: &str, body: &Value) -> HttpResponse {
    api_call(
        server.addr,
        method,
        path,
        token,
        body.to_string().as_bytes(),
    )
}

fn zone() -> TimeZone {
    TimeZone::get(ZONE).expect("zone")
}

/// The school's local time now.
fn local_now() -> jiff::Zoned {
    Timestamp::now().to_zoned(zone())
}

/// Sets teacher1's hours: every day from 00:00 to 23:45, so that slots begin every
/// `set_booking_rules` length whenever the test runs.
async fn all_day_hours(server: &Server, teacher: &mut WsClient, token: &str, minutes: u32) {
    let hours: Vec<Value> = (1..=7)
        .map(|day| json!({"subject": "physics", "weekday": day, "start": "00:00", "end": "23:45", "mode": "online"}))
        .collect();
    let put = call(server, "PUT", "/api/hours", token, &json!(hours));
    assert_eq!(put.status, 200, "{}", put.text());
    let rules = teacher
        .request(json!({"type": "set_booking_rules", "slot_minutes": minutes, "group_limit": 2}))
        .await;
    assert_eq!(rules["type"], "booking_rules", "{rules}");
}

/// The slots of teacher `id` today and tomorrow.
async fn slots(client: &mut WsClient, teacher: i64) -> Vec<Value> {
    let today = local_now().date().to_string();
    let reply = client
        .request(json!({"type": "list_slots", "teacher": teacher, "from": today, "days": 2}))
        .await;
    assert_eq!(reply["type"], "slots", "{reply}");
    reply["slots"].as_array().expect("slots").clone()
}

fn start_ms(slot: &Value) -> i64 {
    slot["start"]
        .as_str()
        .expect("start")
        .parse::<Timestamp>()
        .expect("ISO 8601 with an offset")
        .as_millisecond()
}

/// The first slot that begins more than `after` from now.
fn slot_after(slots: &[Value], after: Duration) -> Value {
    let at = Timestamp::now().as_millisecond() + after.as_millis() as i64;
    slots
        .iter()
        .find(|s| start_ms(s) > at)
        .cloned()
        .expect("a slot that far ahead")
}

async fn book(client: &mut WsClient, teacher: i64, slot: &Value, form: &str) -> Value {
    client
        .request(
            json!({"type": "book_slot", "teacher": teacher, "start": slot["start"],
                        "form": form, "topic": "Задача 14 из контрольной"}),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_student_gets_an_individual_slot_and_a_group_slot_fills_to_its_limit() {
    let server = server();
    let teacher_token = server.login("teacher1", "demo");
    let (mut teacher, welcome) = WsClient::connect_with_token(&server, &teacher_token).await;
    let teacher_id = welcome["user"]["id"].as_i64().expect("id");
    all_day_hours(&server, &mut teacher, &teacher_token, 20).await;
    let (mut s1, _) = WsClient::connect_as(&server, "student1").await;
    let (mut s2, _) = WsClient::connect_as(&server, "student2").await;
    let (mut s3, _) = WsClient::connect_as(&server, "student3").await;

    let listed = slots(&mut s1, teacher_id).await;
    let now = Timestamp::now().as_millisecond();
    assert!(listed.iter().all(|s| start_ms(s) > now), "only slots ahead");
    assert!(
        listed
            .iter()
            .all(|s| s["start"].as_str().unwrap().ends_with("+04:00")),
        "times in the school's zone"
    );
    let pair: Vec<i64> = listed.iter().take(2).map(start_ms).collect();
    assert_eq!(pair[1] - pair[0], 20 * 60_000, "20-minute slots");

    // One individual slot, two students: the first has it, the second is told it is taken.
    let slot = slot_after(&listed, Duration::from_secs(3 * 3600));
    let booked = book(&mut s1, teacher_id, &slot, "individual").await;
    assert_eq!(booked["type"], "booked", "{booked}");
    assert_eq!(booked["booking"]["start"], slot["start"]);
    let pushed = teacher.recv_where(|m| m["type"] == "booking_changed").await;
    assert_eq!(pushed["change"], "booked");
    assert_eq!(pushed["booking"]["topic"], "Задача 14 из контрольной");
    let second = book(&mut s2, teacher_id, &slot, "individual").await;
    assert_eq!(second["code"], "slot_taken", "{second}");
    let group_into_it = book(&mut s2, teacher_id, &slot, "group").await;
    assert_eq!(group_into_it["code"], "slot_taken", "{group_into_it}");

    // A group slot of limit 2: two students, then it is full.
    let later = listed
        .iter()
        .find(|s| start_ms(s) > start_ms(&slot))
        .cloned()
        .expect("a later slot");
    assert_eq!(
        book(&mut s2, teacher_id, &later, "group").await["type"],
        "booked"
    );
    assert_eq!(
        book(&mut s3, teacher_id, &later, "group").await["type"],
        "booked"
    );
    let third = book(&mut s1, teacher_id, &later, "group").await;
    assert_eq!(third["code"], "slot_taken", "{third}");
    let again = slots(&mut s1, teacher_id).await;
    let shown = again
        .iter()
        .find(|s| s["start"] == later["start"])
        .expect("listed");
    assert_eq!(
        (shown["booked"].as_i64(), shown["capacity"].as_i64()),
        (Some(2), Some(2))
    );
    let mine = again
        .iter()
        .find(|s| s["start"] == slot["start"])
        .expect("listed");
    assert_eq!(mine["mine"], booked["booking"]["id"]);

    // The teacher's day holds both slots' three bookings.
    let day = jiff::Timestamp::from_millisecond(start_ms(&slot))
        .unwrap()
        .to_zoned(zone())
        .date()
        .to_string();
    let theirs = teacher
        .request(json!({"type": "bookings", "day": day}))
        .await;
    let count = theirs["bookings"].as_array().expect("bookings").len();
    assert!(count >= 1, "{theirs}");

    // Not a slot, a teacher booking, a frontal form, a stranger's booking.
    let off = json!({"start": "2020-01-01T10:00:00+04:00"});
    assert_eq!(
        book(&mut s1, teacher_id, &off, "individual").await["code"],
        "bad_request"
    );
    assert_eq!(
        book(&mut teacher, teacher_id, &slot, "individual").await["code"],
        "forbidden"
    );
    assert_eq!(
        book(&mut s3, teacher_id, &slot, "frontal").await["code"],
        "bad_request"
    );
    let stranger = s3
        .request(json!({"type": "cancel_booking", "booking": booked["booking"]["id"]}))
        .await;
    assert_eq!(stranger["code"], "not_found", "{stranger}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_students_racing_for_one_slot_leave_exactly_one_booking() {
    let server = server();
    let teacher_token = server.login("teacher1", "demo");
    let (mut teacher, welcome) = WsClient::connect_with_token(&server, &teacher_token).await;
    let teacher_id = welcome["user"]["id"].as_i64().expect("id");
    all_day_hours(&server, &mut teacher, &teacher_token, 15).await;
    let listed = slots(&mut teacher, teacher_id).await;
    let slot = slot_after(&listed, Duration::from_secs(3 * 3600));
    let mut racers = Vec::new();
    for n in 1..=12 {
        let (client, _) = WsClient::connect_as(&server, &format!("student{n}")).await;
        racers.push(client);
    }
    let tasks: Vec<_> = racers
        .into_iter()
        .map(|mut client| {
            let slot = slot.clone();
            tokio::spawn(async move { book(&mut client, teacher_id, &slot, "individual").await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        let reply = task.await.expect("task");
        outcomes.push(if reply["type"] == "booked" {
            "booked".to_string()
        } else {
            reply["code"].as_str().unwrap_or("?").to_string()
        });
    }
    outcomes.sort();
    let booked = outcomes.iter().filter(|o| *o == "booked").count();
    assert_eq!(booked, 1, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|o| o == "booked" || o == "slot_taken"),
        "{outcomes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_locks_and_cancellations_reach_the_other_side() {
    let server = server();
    let teacher_token = server.login("teacher1", "demo");
    let (mut teacher, welcome) = WsClient::connect_with_token(&server, &teacher_token).await;
    let teacher_id = welcome["user"]["id"].as_i64().expect("id");
    all_day_hours(&server, &mut teacher, &teacher_token, 30).await;
    let (mut student, _) = WsClient::connect_as(&server, "student4").await;
    let listed = slots(&mut student, teacher_id).await;
    let far: Vec<Value> = listed
        .iter()
        .filter(|s| start_ms(s) > Timestamp::now().as_millisecond() + 3 * 3_600_000)
        .take(3)
        .cloned()
        .collect();
    let a = book(&mut student, teacher_id, &far[0], "individual").await;
    let b = book(&mut student, teacher_id, &far[1], "individual").await;
    assert_eq!(
        (a["type"].as_str(), b["type"].as_str()),
        (Some("booked"), Some("booked"))
    );
    let c = book(&mut student, teacher_id, &far[2], "individual").await;
    assert_eq!(c["code"], "booking_limit", "booking.max_open is 2: {c}");

    // A move keeps the count: the student moves b to the third slot.
    let moved = student
        .request(json!({"type": "move_booking", "booking": b["booking"]["id"], "start": far[2]["start"]}))
        .await;
    assert_eq!(moved["type"], "booked", "{moved}");
    assert_eq!(moved["booking"]["start"], far[2]["start"]);
    let told = teacher
        .recv_where(|m| m["type"] == "booking_changed" && m["change"] == "moved")
        .await;
    assert_eq!(told["booking"]["id"], moved["booking"]["id"]);

    // The student cancels a: the teacher hears of it.
    let cancelled = student
        .request(json!({"type": "cancel_booking", "booking": a["booking"]["id"]}))
        .await;
    assert_eq!(cancelled["type"], "booking_changed", "{cancelled}");
    assert_eq!(cancelled["booking"]["status"], "cancelled");
    let told = teacher
        .recv_where(|m| m["type"] == "booking_changed" && m["change"] == "cancelled")
        .await;
    assert_eq!(told["booking"]["id"], a["booking"]["id"]);

    // The teacher cancels the moved one with a reason: the student hears it.
    let reason = "Педсовет, перенесите, пожалуйста";
    let by_teacher = teacher
        .request(
            json!({"type": "cancel_booking", "booking": moved["booking"]["id"], "reason": reason}),
        )
        .await;
    assert_eq!(by_teacher["type"], "booking_changed", "{by_teacher}");
    let heard = student
        .recv_where(|m| {
            m["type"] == "booking_changed" && m["booking"]["id"] == moved["booking"]["id"]
        })
        .await;
    assert_eq!(heard["booking"]["reason"], reason);
    assert_eq!(heard["booking"]["cancelled_by"], teacher_id);
    let twice = teacher
        .request(json!({"type": "cancel_booking", "booking": moved["booking"]["id"]}))
        .await;
    assert_eq!(twice["code"], "not_found");

    // A slot within booking.change_before (2 h): booked, but the student may not cancel it.
    let soon = listed
        .iter()
        .find(|s| start_ms(s) > Timestamp::now().as_millisecond() + 60_000)
        .expect("a slot within the next hour");
    assert!(start_ms(soon) < Timestamp::now().as_millisecond() + 2 * 3_600_000);
    let near = book(&mut student, teacher_id, soon, "individual").await;
    assert_eq!(near["type"], "booked", "{near}");
    let locked = student
        .request(json!({"type": "cancel_booking", "booking": near["booking"]["id"]}))
        .await;
    assert_eq!(locked["code"], "booking_locked", "{locked}");
    let mine = student.request(json!({"type": "bookings"})).await;
    let ids: Vec<&Value> = mine["bookings"]
        .as_array()
        .expect("bookings")
        .iter()
        .map(|b| &b["id"])
        .collect();
    assert_eq!(
        ids,
        [&near["booking"]["id"]],
        "only the open booking is listed"
    );

    // Rules out of range, and rules from a student.
    let bad = teacher
        .request(json!({"type": "set_booking_rules", "slot_minutes": 3}))
        .await;
    assert_eq!(bad["code"], "bad_request");
    let student_rules = student
        .request(json!({"type": "set_booking_rules", "group_limit": 3}))
        .await;
    assert_eq!(student_rules["code"], "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_slot_cannot_be_booked_and_the_calendar_feed_holds_the_booking() {
    let server = server();
    let teacher_token = server.login("teacher1", "demo");
    let (mut teacher, welcome) = WsClient::connect_with_token(&server, &teacher_token).await;
    let teacher_id = welcome["user"]["id"].as_i64().expect("id");
    all_day_hours(&server, &mut teacher, &teacher_token, 30).await;
    let (mut student, _) = WsClient::connect_as(&server, "student5").await;
    let listed = slots(&mut student, teacher_id).await;
    let slot = slot_after(&listed, Duration::from_secs(3 * 3600));
    let next = listed
        .iter()
        .find(|s| start_ms(s) > start_ms(&slot))
        .cloned()
        .expect("next slot");
    let blocked = teacher
        .request(json!({"type": "block_slot", "start": next["start"], "blocked": true}))
        .await;
    assert_eq!(blocked["type"], "booking_rules", "{blocked}");
    assert_eq!(blocked["blocked"], json!([next["start"]]));
    assert_eq!(
        book(&mut student, teacher_id, &next, "individual").await["code"],
        "slot_taken"
    );
    let booked = book(&mut student, teacher_id, &slot, "individual").await;
    assert_eq!(booked["type"], "booked");

    let link = student
        .request(json!({"type": "calendar_link", "action": "renew"}))
        .await;
    let url = link["url"].as_str().expect("a feed address").to_string();
    assert!(url.starts_with("/cal/") && url.ends_with(".ics"), "{url}");
    let feed = http_request(server.addr, "GET", &url, &[], &[]);
    assert_eq!(feed.status, 200);
    assert!(
        feed.header("content-type")
            .unwrap_or("")
            .starts_with("text/calendar")
    );
    let text = feed.text();
    assert!(text.starts_with("BEGIN:VCALENDAR\r\n") && text.ends_with("END:VCALENDAR\r\n"));
    let at = Timestamp::from_millisecond(start_ms(&slot))
        .unwrap()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    assert!(text.contains(&format!("DTSTART:{at}\r\n")), "{text}");
    assert!(text.contains(&format!("UID:booking-{}@konsult", booked["booking"]["id"])));
    assert!(text.lines().all(|l| l.len() <= 75), "folded lines");

    // The teacher's feed holds the booking and their hours.
    let theirs = teacher
        .request(json!({"type": "calendar_link", "action": "renew"}))
        .await;
    let theirs = http_request(
        server.addr,
        "GET",
        theirs["url"].as_str().unwrap(),
        &[],
        &[],
    );
    assert!(theirs.text().contains(&format!("DTSTART:{at}\r\n")));
    assert!(theirs.text().contains("UID:hours-"));

    // Renewed: the old address is gone. Revoked: no address at all.
    let renewed = student
        .request(json!({"type": "calendar_link", "action": "renew"}))
        .await;
    assert_ne!(renewed["url"], link["url"]);
    assert_eq!(http_request(server.addr, "GET", &url, &[], &[]).status, 404);
    let revoked = student
        .request(json!({"type": "calendar_link", "action": "revoke"}))
        .await;
    assert!(revoked.get("url").is_none(), "{revoked}");
    let gone = http_request(
        server.addr,
        "GET",
        renewed["url"].as_str().unwrap(),
        &[],
        &[],
    );
    assert_eq!(gone.status, 404);
    assert_eq!(
        http_request(server.addr, "GET", "/cal/1-1-00.ics", &[], &[]).status,
        404
    );
}

/// The first `session_invite` within `limit`, passing over other messages.
async fn invite_within(client: &mut WsClient, limit: Duration) -> Option<Value> {
    let until = tokio::time::Instant::now() + limit;
    loop {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        let msg = client.recv_timeout(left).await?;
        if msg["type"] == "session_invite" {
            return Some(msg);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_slot_s_time_teacher_and_student_are_invited_into_one_session() {
    let server = server();
    let teacher_token = server.login("teacher2", "demo");
    let (mut teacher, welcome) = WsClient::connect_with_token(&server, &teacher_token).await;
    let teacher_id = welcome["user"]["id"].as_i64().expect("id");
    // Hours that begin at the next whole minute but one, in five-minute slots.
    let mut now = local_now();
    if now.hour() == 23 && now.minute() >= 40 {
        // Hours do not cross midnight: wait for the new day.
        let wait = (60 - now.minute() as u64) * 60 + 60;
        tokio::time::sleep(Duration::from_secs(wait)).await;
        now = local_now();
    }
    let begin = now
        .checked_add(jiff::Span::new().minutes(2))
        .unwrap()
        .round(jiff::Unit::Minute)
        .unwrap();
    let begin = if begin.timestamp() <= Timestamp::now() {
        begin.checked_add(jiff::Span::new().minutes(1)).unwrap()
    } else {
        begin
    };
    let end = begin.checked_add(jiff::Span::new().minutes(10)).unwrap();
    let weekday = begin.weekday().to_monday_one_offset();
    let hours = json!([{"subject": "math", "weekday": weekday, "start": begin.strftime("%H:%M").to_string(),
                        "end": end.strftime("%H:%M").to_string(), "mode": "online"}]);
    assert_eq!(
        call(&server, "PUT", "/api/hours", &teacher_token, &hours).status,
        200
    );
    teacher
        .request(json!({"type": "set_booking_rules", "slot_minutes": 5}))
        .await;
    let (mut student, _) = WsClient::connect_as(&server, "student6").await;
    let listed = slots(&mut student, teacher_id).await;
    let first = listed.first().expect("a slot").clone();
    assert_eq!(start_ms(&first), begin.timestamp().as_millisecond());
    let booked = book(&mut student, teacher_id, &first, "individual").await;
    assert_eq!(booked["type"], "booked", "{booked}");

    let wait =
        Duration::from_millis((start_ms(&first) - Timestamp::now().as_millisecond()).max(0) as u64)
            + Duration::from_secs(30);
    // Both sockets are read while waiting, so that each answers the server's pings.
    let (teacher_invite, student_invite) = tokio::join!(
        invite_within(&mut teacher, wait),
        invite_within(&mut student, wait)
    );
    let teacher_invite = teacher_invite.unwrap_or_else(|| {
        panic!(
            "the teacher is not invited at the slot's time: {}",
            server.logs()
        )
    });
    let student_invite = student_invite.unwrap_or_else(|| {
        panic!(
            "the student is not invited at the slot's time: {}",
            server.logs()
        )
    });
    assert!(
        Timestamp::now().as_millisecond() >= start_ms(&first),
        "not before its start"
    );
    let session = teacher_invite["session"]["id"].clone();
    assert_eq!(
        student_invite["session"]["id"], session,
        "one session for both"
    );
    assert_eq!(teacher_invite["session"]["form"], "individual");
    let joined = student
        .request(json!({"type": "join_session", "session": session}))
        .await;
    assert_eq!(joined["type"], "session_started", "{joined}");
    let hosted = teacher
        .request(json!({"type": "join_session", "session": session}))
        .await;
    assert_eq!(hosted["type"], "session_started", "{hosted}");
    assert_eq!(hosted["session"]["host"], teacher_id);
    // The session's thread starts with the booking's topic.
    let thread = hosted["session"]["thread"].clone();
    let history = student
        .request(json!({"type": "history", "thread": thread}))
        .await;
    assert_eq!(
        history["messages"][0]["text"], "Задача 14 из контрольной",
        "{history}"
    );
}
