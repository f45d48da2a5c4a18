//! Who reads what, black-box: a request to the support service stays confidential whatever
//! happens to the staff (the service answers it, now or later; no administrator reads it by
//! any route), and an administrator's read of a thread they are not in is audited.

use konsult_testkit::{HttpResponse, Server, ServerOptions, WsClient, api_call, http_request};
use serde_json::{Value, json};
use std::time::Duration;

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n\
    2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n\
    3 0 obj<</Type/Page/MediaBox[0 0 3 3]/Parent 2 0 R>>endobj\n\
    trailer<</Root 1 0 R>>\n%%EOF\n";

const TOPIC: &str = "Мне страшно идти в школу";
const SECRET: &str = "Дома опять кричат, я не сплю ночами";

fn id_of(welcome: &Value) -> i64 {
    welcome["user"]["id"].as_i64().expect("user id")
}

fn call(server: &Server, method: &str, path: &str, token: &str, body: &Value) -> HttpResponse {
    let body = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    api_call(server.addr, method, path, token, &body)
}

fn upload(server: &Server, token: &str, bytes: &[u8]) -> String {
    let auth = format!("Bearer {token}");
    let up = http_request(
        server.addr,
        "POST",
        "/api/attachments?name=letter.pdf",
        &[("authorization", &auth)],
        bytes,
    );
    assert_eq!(up.status, 201, "{}", up.text());
    up.json()["id"].as_str().expect("id").to_string()
}

fn download(server: &Server, token: &str, id: &str) -> HttpResponse {
    call(
        server,
        "GET",
        &format!("/api/attachments/{id}"),
        token,
        &Value::Null,
    )
}

