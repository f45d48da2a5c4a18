//! Durable chat, black-box: sends acknowledged only when stored, idempotent retries, history
//! catch-up without gaps, threads and receipts, typing, who may create and read which thread,
//! attachments, purge, metrics, and a SIGKILL in the middle of concurrent sends.

use konsult_testkit::process::{TempDir, konsult_binary, run_cli};
use konsult_testkit::{Server, ServerOptions, WsClient, http_request};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A 1×1 PNG.
const PNG: &str = "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489000000\
                   0d4944415478da636460f85f0f0002870180eb47ba920000000049454e44ae426082";

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n\
    2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n\
    3 0 obj<</Type/Page/MediaBox[0 0 3 3]/Parent 2 0 R>>endobj\n\
    trailer<</Root 1 0 R>>\n%%EOF\n";

fn png() -> Vec<u8> {
    (0..PNG.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&PNG[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A server whose message rate does not get in the way of bulk sends.
fn fast_server() -> ServerOptions {
    ServerOptions::demo()
        .env("KONSULT_LIMITS_MESSAGES_PER_SECOND", "100000")
        .env("KONSULT_LIMITS_MESSAGE_BURST", "100000")
        .env("KONSULT_LIMITS_OUTBOX_MESSAGES", "100000")
}

fn id_of(welcome: &Value) -> i64 {
    welcome["user"]["id"].as_i64().expect("user id")
}

/// `teacher` creates a group thread with `members`; returns its id.
async fn group_thread(teacher: &mut WsClient, title: &str, members: &[i64]) -> i64 {
    let added = teacher
        .request(
            json!({"type": "create_thread", "kind": "group", "title": title,
                        "members": members}),
        )
        .await;
    assert_eq!(added["type"], "thread_added", "{added}");
    added["thread"]["id"].as_i64().expect("thread id")
}

async fn send(client: &mut WsClient, thread: i64, client_id: &str, text: &str) -> Value {
    client
        .request(json!({"type": "send", "thread": thread, "client_id": client_id, "text": text}))
        .await
}

/// Every message of a thread, paging with `after` as a client catching up does.
async fn all_messages(client: &mut WsClient, thread: i64) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = client
            .request(json!({"type": "history", "thread": thread, "after": after, "limit": 37}))
            .await;
        assert_eq!(page["type"], "history", "{page}");
        let messages = page["messages"].as_array().expect("messages").clone();
        if let Some(last) = messages.last() {
            after = last["seq"].as_i64().expect("seq");
        }
        all.extend(messages);
        if page["has_more"] != json!(true) {
            return all;
        }
    }
}

fn seqs(messages: &[Value]) -> Vec<i64> {
    messages
        .iter()
        .map(|m| m["seq"].as_i64().expect("seq"))
        .collect()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn upload(server: &Server, token: &str, name: &str, bytes: &[u8]) -> konsult_testkit::HttpResponse {
    http_request(
        server.addr,
        "POST",
        &format!("/api/attachments?name={name}"),
        &[
            ("authorization", &bearer(token)),
            // The claimed type is ignored: the server sniffs the bytes.
            ("content-type", "image/png"),
        ],
        bytes,
    )
}

fn download(server: &Server, token: &str, id: &str) -> konsult_testkit::HttpResponse {
    http_request(
        server.addr,
        "GET",
        &format!("/api/attachments/{id}"),
        &[("authorization", &bearer(token))],
        b"",
    )
}

#[tokio::test]
async fn send_is_acknowledged_pushed_and_idempotent() {
    let server = Server::start(ServerOptions::demo());
    let (mut teacher, _) = WsClient::connect_as(&server, "teacher1").await;
    let (mut s1, w1) = WsClient::connect_as(&server, "student1").await;
    let (mut s2, w2) = WsClient::connect_as(&server, "student2").await;
    let (mut outsider, _) = WsClient::connect_as(&server, "student3").await;
    let thread = group_thread(&mut teacher, "Дроби", &[id_of(&w1), id_of(&w2)]).await;
    for s in [&mut s1, &mut s2] {
        let added = s.recv_type("thread_added").await;
        assert_eq!(added["thread"]["id"], thread);
    }

    let sent = send(&mut s1, thread, "c-1", "Здравствуйте!").await;
    assert_eq!(sent["type"], "sent", "{sent}");
    let message = &sent["message"];
    assert_eq!(message["seq"], 1);
    assert_eq!(message["from"], id_of(&w1));
    assert_eq!(message["client_id"], "c-1");
    assert_eq!(message["text"], "Здравствуйте!");
    for other in [&mut teacher, &mut s2] {
        let pushed = other.recv_type("message").await;
        assert_eq!(pushed["message"], *message);
    }

    // A retry after a lost `sent` returns the original and pushes nothing new.
    let again = send(&mut s1, thread, "c-1", "Здравствуйте!").await;
    assert_eq!(again["type"], "sent");
    assert_eq!(again["message"], *message);
    assert!(
        !teacher
            .sees_within(Duration::from_millis(500), |m| m["type"] == "message")
            .await
    );
    let second = send(&mut s1, thread, "c-2", "Вопрос по задаче 5").await;
    assert_eq!(second["message"]["seq"], 2);
    let reused = send(&mut teacher, thread, "c-1", "the teacher's own c-1").await;
    assert_eq!(reused["message"]["seq"], 3, "client ids are per sender");

    // Only members write; bad input is refused with a code and the connection goes on.
    let refused = send(&mut outsider, thread, "x-1", "let me in").await;
    assert_eq!(refused["code"], "not_found", "{refused}");
    let missing = send(&mut s1, 999_999, "c-3", "nowhere").await;
    assert_eq!(missing["code"], "not_found");
    let empty = send(&mut s1, thread, "c-4", "   ").await;
    assert_eq!(empty["code"], "bad_request");
    let long = send(&mut s1, thread, "c-5", &"я".repeat(8_001)).await;
    assert_eq!(long["code"], "too_large");
    let no_id = send(&mut s1, thread, "", "hi").await;
    assert_eq!(no_id["code"], "bad_request");
    let servers_id = send(&mut s1, thread, "konsult:request-1", "hi").await;
    assert_eq!(servers_id["code"], "bad_request", "{servers_id}");
    let elsewhere = {
        let other = group_thread(&mut teacher, "Другая", &[id_of(&w1)]).await;
        send(&mut s1, other, "c-1", "same id, other thread").await
    };
    assert_eq!(elsewhere["code"], "conflict");
    let history = s1
        .request(json!({"type": "history", "thread": thread}))
        .await;
    assert_eq!(
        seqs(history["messages"].as_array().expect("messages")),
        [1, 2, 3]
    );
}

#[tokio::test]
async fn history_catch_up_with_after_has_no_gaps_or_duplicates() {
    let server = Server::start(fast_server());
    let (mut teacher, _) = WsClient::connect_as(&server, "teacher1").await;
    let (s1, w1) = WsClient::connect_as(&server, "student1").await;
    let thread = group_thread(&mut teacher, "Много сообщений", &[id_of(&w1)]).await;

    // Two writers interleave; a reader that was away catches up afterwards.
    let writer = |mut client: WsClient, tag: &'static str| async move {
        for n in 0..115 {
            let sent = send(&mut client, thread, &format!("{tag}-{n}"), "текст").await;
            assert_eq!(sent["type"], "sent", "{sent}");
        }
        client
    };
    let (teacher, s1) = tokio::join!(writer(teacher, "t"), writer(s1, "s"));
    drop(teacher);
    let (mut reader, _) = WsClient::connect_as(&server, "student1").await;
    let all = all_messages(&mut reader, thread).await;
    assert_eq!(seqs(&all), (1..=230).collect::<Vec<_>>());
    let ids: BTreeSet<&str> = all
        .iter()
        .map(|m| m["client_id"].as_str().expect("client_id"))
        .collect();
    assert_eq!(ids.len(), 230);

    // Pages: the newest by default, older with `before`, the cap at 200.
    let newest = reader
        .request(json!({"type": "history", "thread": thread, "limit": 10}))
        .await;
    assert_eq!(
        seqs(newest["messages"].as_array().expect("m")),
        (221..=230).collect::<Vec<_>>()
    );
    assert_eq!(newest["has_more"], true);
    let older = reader
        .request(json!({"type": "history", "thread": thread, "before": 221, "limit": 10}))
        .await;
    assert_eq!(
        seqs(older["messages"].as_array().expect("m")),
        (211..=220).collect::<Vec<_>>()
    );
    let capped = reader
        .request(json!({"type": "history", "thread": thread, "limit": 100_000}))
        .await;
    assert_eq!(capped["messages"].as_array().expect("m").len(), 200);
    assert_eq!(capped["has_more"], true);
    let tail = reader
        .request(json!({"type": "history", "thread": thread, "after": 225}))
        .await;
    assert_eq!(
        seqs(tail["messages"].as_array().expect("m")),
        [226, 227, 228, 229, 230]
    );
    assert_eq!(tail["has_more"], false);
    let both = reader
        .request(json!({"type": "history", "thread": thread, "after": 1, "before": 9}))
        .await;
    assert_eq!(both["code"], "bad_request");
    drop(s1);
}

#[tokio::test]
async fn threads_read_receipts_and_typing() {
    let server = Server::start(ServerOptions::demo());
    let (mut teacher, wt) = WsClient::connect_as(&server, "teacher1").await;
    let (mut s1, w1) = WsClient::connect_as(&server, "student1").await;
    let (mut outsider, _) = WsClient::connect_as(&server, "student9").await;
    let thread = group_thread(&mut teacher, "Физика", &[id_of(&w1)]).await;
    for n in 1..=3 {
        send(&mut teacher, thread, &format!("t-{n}"), "Задание").await;
    }
    let listed = s1.request(json!({"type": "threads"})).await;
    let mine = listed["threads"]
        .as_array()
        .expect("threads")
        .iter()
        .find(|t| t["id"] == thread)
        .expect("the thread is listed")
        .clone();
    assert_eq!(mine["kind"], "group");
    assert_eq!(mine["title"], "Физика");
    assert_eq!(
        (mine["last_seq"].clone(), mine["read_seq"].clone()),
        (json!(3), json!(0))
    );
    assert_eq!(mine["unread"], 3);

    let ok = s1
        .request(json!({"type": "read", "thread": thread, "seq": 2}))
        .await;
    assert_eq!(ok["type"], "ok", "{ok}");
    let receipt = teacher.recv_type("read_receipt").await;
    assert_eq!(
        receipt,
        json!({"type": "read_receipt", "thread": thread,
                               "user": id_of(&w1), "seq": 2})
    );
    // A mark never moves back, and a mark past the end stops at the newest message.
    s1.request(json!({"type": "read", "thread": thread, "seq": 1}))
        .await;
    s1.request(json!({"type": "read", "thread": thread, "seq": 99}))
        .await;
    let receipt = teacher.recv_type("read_receipt").await;
    assert_eq!(receipt["seq"], 3);
    let listed = s1.request(json!({"type": "threads"})).await;
    let mine = &listed["threads"][0];
    assert_eq!(
        (mine["read_seq"].clone(), mine["unread"].clone()),
        (json!(3), json!(0))
    );
    let teacher_view = teacher.request(json!({"type": "threads"})).await;
    assert_eq!(
        teacher_view["threads"][0]["unread"], 0,
        "the sender read their own messages"
    );
    let refused = outsider
        .request(json!({"type": "read", "thread": thread, "seq": 1}))
        .await;
    assert_eq!(refused["code"], "not_found");

    // Typing: forwarded to the other online members, at most once per 2 s.
    s1.send_json(&json!({"type": "typing", "thread": thread}))
        .await;
    let typing = teacher.recv_type("typing").await;
    assert_eq!(
        typing,
        json!({"type": "typing", "thread": thread, "user": id_of(&w1)})
    );
    s1.send_json(&json!({"type": "typing", "thread": thread}))
        .await;
    assert!(
        !teacher
            .sees_within(Duration::from_millis(700), |m| m["type"] == "typing")
            .await
    );
    assert!(
        !s1.sees_within(Duration::from_millis(100), |m| m["type"] == "typing")
            .await,
        "nobody is told of their own typing"
    );
    tokio::time::sleep(Duration::from_millis(1_400)).await;
    teacher
        .send_json(&json!({"type": "typing", "thread": thread}))
        .await;
    let typing = s1.recv_type("typing").await;
    assert_eq!(typing["user"], id_of(&wt));
    let refused = outsider
        .request(json!({"type": "typing", "thread": thread}))
        .await;
    assert_eq!(refused["code"], "not_found");
}

#[tokio::test]
async fn a_deferred_request_is_answered_by_the_first_staff_reply() {
    let server = Server::start(ServerOptions::demo());
    let (mut student, ws) = WsClient::connect_as(&server, "student3").await;
    let reply = student
        .request(
            json!({"type": "request_help", "subject": "physics", "form": "individual",
                        "mode": "offline", "topic": "Закон Ома"}),
        )
        .await;
    assert_eq!(reply["type"], "ok", "{reply}");
    let deferred = student.recv_type("request_deferred").await;
    let thread = deferred["thread"].as_i64().expect("thread");
    let request = deferred["request"]["id"].clone();
    student.recv_type("thread_added").await;
    let asked = send(&mut student, thread, "q-1", "Не понимаю задачу 3").await;
    assert_eq!(asked["type"], "sent");
    assert!(
        !student
            .sees_within(Duration::from_millis(300), |m| m["type"]
                == "request_answered")
            .await,
        "the student's own message answers nothing"
    );

    let (mut teacher, wt) = WsClient::connect_as(&server, "teacher1").await;
    let listed = teacher.request(json!({"type": "threads"})).await;
    let summary = listed["threads"]
        .as_array()
        .expect("threads")
        .iter()
        .find(|t| t["id"] == thread)
        .expect("the physics teacher is in the thread")
        .clone();
    assert_eq!(summary["request"], request);
    assert_eq!(summary["answered"], false);
    // The question the request was made with, then the student's message.
    assert_eq!(summary["unread"], 2);
    let history = teacher
        .request(json!({"type": "history", "thread": thread}))
        .await;
    assert_eq!(history["messages"][0]["text"], "Закон Ома");
    assert_eq!(history["messages"][0]["from"], id_of(&ws));
    assert_eq!(history["messages"][1]["text"], "Не понимаю задачу 3");

    let answer = send(&mut teacher, thread, "a-1", "Смотри: I = U / R").await;
    assert_eq!(answer["type"], "sent");
    let pushed = student.recv_type("message").await;
    assert_eq!(pushed["message"]["from"], id_of(&wt));
    let answered = student.recv_type("request_answered").await;
    assert_eq!(
        answered,
        json!({"type": "request_answered", "request": request, "thread": thread, "by": id_of(&wt)})
    );
    send(&mut teacher, thread, "a-2", "Ещё пример").await;
    assert!(
        !student
            .sees_within(Duration::from_millis(500), |m| m["type"]
                == "request_answered"
                && m != &answered)
            .await,
        "only the first reply answers"
    );
    let listed = student.request(json!({"type": "threads"})).await;
    let summary = listed["threads"]
        .as_array()
        .expect("threads")
        .iter()
        .find(|t| t["id"] == thread)
        .expect("listed")
        .clone();
    assert_eq!(summary["answered"], true);
    assert_eq!(summary["unread"], 2);
    drop(ws);
}

#[tokio::test]
async fn who_may_create_which_thread() {
    let server = Server::start(ServerOptions::demo());
    let (mut student, ws) = WsClient::connect_as(&server, "student1").await;
    let (mut teacher, wt) = WsClient::connect_as(&server, "teacher1").await;
    let (_, w2) = WsClient::connect_as(&server, "student2").await;

    let group = student
        .request(
            json!({"type": "create_thread", "kind": "group", "title": "Наш чат",
                        "members": [id_of(&w2)]}),
        )
        .await;
    assert_eq!(group["code"], "forbidden", "{group}");
    let with_student = student
        .request(
            json!({"type": "create_thread", "kind": "personal", "title": "",
                        "members": [id_of(&w2)]}),
        )
        .await;
    assert_eq!(with_student["code"], "forbidden");

    let personal = student
        .request(
            json!({"type": "create_thread", "kind": "personal", "title": "",
                        "members": [id_of(&wt)]}),
        )
        .await;
    assert_eq!(personal["type"], "thread_added", "{personal}");
    assert_eq!(personal["thread"]["kind"], "personal");
    let pushed = teacher.recv_type("thread_added").await;
    assert_eq!(pushed["thread"]["id"], personal["thread"]["id"]);
    let again = teacher
        .request(
            json!({"type": "create_thread", "kind": "personal", "title": "",
                        "members": [id_of(&ws)]}),
        )
        .await;
    assert_eq!(
        again["thread"]["id"], personal["thread"]["id"],
        "the pair's thread is reused"
    );
    assert!(
        !student
            .sees_within(Duration::from_millis(300), |m| m["type"] == "thread_added")
            .await,
        "the creator's own connection gets the reply only"
    );

    let class = teacher
        .request(
            json!({"type": "create_thread", "kind": "class", "title": "9А: физика",
                        "class": "9A"}),
        )
        .await;
    assert_eq!(class["type"], "thread_added", "{class}");
    assert_eq!(class["thread"]["kind"], "class");
    let added = student.recv_type("thread_added").await;
    assert_eq!(added["thread"]["id"], class["thread"]["id"]);
    let no_class = teacher
        .request(json!({"type": "create_thread", "kind": "class", "title": "x", "class": "11Z"}))
        .await;
    assert_eq!(no_class["code"], "not_found");
    let nobody = teacher
        .request(
            json!({"type": "create_thread", "kind": "group", "title": "x",
                        "members": [987_654]}),
        )
        .await;
    assert_eq!(nobody["code"], "not_found");
    let untitled = teacher
        .request(
            json!({"type": "create_thread", "kind": "group", "title": " ",
                        "members": [id_of(&ws)]}),
        )
        .await;
    assert_eq!(untitled["code"], "bad_request");
}

#[tokio::test]
async fn admins_read_ordinary_threads_but_never_confidential_ones() {
    let server = Server::start(ServerOptions::demo());
    let (mut student, ws) = WsClient::connect_as(&server, "student1").await;
    let (mut teacher, wt) = WsClient::connect_as(&server, "teacher1").await;
    let (mut psychologist, wp) = WsClient::connect_as(&server, "psychologist1").await;
    let (mut admin, _) = WsClient::connect_as(&server, "admin").await;

    let ordinary = teacher
        .request(
            json!({"type": "create_thread", "kind": "personal", "title": "",
                        "members": [id_of(&ws)]}),
        )
        .await["thread"]["id"]
        .as_i64()
        .expect("thread");
    send(&mut teacher, ordinary, "t-1", "Домашнее задание").await;
    let confidential = student
        .request(
            json!({"type": "create_thread", "kind": "personal", "title": "",
                        "members": [id_of(&wp)]}),
        )
        .await["thread"]["id"]
        .as_i64()
        .expect("thread");
    send(
        &mut student,
        confidential,
        "s-1",
        "Мне тревожно перед экзаменом",
    )
    .await;
    psychologist.recv_type("message").await;

    let seen = admin
        .request(json!({"type": "history", "thread": ordinary}))
        .await;
    assert_eq!(seen["type"], "history", "{seen}");
    assert_eq!(seen["messages"][0]["text"], "Домашнее задание");
    let hidden = admin
        .request(json!({"type": "history", "thread": confidential}))
        .await;
    assert_eq!(hidden["code"], "not_found", "{hidden}");
    assert!(!hidden.to_string().contains("тревожно"));
    let teacher_too = teacher
        .request(json!({"type": "history", "thread": confidential}))
        .await;
    assert_eq!(teacher_too["code"], "not_found");
    // Reading is not writing: admins post only where they are members.
    let write = send(&mut admin, ordinary, "a-1", "admin here").await;
    assert_eq!(write["code"], "not_found");

    // Nor the files of a confidential thread.
    let token = server.login("student1", "demo");
    let up = upload(&server, &token, "note.pdf", PDF);
    assert_eq!(up.status, 201, "{}", up.text());
    let id = up.json()["id"].as_str().expect("id").to_string();
    let sent = student
        .request(
            json!({"type": "send", "thread": confidential, "client_id": "s-2",
                        "text": "", "attachments": [id]}),
        )
        .await;
    assert_eq!(sent["type"], "sent", "{sent}");
    let admin_token = server.login("admin", "demo");
    assert_eq!(download(&server, &admin_token, &id).status, 404);
    let psychologist_token = server.login("psychologist1", "demo");
    assert_eq!(download(&server, &psychologist_token, &id).status, 200);
    drop(wt);
}

#[tokio::test]
async fn attachments_are_sniffed_stored_once_and_guarded() {
    let server = Server::start(
        ServerOptions::demo()
            .env("KONSULT_LIMITS_ATTACHMENT_BYTES", "65536")
            .env("KONSULT_LIMITS_UPLOADS_PER_MINUTE", "12"),
    );
    let (mut teacher, _) = WsClient::connect_as(&server, "teacher1").await;
    let (mut s1, w1) = WsClient::connect_as(&server, "student1").await;
    let thread = group_thread(&mut teacher, "Файлы", &[id_of(&w1)]).await;
    let t1 = server.login("student1", "demo");
    let t_teacher = server.login("teacher1", "demo");
    let t_outsider = server.login("student2", "demo");

    let image = upload(&server, &t1, "scheme.png", &png());
    assert_eq!(image.status, 201, "{}", image.text());
    let image = image.json();
    assert_eq!(image["content_type"], "image/png");
    assert_eq!(image["size"], png().len());
    let doc = upload(&server, &t1, "%D0%B4%D0%B7.pdf", PDF).json();
    assert_eq!(doc["content_type"], "application/pdf");
    assert_eq!(doc["name"], "дз.pdf");
    // The same bytes again: a new id, one file.
    let twin = upload(&server, &t1, "copy.png", &png()).json();
    assert_ne!(twin["id"], image["id"]);
    let files: usize = std::fs::read_dir(server.data.join("attachments"))
        .expect("attachments folder")
        .map(|d| {
            std::fs::read_dir(d.expect("entry").path())
                .expect("folder")
                .count()
        })
        .sum();
    assert_eq!(files, 2);

    // Refused: an executable, a script, HTML named as a picture, too large, no token.
    let elf = std::fs::read(konsult_binary()).expect("the konsult binary");
    for (name, bytes) in [
        ("tool.png", &elf[..4096]),
        ("run.sh", b"#!/bin/sh\necho hi\n".as_slice()),
        (
            "x.png",
            b"<html><script>alert(1)</script></html>".as_slice(),
        ),
    ] {
        let refused = upload(&server, &t1, name, bytes);
        assert_eq!(refused.status, 400, "{name}: {}", refused.text());
        assert_eq!(refused.json()["code"], "bad_request");
        assert!(
            refused.json()["message"]
                .as_str()
                .expect("message")
                .contains("PDF")
        );
    }
    let big = upload(
        &server,
        &t1,
        "big.pdf",
        &[PDF, &vec![b' '; 70_000]].concat(),
    );
    assert_eq!(big.status, 413);
    assert_eq!(big.json()["code"], "too_large");
    let anonymous = http_request(server.addr, "POST", "/api/attachments", &[], PDF);
    assert_eq!(anonymous.status, 401);

    // Sent with a message: members see it in `message` and history, and may download it.
    let sent = s1
        .request(
            json!({"type": "send", "thread": thread, "client_id": "f-1", "text": "Вот",
                        "attachments": [image["id"], doc["id"]]}),
        )
        .await;
    assert_eq!(sent["type"], "sent", "{sent}");
    let attached = &sent["message"]["attachments"];
    assert_eq!(attached[0], image);
    assert_eq!(attached[1], doc);
    let pushed = teacher.recv_type("message").await;
    assert_eq!(pushed["message"]["attachments"], *attached);
    let history = teacher
        .request(json!({"type": "history", "thread": thread}))
        .await;
    assert_eq!(history["messages"][0]["attachments"], *attached);

    let got = download(&server, &t_teacher, image["id"].as_str().expect("id"));
    assert_eq!(got.status, 200);
    assert_eq!(got.body, png());
    assert_eq!(got.header("content-type"), Some("image/png"));
    assert_eq!(got.header("x-content-type-options"), Some("nosniff"));
    assert!(
        got.header("content-disposition")
            .expect("disposition")
            .starts_with("inline")
    );
    let got = download(&server, &t_teacher, doc["id"].as_str().expect("id"));
    assert_eq!(got.body, PDF);
    let disposition = got.header("content-disposition").expect("disposition");
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''%D0%B4%D0%B7.pdf"),
        "{disposition}"
    );
    assert!(
        got.header("content-security-policy")
            .expect("csp")
            .contains("sandbox")
    );

    // Refused: someone outside the thread, an unsent upload of someone else, unknown ids.
    assert_eq!(
        download(&server, &t_outsider, image["id"].as_str().expect("id")).status,
        404
    );
    assert_eq!(
        download(&server, &t_teacher, twin["id"].as_str().expect("id")).status,
        404
    );
    assert_eq!(
        download(&server, &t1, twin["id"].as_str().expect("id")).status,
        200
    );
    assert_eq!(download(&server, &t1, "nope").status, 404);
    let theirs = teacher
        .request(
            json!({"type": "send", "thread": thread, "client_id": "f-2", "text": "x",
                        "attachments": [twin["id"]]}),
        )
        .await;
    assert_eq!(
        theirs["code"], "not_found",
        "only one's own uploads are sent"
    );
    let unknown = s1
        .request(
            json!({"type": "send", "thread": thread, "client_id": "f-3", "text": "x",
                        "attachments": ["0000"]}),
        )
        .await;
    assert_eq!(unknown["code"], "not_found");

    // Uploads are limited per user: `limits.uploads_per_minute`, 12 here.
    for n in 0..12 {
        let ok = upload(&server, &t_outsider, &format!("p{n}.pdf"), PDF);
        assert_eq!(ok.status, 201, "upload {n}: {}", ok.text());
    }
    let limited = upload(&server, &t_outsider, "one-more.pdf", PDF);
    assert_eq!(limited.status, 429);
    assert_eq!(limited.json()["code"], "rate_limited");
    assert!(
        limited.json()["message"]
            .as_str()
            .unwrap()
            .contains("at most 12")
    );
    assert!(limited.header("retry-after").is_some());
}

