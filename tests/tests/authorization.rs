//! The authorization matrix of docs/protocol.md, tried cell by cell: every client message type,
//! sent by every role as the host, a member and a stranger of a live group session (or of the
//! help request it names), gets exactly the answer the table says.
//!
//! `KONSULT_PRINT_MATRIX=1` prints the matrix the server actually enforces instead of checking
//! it, in the table's own format.

use futures_util::StreamExt;
use konsult_testkit::portal::portal_token;
use konsult_testkit::{Server, ServerOptions, WsClient};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

const COLUMNS: [&str; 9] = [
    "host",
    "student member",
    "student stranger",
    "teacher member",
    "teacher stranger",
    "support member",
    "support stranger",
    "admin member",
    "admin stranger",
];

/// Row → column → expected answer, from the table under "## Authorization matrix".
fn documented_matrix() -> BTreeMap<String, BTreeMap<String, String>> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md"))
        .expect("docs/protocol.md");
    let section = doc
        .split("\n## Authorization matrix")
        .nth(1)
        .expect("docs/protocol.md has an Authorization matrix section");
    // The first table of the section, and nothing after it.
    let mut lines = section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'));
    let header: Vec<String> = cells(lines.next().expect("table header"));
    assert_eq!(header[0], "message");
    assert_eq!(&header[1..], &COLUMNS, "the table's columns");
    lines.next().expect("header separator");
    let mut matrix = BTreeMap::new();
    for line in lines {
        let row = cells(line);
        let name = row[0].trim_matches('`').to_string();
        let answers = COLUMNS
            .iter()
            .zip(&row[1..])
            .map(|(c, a)| (c.to_string(), a.clone()))
            .collect();
        matrix.insert(name, answers);
    }
    matrix
}

fn cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_matches('|')
        .split('|')
        .map(|c| c.trim().to_string())
        .collect()
}

/// What the actor is to the session (or request) the message names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Relation {
    Host,
    Member,
    Stranger,
}

fn column(name: &str) -> (&'static str, Relation) {
    match name {
        "host" => ("teacher", Relation::Host),
        _ => {
            let (role, relation) = name.split_once(' ').expect("role and relation");
            let role = match role {
                "student" => "student",
                "teacher" => "teacher",
                "support" => "support",
                "admin" => "admin",
                other => panic!("unknown role {other}"),
            };
            let relation = match relation {
                "member" => Relation::Member,
                "stranger" => Relation::Stranger,
                other => panic!("unknown relation {other}"),
            };
            (role, relation)
        }
    }
}

static NEXT: AtomicU32 = AtomicU32::new(1);

async fn connect(
    server: &Server,
    prefix: &str,
    n: u32,
    role: &str,
    subject: &str,
) -> (WsClient, i64) {
    let token = portal_token(&format!("{prefix}{n}"), role, &[subject]);
    let (client, welcome) = WsClient::connect_with_token(server, &token).await;
    let id = welcome["user"]["id"].as_i64().expect("user id");
    (client, id)
}

/// Sends `msg` with a rid and returns the error code of the answer, or `✓` when it was not
/// refused for who the sender is.
async fn answer(client: &mut WsClient, msg: Value) -> String {
    let reply = client.request(msg).await;
    match reply["code"].as_str() {
        Some(code @ ("forbidden" | "not_found")) if reply["type"] == "error" => code.to_string(),
        _ => "✓".to_string(),
    }
}

