//! Anonymous questions to the support service, black-box: the psychologist's socket never
//! carries the student's id, login or name until the student reveals it, no admin route ties
//! the anonymous consultation to the student before or after, a request to a teacher cannot be
//! anonymous, and the psychologist's block holds for a day while the student stays unknown.

use konsult_testkit::{HttpResponse, Server, ServerOptions, WsClient, api_call, http_request};
use serde_json::{Value, json};
use std::time::Duration;

const TOPIC: &str = "Мне тревожно перед контрольными";

/// Who the student is: what must not reach the psychologist before the reveal.
#[derive(Debug)]
struct Student {
    id: i64,
    login: String,
    name: String,
    token: String,
}

fn call(server: &Server, method: &str, path: &str, token: &str, body: &Value) -> HttpResponse {
    let body = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    api_call(server.addr, method, path, token, &body)
}

async fn sign_in(server: &Server, login: &str) -> (Student, WsClient) {
    let token = server.login(login, "demo");
    let (client, welcome) = WsClient::connect_with_token(server, &token).await;
    let user = &welcome["user"];
    let student = Student {
        id: user["id"].as_i64().expect("id"),
        login: user["login"].as_str().expect("login").to_string(),
        name: user["name"].as_str().expect("name").to_string(),
        token,
    };
    (student, client)
}

/// An anonymous identity's token and user, from the student's own token.
fn identity(server: &Server, own: &str, show_class: bool) -> (String, Value) {
    let got = call(
        server,
        "POST",
        "/api/anonymous",
        own,
        &json!({"show_class": show_class}),
    );
    assert_eq!(got.status, 200, "{}", got.text());
    let body = got.json();
    (
        body["token"].as_str().expect("token").to_string(),
        body["user"].clone(),
    )
}

/// A client that keeps every frame it was handed, to check afterwards what it learned.
struct Watched {
    client: WsClient,
    seen: Vec<Value>,
}

impl Watched {
    async fn request(&mut self, msg: Value) -> Value {
        let reply = self.client.request(msg).await;
        self.seen.push(reply.clone());
        reply
    }

    async fn recv_where(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        let got = self.client.recv_where(pred).await;
        self.seen.push(got.clone());
        got
    }

    /// Everything received so far, waiting `settle` for stragglers.
    async fn everything(&mut self, settle: Duration) -> Vec<Value> {
        let more = self.client.frames_within(settle).await;
        self.seen.extend(more);
        self.seen.clone()
    }
}