#[tokio::test]
async fn purge_deletes_old_messages_and_unreferenced_attachments() {
    let dir = TempDir::new("chat-purge");
    let server = Server::start_in(&dir.0, ServerOptions::demo());
    let (mut teacher, _) = WsClient::connect_as(&server, "teacher1").await;
    let (_, w1) = WsClient::connect_as(&server, "student1").await;
    let thread = group_thread(&mut teacher, "Архив", &[id_of(&w1)]).await;
    let token = server.login("teacher1", "demo");
    let old_file = upload(&server, &token, "old.pdf", PDF).json();
    let unsent = upload(&server, &token, "unsent.png", &png()).json();
    teacher
        .request(
            json!({"type": "send", "thread": thread, "client_id": "o-1", "text": "старое",
                        "attachments": [old_file["id"]]}),
        )
        .await;
    send(&mut teacher, thread, "o-2", "тоже старое").await;
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    send(&mut teacher, thread, "n-1", "новое").await;

    // The server keeps running: purge works beside it on the same database.
    let data = dir.0.to_str().expect("utf-8 path");
    let (code, out, err) = run_cli(
        &["purge", "--older-than", "2s", "--data", data],
        &[],
        &dir.0,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.trim(), "purged 2 messages and 2 attachments (2 files)");
    let (code, _, err) = run_cli(
        &["purge", "--older-than", "soon", "--data", data],
        &[],
        &dir.0,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("365d"), "{err}");

    let history = teacher
        .request(json!({"type": "history", "thread": thread}))
        .await;
    let messages = history["messages"].as_array().expect("messages");
    assert_eq!(seqs(messages), [3], "seqs go on after a purge");
    assert_eq!(messages[0]["text"], "новое");
    let token = server.login("teacher1", "demo");
    assert_eq!(
        download(&server, &token, old_file["id"].as_str().expect("id")).status,
        404
    );
    assert_eq!(
        download(&server, &token, unsent["id"].as_str().expect("id")).status,
        404
    );
    let next = send(&mut teacher, thread, "n-2", "дальше").await;
    assert_eq!(next["message"]["seq"], 4);
}