fn audit_entries(server: &Server, admin: &str, action: &str) -> Vec<Value> {
    let log = call(
        server,
        "GET",
        "/api/admin/audit?limit=1000",
        admin,
        &Value::Null,
    );
    assert_eq!(log.status, 200, "{}", log.text());
    log.json()["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

async fn thread_ids(client: &mut WsClient) -> Vec<i64> {
    let listed = client.request(json!({"type": "threads"})).await;
    assert_eq!(listed["type"], "threads", "{listed}");
    listed["threads"]
        .as_array()
        .expect("threads")
        .iter()
        .map(|t| t["id"].as_i64().expect("id"))
        .collect()
}

/// The psychologist is available when student3 asks `support` online; the admin deactivates
/// the psychologist; the wait runs out and the request becomes a thread with nobody of the
/// service in it. It stays confidential, the service answers it, and no admin reads it.
#[tokio::test]
async fn a_request_to_the_psychologist_stays_confidential_whatever_happens_to_the_staff() {
    let server = Server::start(ServerOptions::demo().env("KONSULT_HUB_MAX_WAIT", "2s"));
    let admin_token = server.login("admin", "demo");
    let (mut psychologist, pw) = WsClient::connect_as(&server, "psychologist1").await;
    let psychologist_id = id_of(&pw);
    let ok = psychologist
        .request(json!({"type": "set_status", "status": "available"}))
        .await;
    assert_eq!(ok["type"], "ok", "{ok}");

    let (mut student, _) = WsClient::connect_as(&server, "student3").await;
    let queued = student
        .request(
            json!({"type": "request_help", "subject": "support", "form": "individual",
                        "mode": "online", "topic": TOPIC}),
        )
        .await;
    assert_eq!(queued["type"], "request_queued", "{queued}");
    psychologist.recv_type("help_offer").await;

    let off = call(
        &server,
        "POST",
        &format!("/api/admin/users/{psychologist_id}/deactivate"),
        &admin_token,
        &Value::Null,
    );
    assert_eq!(off.status, 200, "{}", off.text());
    assert_eq!(
        psychologist.expect_close(Duration::from_secs(5)).await,
        4011
    );

    let deferred = student.recv_type("request_deferred").await;
    assert_eq!(deferred["reason"], "wait_limit", "{deferred}");
    let thread = deferred["thread"].as_i64().expect("thread");
    let sent = student
        .request(json!({"type": "send", "thread": thread, "client_id": "s-1", "text": SECRET}))
        .await;
    assert_eq!(sent["type"], "sent", "{sent}");
    let student_token = server.login("student3", "demo");
    let file = upload(&server, &student_token, PDF);
    let sent = student
        .request(
            json!({"type": "send", "thread": thread, "client_id": "s-2", "text": "",
                        "attachments": [file]}),
        )
        .await;
    assert_eq!(sent["type"], "sent", "{sent}");

    // No admin reads it: not over WebSocket, not its files, not in the record or its export.
    let (mut admin, _) = WsClient::connect_as(&server, "admin").await;
    let refused = admin
        .request(json!({"type": "history", "thread": thread}))
        .await;
    assert_eq!(refused["code"], "not_found", "{refused}");
    assert!(!refused.to_string().contains(SECRET));
    assert_eq!(download(&server, &admin_token, &file).status, 404);
    assert!(!thread_ids(&mut admin).await.contains(&thread));
    let mut row = Value::Null;
    for _ in 0..50 {
        let record = call(
            &server,
            "GET",
            "/api/consultations",
            &admin_token,
            &Value::Null,
        );
        assert_eq!(record.status, 200, "{}", record.text());
        row = record.json()["consultations"][0].clone();
        if row["outcome"] == "deferred" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(row["outcome"], "deferred", "{row}");
    assert_eq!(row["confidential"], true);
    assert_eq!(row["topic"], Value::Null, "{row}");
    assert!(!row.to_string().contains(TOPIC));
    let auth = format!("Bearer {admin_token}");
    let csv = http_request(
        server.addr,
        "GET",
        "/api/consultations",
        &[("authorization", &auth), ("accept", "text/csv")],
        b"",
    );
    assert_eq!(csv.status, 200);
    assert!(!csv.text().contains(TOPIC), "{}", csv.text());

    // The psychologist, back, finds it and answers it.
    let on = call(
        &server,
        "POST",
        &format!("/api/admin/users/{psychologist_id}/activate"),
        &admin_token,
        &Value::Null,
    );
    assert_eq!(on.status, 200, "{}", on.text());
    let (mut psychologist, _) = WsClient::connect_as(&server, "psychologist1").await;
    assert!(thread_ids(&mut psychologist).await.contains(&thread));
    let read = psychologist
        .request(json!({"type": "history", "thread": thread}))
        .await;
    assert_eq!(read["type"], "history", "{read}");
    let texts: Vec<&str> = read["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert!(texts.contains(&TOPIC), "{read}");
    assert!(texts.contains(&SECRET), "{read}");
    let psychologist_token = server.login("psychologist1", "demo");
    assert_eq!(download(&server, &psychologist_token, &file).status, 200);
    let answer = psychologist
        .request(json!({"type": "send", "thread": thread, "client_id": "p-1",
                        "text": "Я здесь. Давай поговорим завтра на большой перемене"}))
        .await;
    assert_eq!(answer["type"], "sent", "{answer}");
    let got = student
        .recv_where(|m| m["type"] == "message" && m["message"]["client_id"] == "p-1")
        .await;
    assert_eq!(got["message"]["thread"], thread, "{got}");

    // A psychologist who joins the school later is in it too.
    let created = call(
        &server,
        "POST",
        "/api/admin/users",
        &admin_token,
        &json!({"login": "psychologist2", "name": "Вера Павловна", "role": "support",
                "password": "Kv7-long-enough-pass"}),
    );
    assert_eq!(created.status, 200, "{}", created.text());
    let token = server.login("psychologist2", "Kv7-long-enough-pass");
    let (mut newcomer, _) = WsClient::connect_with_token(&server, &token).await;
    assert!(thread_ids(&mut newcomer).await.contains(&thread));
    let answer = newcomer
        .request(json!({"type": "send", "thread": thread, "client_id": "n-1",
                        "text": "Меня зовут Вера Павловна, я тоже психолог школы"}))
        .await;
    assert_eq!(answer["type"], "sent", "{answer}");

    // And still no admin, even after all that.
    let refused = admin
        .request(json!({"type": "history", "thread": thread}))
        .await;
    assert_eq!(refused["code"], "not_found", "{refused}");
    assert_eq!(download(&server, &admin_token, &file).status, 404);
}

/// An admin reading a thread they are not in leaves an entry in the audit log (who, which
/// thread, when, by which route); members reading their own thread leave none.
#[tokio::test]
async fn an_admins_read_of_a_thread_they_are_not_in_is_audited() {
    let server = Server::start(ServerOptions::demo());
    let admin_token = server.login("admin", "demo");
    let (mut teacher, _) = WsClient::connect_as(&server, "teacher1").await;
    let (mut student, ws) = WsClient::connect_as(&server, "student1").await;
    let thread = teacher
        .request(
            json!({"type": "create_thread", "kind": "personal", "title": "",
                        "members": [id_of(&ws)]}),
        )
        .await["thread"]["id"]
        .as_i64()
        .expect("thread");
    let sent = teacher
        .request(json!({"type": "send", "thread": thread, "client_id": "t-1",
                        "text": "Принеси тетрадь"}))
        .await;
    assert_eq!(sent["type"], "sent", "{sent}");
    let student_token = server.login("student1", "demo");
    let file = upload(&server, &student_token, PDF);
    let sent = student
        .request(
            json!({"type": "send", "thread": thread, "client_id": "s-1", "text": "",
                        "attachments": [file]}),
        )
        .await;
    assert_eq!(sent["type"], "sent", "{sent}");

    // Members read their own thread: nothing to audit.
    for member in [&mut teacher, &mut student] {
        let read = member
            .request(json!({"type": "history", "thread": thread}))
            .await;
        assert_eq!(read["type"], "history", "{read}");
    }
    let teacher_token = server.login("teacher1", "demo");
    assert_eq!(download(&server, &teacher_token, &file).status, 200);
    assert_eq!(download(&server, &student_token, &file).status, 200);
    assert_eq!(
        audit_entries(&server, &admin_token, "thread.read"),
        Vec::<Value>::new()
    );

    // The admin reads it from outside: one entry per read, naming the admin and the thread.
    let before = konsult_testkit::portal::unix_now() as i64 * 1000 - 1000;
    let (mut admin, _) = WsClient::connect_as(&server, "admin").await;
    let read = admin
        .request(json!({"type": "history", "thread": thread}))
        .await;
    assert_eq!(read["type"], "history", "{read}");
    assert_eq!(download(&server, &admin_token, &file).status, 200);
    let entries = audit_entries(&server, &admin_token, "thread.read");
    assert_eq!(entries.len(), 2, "{entries:?}");
    for entry in &entries {
        assert_eq!(entry["actor_login"], "admin", "{entry}");
        assert_eq!(entry["target"], thread.to_string(), "{entry}");
        assert!(entry["ts"].as_i64().expect("ts") >= before, "{entry}");
    }
    let via: Vec<&str> = entries
        .iter()
        .map(|e| e["details"]["via"].as_str().expect("via"))
        .collect();
    assert!(
        via.contains(&"history") && via.contains(&"attachment"),
        "{via:?}"
    );
    let by_file = entries
        .iter()
        .find(|e| e["details"]["via"] == "attachment")
        .expect("attachment entry");
    assert_eq!(by_file["details"]["attachment"], file.as_str());

    // A refused read (a confidential thread) reads nothing and so audits nothing.
    let refused = admin
        .request(json!({"type": "history", "thread": thread + 1000}))
        .await;
    assert_eq!(refused["code"], "not_found");
    assert_eq!(audit_entries(&server, &admin_token, "thread.read").len(), 2);
}