/// Builds the situation of one cell, sends the row's message as the actor, and returns the
/// answer.
async fn try_cell(server: &Server, row: &str, col: &str) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let subject = format!("subject{n}");
    let (role, relation) = column(col);
    let (mut host, _host_id) = connect(server, "host", n, "teacher", &subject).await;
    let (mut third, third_id) = connect(server, "third", n, "student", &subject).await;
    let mut actor = match relation {
        Relation::Host => None,
        _ => Some(connect(server, "actor", n, role, &subject).await),
    };
    let actor_id = actor.as_ref().map(|(_, id)| *id);

    if matches!(row, "move_booking" | "cancel_booking") {
        return booking_cell(server, row, n, role, relation, actor, host, third).await;
    }

    if matches!(row, "cancel_request" | "accept" | "decline") {
        // The member of a help request is its student, or the teacher it was offered to.
        let owner_is_actor = relation == Relation::Member && role == "student";
        let offered_to_actor = relation == Relation::Member && role != "student";
        if offered_to_actor || relation == Relation::Host {
            let who = match actor.as_mut() {
                Some((c, _)) => c,
                None => &mut host,
            };
            who.request(json!({"type": "set_status", "status": "available"}))
                .await;
        }
        let request = {
            let asker = if owner_is_actor {
                &mut actor.as_mut().expect("actor").0
            } else {
                &mut third
            };
            let queued = asker
                .request(
                    json!({"type": "request_help", "subject": subject, "form": "individual",
                    "mode": "online", "topic": "a question"}),
                )
                .await;
            queued["request"]["id"].clone()
        };
        assert!(request.is_i64(), "{row}/{col}: no request id");
        let msg = json!({"type": row, "request": request});
        return match actor.as_mut() {
            Some((c, _)) => answer(c, msg).await,
            None => answer(&mut host, msg).await,
        };
    }

    // Something for `take_next` to take: a request waiting in the subject's queue, whose
    // student stays connected until the cell is done.
    let _asker = if row == "take_next" {
        let (mut asker, _) = connect(server, "asker", n, "student", &subject).await;
        asker
            .request(
                json!({"type": "request_help", "subject": subject, "form": "individual",
                "mode": "online", "topic": "a question"}),
            )
            .await;
        Some(asker)
    } else {
        None
    };

    let mut invite = vec![third_id];
    if relation == Relation::Member {
        invite.push(actor_id.expect("actor"));
    }
    let started = host
        .request(
            json!({"type": "create_session", "form": "group", "subject": subject,
            "title": "Matrix", "invite": invite}),
        )
        .await;
    let session = started["session"]["id"].clone();
    let thread = started["session"]["thread"].clone();
    assert!(
        session.is_i64(),
        "{row}/{col}: session not started: {started}"
    );
    third
        .request(json!({"type": "join_session", "session": session}))
        .await;
    if relation == Relation::Member {
        let (c, _) = actor.as_mut().expect("actor");
        let joined = c
            .request(json!({"type": "join_session", "session": session}))
            .await;
        assert_ne!(
            joined["type"], "error",
            "{row}/{col}: member could not join: {joined}"
        );
    }
    if matches!(row, "vote" | "close_poll") {
        // An open poll (number 1) to vote in or close.
        let asked = host
            .request(
                json!({"type": "create_poll", "session": session, "question": "Ready?",
                "kind": "yes_no"}),
            )
            .await;
        assert_eq!(asked["type"], "ok", "{row}/{col}: no poll: {asked}");
    }
    let msg = match row {
        "ping" | "threads" | "list_teachers" => json!({"type": row}),
        "set_cohost" => json!({"type": row, "session": session, "user": third_id, "cohost": true}),
        "create_poll" => json!({"type": row, "session": session, "question": "Ready?",
            "kind": "yes_no"}),
        "vote" => json!({"type": row, "session": session, "poll": 1, "choices": [0]}),
        "close_poll" => json!({"type": row, "session": session, "poll": 1, "publish": true}),
        "set_status" => json!({"type": row, "status": "available"}),
        "request_help" => json!({"type": row, "subject": subject, "form": "individual",
            "mode": "offline", "topic": "a question"}),
        "take_next" | "list_queue" => json!({"type": row, "subject": subject}),
        "create_session" => json!({"type": row, "form": "group", "subject": subject,
            "title": "Another", "invite": [third_id]}),
        "join_session" | "leave_session" | "end_session" | "raise_hand" | "lower_hand"
        | "revoke_floor" | "media_failed" => json!({"type": row, "session": session}),
        "grant_floor" | "remove_member" => {
            json!({"type": row, "session": session, "user": third_id})
        }
        "mute" | "unmute" => {
            json!({"type": row, "session": session, "user": third_id, "kind": "audio"})
        }
        "media_state" => json!({"type": row, "session": session, "state": "connected"}),
        "media_view" => json!({"type": row, "session": session, "video": [third_id]}),
        "show_cameras" => json!({"type": row, "session": session, "to": "class"}),
        "signal" => json!({"type": row, "session": session, "to": "sfu",
            "data": {"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 9 typ host",
                     "sdpMid": "0"}}),
        "send" => json!({"type": row, "thread": thread, "client_id": format!("matrix-{n}"),
            "text": "hello"}),
        "history" => json!({"type": row, "thread": thread}),
        "read" => json!({"type": row, "thread": thread, "seq": 0}),
        "typing" => json!({"type": row, "thread": thread}),
        "create_thread" => json!({"type": row, "kind": "group", "title": "Study group",
            "members": [third_id]}),
        "reveal_identity" => json!({"type": row, "thread": thread, "token": "not-a-token"}),
        "block_anonymous" => json!({"type": row, "thread": thread}),
        "list_slots" => json!({"type": row, "teacher": _host_id}),
        "book_slot" => json!({"type": row, "teacher": _host_id, "start": "2020-01-01T10:00:00Z",
            "form": "individual", "topic": "a question"}),
        "bookings" => json!({"type": row}),
        "set_booking_rules" => json!({"type": row, "slot_minutes": 20}),
        "block_slot" => json!({"type": row, "start": "2020-01-01T10:00:00Z", "blocked": true}),
        "calendar_link" => json!({"type": row}),
        other => panic!("no situation for `{other}`: add it to this test"),
    };
    match actor.as_mut() {
        Some((c, _)) => answer(c, msg).await,
        None => answer(&mut host, msg).await,
    }
}