#[tokio::test]
async fn concurrent_sends_share_commits_and_metrics_count_them() {
    let server = Server::start(fast_server());
    let (mut teacher, _) = WsClient::connect_as(&server, "teacher1").await;
    let mut students = Vec::new();
    let mut ids = Vec::new();
    for n in 1..=6 {
        let (client, welcome) = WsClient::connect_as(&server, &format!("student{n}")).await;
        ids.push(id_of(&welcome));
        students.push(client);
    }
    let thread = group_thread(&mut teacher, "Метрики", &ids).await;
    for n in 0..3 {
        send(&mut teacher, thread, &format!("m-{n}"), "раз").await;
    }
    let metrics = http_request(server.addr, "GET", "/metrics", &[], b"").text();
    assert!(
        metrics.contains("konsult_chat_messages_stored_total 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("konsult_chat_commits_total 3"),
        "one send, one commit"
    );
    assert!(
        metrics.contains("konsult_chat_commit_batch_size_bucket{le=\"1\"} 3"),
        "{metrics}"
    );

    // Six clients with eight sends in flight each: commits carry several sends.
    let started = std::time::Instant::now();
    let tasks: Vec<_> = students
        .into_iter()
        .enumerate()
        .map(|(n, client)| tokio::spawn(send_until_cut(client, thread, format!("c{n}"), 200)))
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("sender").len(), 200);
    }
    let elapsed = started.elapsed();
    let metrics = http_request(server.addr, "GET", "/metrics", &[], b"").text();
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing:\n{metrics}"))
    };
    let stored = value("konsult_chat_messages_stored_total");
    let commits = value("konsult_chat_commits_total");
    assert_eq!(stored, 1_203.0);
    assert!(
        commits < stored / 2.0,
        "{commits} commits for {stored} messages"
    );
    eprintln!(
        "1200 concurrent sends in {elapsed:?}: {commits} commits, {:.1} sends per commit",
        (stored - 3.0) / (commits - 3.0)
    );
}