/// Where `student` shows in `frames`: their login or name anywhere, or their id as a user id
/// (a user object's `id`, `user`, `from`, `to`, `members`, `hands`, `floor`).
fn traces_of(student: &Student, frames: &[Value]) -> Vec<String> {
    fn walk(student: &Student, v: &Value, key: &str, found: &mut Vec<String>) {
        match v {
            Value::String(s) if s.contains(&student.login) || s.contains(&student.name) => {
                found.push(format!("{key}: {s}"));
            }
            Value::Number(n)
                if n.as_i64() == Some(student.id)
                    && matches!(key, "user" | "from" | "to" | "members" | "hands" | "floor") =>
            {
                found.push(format!("{key}: {n}"));
            }
            Value::Array(items) => items.iter().for_each(|i| walk(student, i, key, found)),
            Value::Object(map) => {
                let is_user = map.contains_key("login");
                for (k, inner) in map {
                    let k = if is_user && k == "id" {
                        "user"
                    } else {
                        k.as_str()
                    };
                    walk(student, inner, k, found);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    for frame in frames {
        walk(student, frame, "", &mut found);
    }
    found
}

/// What every admin route says of consultations and people, as text.
fn admin_views(server: &Server, admin: &str, thread: i64, admin_ws: &str) -> Vec<(String, String)> {
    let mut views = Vec::new();
    for path in [
        "/api/consultations",
        "/api/consultations/summary",
        "/api/admin/audit?limit=1000",
        "/api/admin/users?role=student",
        "/api/admin/classes",
    ] {
        let got = call(server, "GET", path, admin, &Value::Null);
        assert_eq!(got.status, 200, "{path}: {}", got.text());
        views.push((path.to_string(), got.text()));
    }
    let csv = http_request(
        server.addr,
        "GET",
        "/api/consultations",
        &[
            ("authorization", &format!("Bearer {admin}")),
            ("accept", "text/csv"),
        ],
        b"",
    );
    assert_eq!(csv.status, 200);
    views.push(("record CSV".into(), csv.text()));
    views.push((format!("history of {thread}"), admin_ws.to_string()));
    views
}

/// Every admin view of the anonymous consultation, checked for the student.
async fn admin_sees_nobody(server: &Server, student: &Student, thread: i64, when: &str) {
    let admin = server.login("admin", "demo");
    let (mut ws, _) = WsClient::connect_with_token(server, &admin).await;
    let read = ws
        .request(json!({"type": "history", "thread": thread}))
        .await;
    assert_eq!(read["code"], "not_found", "{when}: {read}");
    for (view, text) in admin_views(server, &admin, thread, &read.to_string()) {
        if view.starts_with("/api/admin/users") || view == "/api/admin/classes" {
            // The student's own account is listed as ever; the identity is not.
            assert!(
                !text.contains("Анонимно"),
                "{when}: {view} lists the identity"
            );
            assert!(
                !text.contains("~anonymous-"),
                "{when}: {view} lists the identity"
            );
            continue;
        }
        assert!(
            !text.contains(&student.login) && !text.contains(&student.name),
            "{when}: {view} names the student: {text}"
        );
    }
    let record = call(server, "GET", "/api/consultations", &admin, &Value::Null).json();
    let rows = record["consultations"].as_array().expect("rows");
    assert!(
        !rows.is_empty(),
        "{when}: the consultation is in the record"
    );
    let summary = call(
        server,
        "GET",
        "/api/consultations/summary",
        &admin,
        &Value::Null,
    )
    .json();
    assert_eq!(summary["anonymous"], 1, "{when}: counted, {summary}");
    for row in rows {
        assert_eq!(row["confidential"], true, "{when}: {row}");
        assert_eq!(row["anonymous"], true, "{when}: {row}");
        assert!(
            row["students"].as_array().is_none_or(|s| s.is_empty()),
            "{when}: {row}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_psychologist_answers_an_anonymous_student_without_learning_who_until_told() {
    let server = Server::start(ServerOptions::demo());
    let psychologist_token = server.login("psychologist1", "demo");
    let (client, _) = WsClient::connect_with_token(&server, &psychologist_token).await;
    let mut psychologist = Watched {
        client,
        seen: Vec::new(),
    };
    psychologist
        .request(json!({"type": "set_status", "status": "available"}))
        .await;
    let (student, mut own) = sign_in(&server, "student1").await;

    let (token, user) = identity(&server, &student.token, true);
    assert_eq!(user["anonymous"], true, "{user}");
    assert_eq!(user["name"], "Анонимно");
    assert_eq!(user["class"], "9A");
    assert_ne!(user["id"], json!(student.id));
    assert_ne!(user["login"], json!(student.login));
    let (mut anon, welcome) = WsClient::connect_with_token(&server, &token).await;
    assert_eq!(welcome["user"], user);
    let anon_id = user["id"].as_i64().expect("id");

    // A student's own account asks nobody anonymously, and an identity asks only the service.
    let refused = own
        .request(
            json!({"type": "request_help", "subject": "support", "form": "individual",
            "mode": "online", "topic": TOPIC, "anonymous": true}),
        )
        .await;
    assert_eq!(refused["code"], "anonymous_support_only", "{refused}");
    let refused = anon
        .request(
            json!({"type": "create_thread", "kind": "group", "title": "t",
            "members": [1]}),
        )
        .await;
    assert_eq!(refused["code"], "anonymous_support_only", "{refused}");

    let queued = anon
        .request(
            json!({"type": "request_help", "subject": "support", "form": "individual",
            "mode": "online", "topic": TOPIC, "anonymous": true}),
        )
        .await;
    assert_eq!(queued["type"], "request_queued", "{queued}");
    let offer = psychologist.recv_where(|m| m["type"] == "help_offer").await;
    let offered = &offer["request"]["student"];
    assert_eq!(offered["id"], anon_id, "{offer}");
    assert_eq!(offered["name"], "Анонимно");
    assert_eq!(
        offered["class"], "9A",
        "the class the student chose to show"
    );
    assert_eq!(offered["anonymous"], true);
    let started = psychologist
        .request(json!({"type": "accept", "request": offer["request"]["id"]}))
        .await;
    assert_eq!(started["type"], "session_started", "{started}");
    let thread = started["session"]["thread"].as_i64().expect("thread");
    anon.recv_where(|m| m["type"] == "session_started").await;

    // The conversation, with everything that names a sender: messages, typing, receipts.
    let sent = psychologist
        .request(json!({"type": "send", "thread": thread, "client_id": "p-1",
            "text": "Здравствуй. Расскажи, что случилось?"}))
        .await;
    assert_eq!(sent["type"], "sent", "{sent}");
    anon.recv_where(|m| m["type"] == "message").await;
    anon.request(json!({"type": "typing", "thread": thread}))
        .await;
    let reply = anon
        .request(json!({"type": "send", "thread": thread, "client_id": "a-1",
            "text": "Перед каждой контрольной не могу уснуть"}))
        .await;
    assert_eq!(reply["type"], "sent", "{reply}");
    let seq = reply["message"]["seq"].clone();
    anon.request(json!({"type": "read", "thread": thread, "seq": seq}))
        .await;
    let heard = psychologist.recv_where(|m| m["type"] == "message").await;
    assert_eq!(heard["message"]["from"], anon_id);
    let history = psychologist
        .request(json!({"type": "history", "thread": thread}))
        .await;
    assert_eq!(history["type"], "history", "{history}");
    let frames = psychologist.everything(Duration::from_millis(500)).await;
    assert!(
        frames
            .iter()
            .any(|f| f["type"] == "typing" && f["user"] == anon_id),
        "the psychologist saw the typing, from the identity"
    );
    assert_eq!(
        traces_of(&student, &frames),
        Vec::<String>::new(),
        "the psychologist's socket carried the student before the reveal"
    );
    admin_sees_nobody(&server, &student, thread, "before the reveal").await;

    // An admin cannot take over the identity to read the thread.
    let admin = server.login("admin", "demo");
    for path in [
        format!("/api/admin/users/{anon_id}/password"),
        format!("/api/admin/users/{anon_id}/deactivate"),
    ] {
        let got = call(&server, "POST", &path, &admin, &Value::Null);
        assert_eq!(got.status, 404, "{path}: {}", got.text());
    }

    // Only the student reveals: not with another token, not from the psychologist's side.
    let forged = anon
        .request(json!({"type": "reveal_identity", "thread": thread,
            "token": psychologist_token}))
        .await;
    assert_eq!(forged["code"], "forbidden", "{forged}");
    let not_theirs = psychologist
        .request(json!({"type": "reveal_identity", "thread": thread, "token": student.token}))
        .await;
    assert_eq!(not_theirs["code"], "forbidden", "{not_theirs}");
    let other = server.login("student2", "demo");
    let wrong_student = anon
        .request(json!({"type": "reveal_identity", "thread": thread, "token": other}))
        .await;
    assert_eq!(wrong_student["code"], "forbidden", "{wrong_student}");
    assert_eq!(
        traces_of(
            &student,
            &psychologist.everything(Duration::from_millis(300)).await
        ),
        Vec::<String>::new()
    );

    let revealed = anon
        .request(json!({"type": "reveal_identity", "thread": thread, "token": student.token}))
        .await;
    assert_eq!(revealed["type"], "sent", "{revealed}");
    let told = psychologist
        .recv_where(|m| m["type"] == "message" && m["message"]["from"] == anon_id)
        .await;
    let text = told["message"]["text"].as_str().expect("text");
    assert!(text.contains(&student.name), "{text}");
    assert!(text.contains("9A"), "{text}");
    admin_sees_nobody(&server, &student, thread, "after the reveal").await;

    // A revealed identity is retired: the next anonymous question is asked as someone new.
    let (_, next) = identity(&server, &student.token, false);
    assert_ne!(next["id"], anon_id);
    assert!(next.get("class").is_none(), "{next}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_to_a_teacher_cannot_be_anonymous() {
    let server = Server::start(ServerOptions::demo());
    let (teacher, welcome) = WsClient::connect_as(&server, "teacher1").await;
    let teacher_id = welcome["user"]["id"].clone();
    let (student, mut own) = sign_in(&server, "student3").await;
    let (token, _) = identity(&server, &student.token, false);
    let (mut anon, _) = WsClient::connect_with_token(&server, &token).await;
    for (as_identity, ask) in [
        (false, json!({"subject": "math", "anonymous": true})),
        (true, json!({"subject": "math", "anonymous": true})),
        (true, json!({"subject": "math"})),
        (
            true,
            json!({"subject": "support", "teacher": teacher_id, "anonymous": true}),
        ),
    ] {
        let client = if as_identity { &mut anon } else { &mut own };
        let mut msg = json!({"type": "request_help", "form": "individual", "mode": "offline",
            "topic": "Дроби"});
        for (k, v) in ask.as_object().expect("object") {
            msg[k] = v.clone();
        }
        let refused = client.request(msg.clone()).await;
        assert_eq!(
            refused["code"], "anonymous_support_only",
            "{msg}: {refused}"
        );
    }
    // Under their own name the same question is fine.
    let asked = own
        .request(
            json!({"type": "request_help", "subject": "math", "form": "individual",
            "mode": "offline", "topic": "Дроби"}),
        )
        .await;
    assert_eq!(asked["type"], "ok", "{asked}");
    // Neither staff nor admins get an identity.
    for login in ["teacher1", "admin", "psychologist1"] {
        let token = server.login(login, "demo");
        let got = call(&server, "POST", "/api/anonymous", &token, &json!({}));
        assert_eq!(got.status, 403, "{login}: {}", got.text());
    }
    let of_identity = call(&server, "POST", "/api/anonymous", &token, &json!({}));
    assert_eq!(
        of_identity.status, 403,
        "an identity gets no identity of its own"
    );
    drop(teacher);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_psychologist_blocks_an_anonymous_student_for_a_day_without_learning_who() {
    let server = Server::start(ServerOptions::demo());
    let (client, _) = WsClient::connect_as(&server, "psychologist1").await;
    let mut psychologist = Watched {
        client,
        seen: Vec::new(),
    };
    let (student, mut own) = sign_in(&server, "student4").await;
    let (token, user) = identity(&server, &student.token, false);
    let anon_id = user["id"].as_i64().expect("id");
    let (mut anon, _) = WsClient::connect_with_token(&server, &token).await;
    anon.request(
        json!({"type": "request_help", "subject": "support", "form": "individual",
        "mode": "offline", "topic": TOPIC, "anonymous": true}),
    )
    .await;
    let deferred = anon.recv_where(|m| m["type"] == "request_deferred").await;
    let thread = deferred["thread"].as_i64().expect("thread");
    let added = psychologist
        .recv_where(|m| m["type"] == "thread_added")
        .await;
    assert_eq!(added["thread"]["id"], thread);
    assert_eq!(added["thread"]["anonymous"], true, "{added}");
    let listed = psychologist.request(json!({"type": "threads"})).await;
    assert_eq!(listed["threads"][0]["anonymous"], true, "{listed}");

    // Only support staff in the thread block.
    let (mut teacher, _) = WsClient::connect_as(&server, "teacher1").await;
    let refused = teacher
        .request(json!({"type": "block_anonymous", "thread": thread}))
        .await;
    assert_eq!(refused["code"], "forbidden", "{refused}");
    let refused = anon
        .request(json!({"type": "block_anonymous", "thread": thread}))
        .await;
    assert_eq!(refused["code"], "forbidden", "{refused}");

    let blocked = psychologist
        .request(json!({"type": "block_anonymous", "thread": thread}))
        .await;
    assert_eq!(blocked["type"], "ok", "{blocked}");
    assert_eq!(anon.expect_close(Duration::from_secs(5)).await, 4011);
    let twice = psychologist
        .request(json!({"type": "block_anonymous", "thread": thread}))
        .await;
    assert_eq!(twice["code"], "conflict", "{twice}");
    let again = WsClient::connect(&server)
        .await
        .request(json!({"type": "hello", "v": 1, "token": token}))
        .await;
    assert_eq!(
        again["code"], "unauthorized",
        "the closed identity is gone: {again}"
    );

    // The block is the student's, for a day, and the student stays who they were to the
    // psychologist: unknown.
    let got = call(
        &server,
        "POST",
        "/api/anonymous",
        &student.token,
        &json!({}),
    );
    assert_eq!(got.status, 403, "{}", got.text());
    assert_eq!(got.json()["code"], "anonymous_blocked");
    let (other, _) = sign_in(&server, "student5").await;
    let (_, someone_else) = identity(&server, &other.token, false);
    assert_ne!(someone_else["id"], anon_id);
    let asked = own
        .request(
            json!({"type": "request_help", "subject": "support", "form": "individual",
            "mode": "offline", "topic": "Под своим именем"}),
        )
        .await;
    assert_eq!(
        asked["type"], "ok",
        "the student may still ask as themselves: {asked}"
    );
    let history = psychologist
        .request(json!({"type": "history", "thread": thread}))
        .await;
    assert_eq!(
        history["type"], "history",
        "the closed thread stays readable"
    );
    let frames = psychologist.everything(Duration::from_millis(500)).await;
    let before_own_request: Vec<Value> = frames
        .into_iter()
        .filter(|f| !f.to_string().contains("Под своим именем"))
        .collect();
    assert_eq!(
        traces_of(&student, &before_own_request),
        Vec::<String>::new(),
        "the block told the psychologist who the student is"
    );
}

/// A student's anonymous identity gives them no more connections than any student: its
/// connections and the student's own share `limits.connections_per_user`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_s_connections_count_against_its_student_s() {
    let server =
        Server::start(ServerOptions::demo().env("KONSULT_LIMITS_CONNECTIONS_PER_USER", "2"));
    let (student, own) = sign_in(&server, "student7").await;
    let (identity_token, _) = identity(&server, &student.token, false);
    let (first, _) = WsClient::connect_with_token(&server, &identity_token).await;
    let refused = async |token: &str| {
        let mut client = WsClient::connect(&server).await;
        let got = client
            .try_hello(token, None, Duration::from_secs(10))
            .await
            .expect_err("a third connection of the student is refused");
        assert!(got.contains("rate_limited"), "{got}");
        assert_eq!(client.expect_close(Duration::from_secs(10)).await, 4010);
    };
    refused(&identity_token).await;
    refused(&student.token).await;
    // Another student is not affected.
    let (other, _) = sign_in(&server, "student8").await;
    let (other_identity, _) = identity(&server, &other.token, false);
    let _other = WsClient::connect_with_token(&server, &other_identity).await;
    // Once the identity's connection ends, the student may connect again.
    drop(first);
    let mut again = None;
    for _ in 0..50 {
        let mut client = WsClient::connect(&server).await;
        if client
            .try_hello(&student.token, None, Duration::from_secs(10))
            .await
            .is_ok()
        {
            again = Some(client);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(again.is_some(), "a freed place is taken again");
    drop(own);
}