/// A cell of `move_booking` or `cancel_booking`, which name a booking: its member is the
/// booking's student, or the staff member whose slot it is; the host's slot is booked by the
/// third user otherwise.
#[allow(clippy::too_many_arguments)]
async fn booking_cell(
    server: &Server,
    row: &str,
    n: u32,
    role: &str,
    relation: Relation,
    actor: Option<(WsClient, i64)>,
    mut host: WsClient,
    mut third: WsClient,
) -> String {
    let member = relation == Relation::Member;
    let mut actor = actor.map(|(c, _)| c);
    let (teacher_login, teacher_role) = if member && role != "student" && role != "admin" {
        (format!("actor{n}"), role)
    } else {
        (format!("host{n}"), "teacher")
    };
    let teacher_token = portal_token(&teacher_login, teacher_role, &[&format!("subject{n}")]);
    let teacher_id = {
        let (_, welcome) = WsClient::connect_with_token(server, &teacher_token).await;
        welcome["user"]["id"].as_i64().expect("teacher id")
    };
    let hours: Vec<Value> = (1..=7)
        .map(|day| {
            json!({"subject": format!("subject{n}"), "weekday": day, "start": "00:00",
                          "end": "23:45", "mode": "online"})
        })
        .collect();
    let put = konsult_testkit::api_call(
        server.addr,
        "PUT",
        "/api/hours",
        &teacher_token,
        json!(hours).to_string().as_bytes(),
    );
    assert_eq!(put.status, 200, "{row}: hours: {}", put.text());
    let booker = if member && role == "student" {
        actor.as_mut().expect("actor")
    } else {
        &mut third
    };
    let listed = booker
        .request(json!({"type": "list_slots", "teacher": teacher_id, "days": 2}))
        .await;
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
        + 3 * 3600;
    let slot = listed["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .find(|s| {
            s["start"]
                .as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .expect("start")
                .as_second()
                > later
        })
        .expect("a slot three hours ahead")
        .clone();
    let booked = booker
        .request(
            json!({"type": "book_slot", "teacher": teacher_id, "start": slot["start"],
                        "form": "individual", "topic": "a question"}),
        )
        .await;
    let booking = booked["booking"]["id"].clone();
    assert!(booking.is_i64(), "{row}: not booked: {booked}");
    let msg = match row {
        "move_booking" => json!({"type": row, "booking": booking, "start": "not a time"}),
        _ => json!({"type": row, "booking": booking}),
    };
    match actor.as_mut() {
        Some(c) => answer(c, msg).await,
        None => answer(&mut host, msg).await,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cell_of_the_authorization_matrix_holds() {
    let server = Server::start(ServerOptions::demo().with_portal());
    let printing = std::env::var_os("KONSULT_PRINT_MATRIX").is_some();
    let every_type: Vec<&str> = konsult_protocol::ClientMessage::TYPES
        .iter()
        .copied()
        .filter(|t| *t != "hello")
        .collect();
    let documented = if printing {
        BTreeMap::new()
    } else {
        documented_matrix()
    };
    if !printing {
        let rows: Vec<String> = documented.keys().cloned().collect();
        let mut expected_rows: Vec<String> = every_type.iter().map(|t| t.to_string()).collect();
        expected_rows.sort();
        assert_eq!(
            rows, expected_rows,
            "the matrix has one row per client message type but `hello`"
        );
    }

    let cells: Vec<(String, String)> = every_type
        .iter()
        .flat_map(|r| COLUMNS.iter().map(move |c| (r.to_string(), c.to_string())))
        .collect();
    let server = &server;
    let observed: Vec<((String, String), String)> = futures_util::stream::iter(cells)
        .map(|(r, c)| async move {
            let got = try_cell(server, &r, &c).await;
            ((r, c), got)
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let observed: BTreeMap<(String, String), String> = observed.into_iter().collect();

    if printing {
        println!("| message | {} |", COLUMNS.join(" | "));
        println!("|---|{}", "---|".repeat(COLUMNS.len()));
        for row in &every_type {
            let answers: Vec<&str> = COLUMNS
                .iter()
                .map(|c| observed[&(row.to_string(), c.to_string())].as_str())
                .collect();
            println!("| `{row}` | {} |", answers.join(" | "));
        }
        return;
    }
    let mut wrong = Vec::new();
    for ((row, col), got) in &observed {
        let want = &documented[row][col];
        if want != got {
            wrong.push(format!("{row} as {col}: documented {want}, got {got}"));
        }
    }
    assert!(wrong.is_empty(), "cells that differ:\n{}", wrong.join("\n"));
}