/// Sends `count` messages in windows of `window` without waiting for each `sent`; returns the
/// client ids acknowledged before the connection ended.
async fn send_until_cut(
    mut client: WsClient,
    thread: i64,
    tag: String,
    count: usize,
) -> Vec<String> {
    const WINDOW: usize = 8;
    let mut acked = Vec::new();
    let mut next = 0;
    while next < count {
        let end = (next + WINDOW).min(count);
        for n in next..end {
            let msg = json!({"type": "send", "thread": thread, "client_id": format!("{tag}-{n}"),
                             "text": format!("сообщение {n}")});
            if client.try_send_json(&msg).await.is_err() {
                return acked;
            }
        }
        let mut waiting = end - next;
        while waiting > 0 {
            let Some(reply) = client.recv_timeout(Duration::from_secs(5)).await else {
                return acked;
            };
            if reply["type"] == "sent" {
                acked.push(
                    reply["message"]["client_id"]
                        .as_str()
                        .expect("id")
                        .to_string(),
                );
                waiting -= 1;
            }
        }
        next = end;
    }
    acked
}

#[tokio::test]
async fn every_acknowledged_message_survives_a_sigkill_exactly_once() {
    let dir = TempDir::new("chat-crash");
    let mut server = Server::start_in(&dir.0, fast_server());
    let (mut teacher, _) = WsClient::connect_as(&server, "teacher1").await;
    let mut students = Vec::new();
    let mut ids = Vec::new();
    for n in 1..=5 {
        let (client, welcome) = WsClient::connect_as(&server, &format!("student{n}")).await;
        ids.push(id_of(&welcome));
        students.push(client);
    }
    let first = group_thread(&mut teacher, "Первый", &ids).await;
    let second = group_thread(&mut teacher, "Второй", &ids[..2]).await;
    let mut tasks = Vec::new();
    for (n, client) in students.into_iter().enumerate() {
        let thread = if n < 2 { second } else { first };
        tasks.push(tokio::spawn(send_until_cut(
            client,
            thread,
            format!("s{n}"),
            100_000,
        )));
    }
    tasks.push(tokio::spawn(send_until_cut(
        teacher,
        first,
        "t".into(),
        100_000,
    )));
    tokio::time::sleep(Duration::from_millis(800)).await;
    server.signal("KILL");
    let (status, _) = server.wait_exit(Duration::from_secs(10)).expect("killed");
    assert!(!status.success());
    let mut acked: BTreeSet<String> = BTreeSet::new();
    for task in tasks {
        acked.extend(task.await.expect("sender task"));
    }
    assert!(
        acked.len() > 50,
        "senders were mid-stream: {} acknowledged",
        acked.len()
    );
    eprintln!("{} messages acknowledged before SIGKILL", acked.len());
    drop(server);

    let server = Server::start_in(&dir.0, fast_server());
    let (mut teacher, _) = WsClient::connect_as(&server, "teacher1").await;
    let mut stored: BTreeMap<String, usize> = BTreeMap::new();
    let listed = teacher.request(json!({"type": "threads"})).await;
    for thread in [first, second] {
        let messages = all_messages(&mut teacher, thread).await;
        let seqs = seqs(&messages);
        assert_eq!(
            seqs,
            (1..=seqs.len() as i64).collect::<Vec<_>>(),
            "thread {thread} has a gap"
        );
        let summary = listed["threads"]
            .as_array()
            .expect("threads")
            .iter()
            .find(|t| t["id"] == thread)
            .expect("listed")
            .clone();
        assert_eq!(summary["last_seq"], json!(seqs.len()));
        for m in messages {
            *stored
                .entry(m["client_id"].as_str().expect("id").to_string())
                .or_default() += 1;
        }
    }
    for (id, times) in &stored {
        assert_eq!(*times, 1, "{id} stored {times} times");
    }
    let lost: Vec<&String> = acked
        .iter()
        .filter(|id| !stored.contains_key(*id))
        .collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
}

#[tokio::test]
async fn sends_to_many_threads_sharing_commits_keep_every_thread_gap_free() {
    let server = Server::start(fast_server());
    let (mut teacher, _) = WsClient::connect_as(&server, "teacher1").await;
    let mut students = Vec::new();
    let mut threads = Vec::new();
    for n in 1..=4 {
        let (client, welcome) = WsClient::connect_as(&server, &format!("student{n}")).await;
        threads.push(group_thread(&mut teacher, &format!("Нить {n}"), &[id_of(&welcome)]).await);
        students.push(client);
    }
    let (mut outsider, _) = WsClient::connect_as(&server, "student5").await;

    // Four students, each in their own thread, and the teacher in the first: their sends
    // land in the same commits. An outsider's sends to the first thread in between are refused
    // without disturbing the others.
    let mut tasks: Vec<_> = students
        .into_iter()
        .zip(&threads)
        .enumerate()
        .map(|(n, (client, thread))| {
            tokio::spawn(send_until_cut(client, *thread, format!("s{n}"), 150))
        })
        .collect();
    tasks.push(tokio::spawn(send_until_cut(
        teacher,
        threads[0],
        "t".into(),
        150,
    )));
    for n in 0..20 {
        outsider
            .send_json(&json!({"type": "send", "thread": threads[0],
                               "client_id": format!("x{n}"), "text": "чужое"}))
            .await;
    }
    for task in tasks {
        assert_eq!(task.await.expect("sender").len(), 150);
    }
    for _ in 0..20 {
        let refused = outsider.recv_type("error").await;
        assert_eq!(refused["code"], "not_found", "{refused}");
    }

    let (mut reader, _) = WsClient::connect_as(&server, "teacher1").await;
    for (n, thread) in threads.iter().enumerate() {
        let messages = all_messages(&mut reader, *thread).await;
        let expected = if n == 0 { 300 } else { 150 };
        assert_eq!(seqs(&messages), (1..=expected).collect::<Vec<i64>>());
        let client_ids: std::collections::BTreeSet<&str> = messages
            .iter()
            .map(|m| m["client_id"].as_str().expect("client_id"))
            .collect();
        assert_eq!(client_ids.len(), expected as usize, "each send stored once");
        assert!(client_ids.iter().all(|c| !c.starts_with('x')));
    }
    // A sender has read their own messages: a student alone with their sends has none unread.
    let (mut second, _) = WsClient::connect_as(&server, "student2").await;
    let listed = second.request(json!({"type": "threads"})).await;
    let mine = listed["threads"]
        .as_array()
        .expect("threads")
        .iter()
        .find(|t| t["id"] == threads[1])
        .expect("the student's thread")
        .clone();
    assert_eq!(mine["last_seq"], 150, "{mine}");
    assert_eq!(mine["read_seq"], 150, "{mine}");
    assert_eq!(mine["unread"], 0, "{mine}");
}
