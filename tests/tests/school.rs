//! The school's side, black-box: the public help page a parent reads, consultation hours, and
//! the administration's screens' API with its audit log.

use konsult_testkit::{HttpResponse, Server, ServerOptions, WsClient, http_request};
use serde_json::{Value, json};
use std::time::Duration;

fn call(
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> HttpResponse {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(auth) = &auth {
        headers.push(("authorization", auth.as_str()));
    }
    http_request(server.addr, method, path, &headers, body)
}

fn json_call(server: &Server, method: &str, path: &str, token: &str, body: Value) -> HttpResponse {
    call(
        server,
        method,
        path,
        Some(token),
        body.to_string().as_bytes(),
    )
}

#[test]
fn a_parent_reads_how_to_get_help_without_logging_in() {
    let server = Server::start(ServerOptions::demo());
    let page = http_request(server.addr, "GET", "/help", &[], b"");
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .is_some_and(|c| c.starts_with("text/html"))
    );
    let html = page.text();
    for needle in [
        "lang=\"ru\"",
        "Как получить помощь",
        "Индивидуальная",
        "Групповая",
        "Фронтальная",
        "Анна Петровна Смирнова",
        "Математика",
        "Школьный психолог",
        "Российская электронная школа",
        "width=device-width",
        "/help/regulation",
    ] {
        assert!(html.contains(needle), "the page lacks {needle}");
    }
    let english = http_request(server.addr, "GET", "/help?lang=en", &[], b"").text();
    assert!(english.contains("How to get help") && english.contains("lang=\"en\""));
    let css = http_request(server.addr, "GET", "/help.css", &[], b"");
    assert!(
        css.header("content-type")
            .is_some_and(|c| c.starts_with("text/css"))
    );
    let regulation = http_request(server.addr, "GET", "/help/regulation", &[], b"").text();
    assert!(regulation.contains("ПОРЯДОК"));
    let api = http_request(server.addr, "GET", "/api/help", &[], b"").json();
    assert!(api["staff"].as_array().is_some_and(|s| s.len() == 4));
}

/// `thread` as `threads` lists it for the client's user.
async fn listed_thread(client: &mut WsClient, thread: &Value) -> Value {
    let listing = client.request(json!({"type": "threads"})).await;
    listing["threads"]
        .as_array()
        .and_then(|t| t.iter().find(|t| &t["id"] == thread).cloned())
        .unwrap_or_else(|| panic!("thread {thread} not listed: {listing}"))
}

#[tokio::test]
async fn teachers_set_hours_that_students_see_and_requests_respect() {
    let server =
        Server::start(ServerOptions::demo().env("KONSULT_SCHOOL_TIMEZONE", "Europe/Samara"));
    let teacher = server.login("teacher2", "demo");
    // A slot that is never now: a minute on a day other than today.
    let today = {
        let out = std::process::Command::new("date")
            .args(["-u", "+%u"])
            .output()
            .expect("date");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u8>()
            .expect("weekday")
    };
    let other_day = today % 7 + 2;
    let other_day = if other_day > 7 {
        other_day - 7
    } else {
        other_day
    };
    let slot = json!([{"subject": "math", "weekday": other_day, "start": "15:00", "end": "16:30", "mode": "online"}]);
    let put = json_call(&server, "PUT", "/api/hours", &teacher, slot.clone());
    assert_eq!(put.status, 200, "{}", put.text());
    let mine = call(&server, "GET", "/api/hours", Some(&teacher), b"").json();
    assert_eq!(mine["hours"], slot);

    let bad = json_call(
        &server,
        "PUT",
        "/api/hours",
        &teacher,
        json!([{"subject": "math", "weekday": 9, "start": "15:00", "end": "14:00", "mode": "online"}]),
    );
    assert_eq!(bad.status, 400);
    let student_token = server.login("student1", "demo");
    let refused = json_call(&server, "PUT", "/api/hours", &student_token, slot.clone());
    assert_eq!(refused.status, 403);

    let (mut student, welcome) = WsClient::connect_with_token(&server, &student_token).await;
    let list = student
        .request(json!({"type": "list_teachers", "subject": "math"}))
        .await;
    let t2 = list["teachers"]
        .as_array()
        .and_then(|t| {
            t.iter()
                .find(|t| t["name"] == "Игорь Николаевич Волков")
                .cloned()
        })
        .expect("teacher2 listed");
    assert_eq!(t2["hours"], slot);

    let (mut t, _) = WsClient::connect_with_token(&server, &teacher).await;
    t.request(json!({"type": "set_status", "status": "available"}))
        .await;
    let id = t2["id"].clone();
    student
        .request(
            json!({"type": "request_help", "subject": "math", "form": "individual",
                        "mode": "online", "topic": "Логарифмы", "teacher": id}),
        )
        .await;
    let deferred = student.recv_type("request_deferred").await;
    assert_eq!(deferred["reason"], "outside_hours");
    let next = deferred["next_available"].as_str().expect("next_available");
    assert!(next.ends_with("T15:00:00+04:00"), "{next}");

    // The thread opens with the question and the teacher's automatic reply saying when.
    let thread = deferred["thread"].clone();
    let history = student
        .request(json!({"type": "history", "thread": thread}))
        .await;
    let messages = history["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 2, "{history}");
    assert_eq!(messages[0]["text"], "Логарифмы");
    assert_eq!(messages[0]["from"], welcome["user"]["id"]);
    assert_eq!(messages[1]["from"], id);
    let reply = messages[1]["text"].as_str().expect("text");
    assert!(
        reply.starts_with("Автоответ") && reply.contains(", 15:00"),
        "{reply}"
    );
    let listed = listed_thread(&mut student, &thread).await;
    assert_eq!(listed["unread"], 1, "the automatic reply: {listed}");
    assert_eq!(
        listed["answered"], false,
        "an automatic reply answers nothing"
    );
    let listed = listed_thread(&mut t, &thread).await;
    assert_eq!(listed["unread"], 2, "the question is unread: {listed}");

    let help = http_request(server.addr, "GET", "/help", &[], b"").text();
    assert!(help.contains("15:00–16:30"), "hours on the public page");
}

#[tokio::test]
async fn admins_manage_accounts_and_everything_is_audited() {
    // The database file is opened below: SQLite, whatever KONSULT_TEST_STORE says.
    let server = Server::start(ServerOptions::demo().env("KONSULT_STORE_URL", ""));
    let admin = server.login("admin", "demo");
    let teacher = server.login("teacher1", "demo");

    // Only admins.
    assert_eq!(
        call(&server, "GET", "/api/admin/users", None, b"").status,
        401
    );
    assert_eq!(
        call(&server, "GET", "/api/admin/users", Some(&teacher), b"").status,
        403
    );

    let found = call(
        &server,
        "GET",
        "/api/admin/users?q=%D0%B2%D0%BE%D0%BB%D0%BA",
        Some(&admin),
        b"",
    )
    .json();
    assert_eq!(
        found["users"][0]["login"], "teacher2",
        "search by part of a name: {found}"
    );
    let students = call(
        &server,
        "GET",
        "/api/admin/users?role=student&class=9A",
        Some(&admin),
        b"",
    )
    .json();
    assert_eq!(students["users"].as_array().map(Vec::len), Some(30));

    let created = json_call(
        &server,
        "POST",
        "/api/admin/users",
        &admin,
        json!({"login": "morozova", "name": "Вера Морозова", "role": "teacher", "subjects": ["chemistry"]}),
    );
    assert_eq!(created.status, 200, "{}", created.text());
    let password = created.json()["password"]
        .as_str()
        .expect("generated")
        .to_string();
    assert!(!server.login("morozova", &password).is_empty());
    let duplicate = json_call(
        &server,
        "POST",
        "/api/admin/users",
        &admin,
        json!({"login": "morozova", "name": "X", "role": "teacher"}),
    );
    assert_eq!(duplicate.status, 409);

    // Import: a preview with every bad line, nothing written; then the fixed file.
    let bad = "login;name;role;class\nivanov;Иван Иванов;student;10B\npetrov;Пётр;student;\nsidorov;С;pilot;10B\n";
    let preview = call(
        &server,
        "POST",
        "/api/admin/users/import?dry_run=true",
        Some(&admin),
        bad.as_bytes(),
    )
    .json();
    assert_eq!(preview["ok"], false);
    let lines: Vec<i64> = preview["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["line"].as_i64().expect("line"))
        .collect();
    assert_eq!(lines, vec![3, 4]);
    assert_eq!(preview["rows"][0]["login"], "ivanov");
    let refused = call(
        &server,
        "POST",
        "/api/admin/users/import",
        Some(&admin),
        bad.as_bytes(),
    );
    assert_eq!(refused.status, 400);
    let none = call(
        &server,
        "GET",
        "/api/admin/users?q=ivanov",
        Some(&admin),
        b"",
    )
    .json();
    assert_eq!(none["users"], json!([]), "nothing half-imported");
    let good =
        "login;name;role;class\nivanov;Иван Иванов;student;10B\npetrov;Пётр Петров;student;10B\n";
    let imported = call(
        &server,
        "POST",
        "/api/admin/users/import",
        Some(&admin),
        good.as_bytes(),
    )
    .json();
    assert_eq!(imported["created"], 2, "{imported}");
    let ivanov_password = imported["passwords"][0]["password"]
        .as_str()
        .expect("password")
        .to_string();
    let classes = call(&server, "GET", "/api/admin/classes", Some(&admin), b"").json();
    assert!(
        classes["classes"]
            .as_array()
            .expect("classes")
            .iter()
            .any(|c| c["class"] == "10B" && c["students"] == 2)
    );

    // Password reset: the old password and old tokens stop working.
    let ivanov_token = server.login("ivanov", &ivanov_password);
    let ivanov_id = call(
        &server,
        "GET",
        "/api/admin/users?q=ivanov",
        Some(&admin),
        b"",
    )
    .json()["users"][0]["id"]
        .clone();
    let reset = call(
        &server,
        "POST",
        &format!("/api/admin/users/{ivanov_id}/password"),
        Some(&admin),
        b"",
    )
    .json();
    let new_password = reset["password"].as_str().expect("password").to_string();
    let old = json_call(
        &server,
        "POST",
        "/api/login",
        "",
        json!({"login": "ivanov", "password": ivanov_password}),
    );
    assert_eq!(old.status, 401);
    assert!(!server.login("ivanov", &new_password).is_empty());
    let mut stale = WsClient::connect(&server).await;
    let err = stale
        .request(json!({"type": "hello", "v": 1, "token": ivanov_token}))
        .await;
    assert_eq!(err["code"], "unauthorized");

    // Deactivation closes the user's connections and stops logins.
    let (mut online, _) = WsClient::connect_as(&server, "student7").await;
    let student7 = call(
        &server,
        "GET",
        "/api/admin/users?q=student7",
        Some(&admin),
        b"",
    )
    .json()["users"][0]["id"]
        .clone();
    let off = call(
        &server,
        "POST",
        &format!("/api/admin/users/{student7}/deactivate"),
        Some(&admin),
        b"",
    );
    assert_eq!(off.status, 200);
    assert_eq!(online.expect_close(Duration::from_secs(5)).await, 4011);
    let login = json_call(
        &server,
        "POST",
        "/api/login",
        "",
        json!({"login": "student7", "password": "demo"}),
    );
    assert_eq!(login.status, 401);
    let on = call(
        &server,
        "POST",
        &format!("/api/admin/users/{student7}/activate"),
        Some(&admin),
        b"",
    );
    assert_eq!(on.status, 200);
    assert!(!server.login("student7", "demo").is_empty());

    // Subjects and links.
    let renamed = json_call(
        &server,
        "PUT",
        "/api/admin/subjects/chemistry",
        &admin,
        json!({"name": "Химия"}),
    );
    assert_eq!(renamed.status, 200);
    let subjects = call(&server, "GET", "/api/admin/subjects", Some(&admin), b"").json();
    assert!(
        subjects["subjects"]
            .as_array()
            .expect("subjects")
            .iter()
            .any(|s| s["code"] == "chemistry" && s["name"] == "Химия" && s["staff"] == 1)
    );
    let links = json_call(
        &server,
        "PUT",
        "/api/admin/help-links",
        &admin,
        json!([{"title": "Школьная библиотека", "url": "https://library.school.example/"}]),
    );
    assert_eq!(links.status, 200);
    let page = http_request(server.addr, "GET", "/help", &[], b"").text();
    assert!(page.contains("Школьная библиотека") && !page.contains("Российская электронная школа"));
    let bad_link = json_call(
        &server,
        "PUT",
        "/api/admin/help-links",
        &admin,
        json!([{"title": "x", "url": "javascript:alert(1)"}]),
    );
    assert_eq!(bad_link.status, 400);

    // The audit log has every action, newest first, with who did it.
    let audit = call(&server, "GET", "/api/admin/audit", Some(&admin), b"").json();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions,
        vec![
            "help_links.put",
            "subject.put",
            "user.activate",
            "user.deactivate",
            "user.password_reset",
            "users.import",
            "user.create"
        ]
    );
    assert_eq!(audit["entries"][0]["actor_login"], "admin");
    assert_eq!(
        call(&server, "GET", "/api/admin/audit", Some(&teacher), b"").status,
        403
    );

    // Nobody edits it, not even with the database file in hand.
    let url = format!("sqlite://{}", server.data.join("konsult.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("open db");
    let update = sqlx::query("UPDATE audit_log SET action = 'nothing'")
        .execute(&pool)
        .await;
    assert!(update.is_err(), "the audit log refuses updates");
    let delete = sqlx::query("DELETE FROM audit_log").execute(&pool).await;
    assert!(delete.is_err(), "the audit log refuses deletes");
}

#[tokio::test]
async fn the_summary_report_counts_by_form_teacher_and_month() {
    let server = Server::start(ServerOptions::demo());
    let (mut teacher, _) = WsClient::connect_as(&server, "teacher3").await;
    teacher
        .request(json!({"type": "set_status", "status": "available"}))
        .await;
    let (mut student, _) = WsClient::connect_as(&server, "student9").await;
    student
        .request(json!({"type": "request_help", "subject": "russian", "form": "individual", "mode": "online", "topic": "Н и НН"}))
        .await;
    let offer = teacher.recv_type("help_offer").await;
    let started = teacher
        .request(json!({"type": "accept", "request": offer["request"]["id"]}))
        .await;
    teacher
        .request(json!({"type": "end_session", "session": started["session"]["id"]}))
        .await;
    let (mut other, _) = WsClient::connect_as(&server, "student10").await;
    other
        .request(json!({"type": "request_help", "subject": "physics", "form": "individual", "mode": "offline", "topic": "Задача"}))
        .await;
    other.recv_type("request_deferred").await;
    let admin = server.login("admin", "demo");
    let mut summary = Value::Null;
    for _ in 0..50 {
        summary = call(
            &server,
            "GET",
            "/api/consultations/summary",
            Some(&admin),
            b"",
        )
        .json();
        if summary["total"]["held"] == 1 && summary["total"]["deferred"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(summary["total"]["total"], 2, "{summary}");
    let forms: Vec<&str> = summary["by_form"]
        .as_array()
        .expect("forms")
        .iter()
        .map(|f| f["key"].as_str().expect("key"))
        .collect();
    assert_eq!(forms, vec!["individual offline", "individual online"]);
    assert!(
        summary["by_teacher"]
            .as_array()
            .expect("teachers")
            .iter()
            .any(|t| t["key"].as_str().is_some_and(|k| k.contains("Кузнецова")) && t["held"] == 1)
    );
    assert_eq!(summary["by_month"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn the_record_filters_by_mode_subject_class_and_outcome_and_keeps_support_hidden() {
    let server = Server::start(ServerOptions::demo());
    let (mut teacher, _) = WsClient::connect_as(&server, "teacher3").await;
    teacher
        .request(json!({"type": "set_status", "status": "available"}))
        .await;
    let (mut psychologist, _) = WsClient::connect_as(&server, "psychologist1").await;
    psychologist
        .request(json!({"type": "set_status", "status": "available"}))
        .await;
    let (mut student, _) = WsClient::connect_as(&server, "student9").await;
    student
        .request(json!({"type": "request_help", "subject": "russian", "form": "individual", "mode": "online", "topic": "Причастия"}))
        .await;
    let offer = teacher.recv_type("help_offer").await;
    let started = teacher
        .request(json!({"type": "accept", "request": offer["request"]["id"]}))
        .await;
    teacher
        .request(json!({"type": "end_session", "session": started["session"]["id"]}))
        .await;
    let (mut seeking_support, _) = WsClient::connect_as(&server, "student11").await;
    seeking_support
        .request(json!({"type": "request_help", "subject": "support", "form": "individual", "mode": "online", "topic": "Тревога"}))
        .await;
    let offer = psychologist.recv_type("help_offer").await;
    let started = psychologist
        .request(json!({"type": "accept", "request": offer["request"]["id"]}))
        .await;
    psychologist
        .request(json!({"type": "end_session", "session": started["session"]["id"]}))
        .await;
    let (mut other, _) = WsClient::connect_as(&server, "student10").await;
    other
        .request(json!({"type": "request_help", "subject": "physics", "form": "individual", "mode": "offline", "topic": "Задача"}))
        .await;
    other.recv_type("request_deferred").await;

    let admin = server.login("admin", "demo");
    let record = |query: &str| {
        let answer = call(
            &server,
            "GET",
            &format!("/api/consultations?{query}"),
            Some(&admin),
            b"",
        );
        assert_eq!(answer.status, 200, "{query}: {}", answer.text());
        answer.json()["consultations"]
            .as_array()
            .expect("consultations")
            .clone()
    };
    let mut all = Vec::new();
    for _ in 0..50 {
        all = record("");
        let held = all.iter().filter(|c| c["outcome"] == "held").count();
        if held == 2 && all.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(all.len(), 3, "{all:?}");

    let topics = |rows: &[Value]| -> Vec<String> {
        rows.iter()
            .map(|c| c["topic"].as_str().unwrap_or("(hidden)").to_string())
            .collect()
    };
    assert_eq!(topics(&record("mode=offline")), vec!["Задача"]);
    assert_eq!(topics(&record("outcome=deferred")), vec!["Задача"]);
    assert_eq!(
        topics(&record("subject=russian&outcome=held")),
        vec!["Причастия"]
    );
    assert_eq!(record("outcome=held&mode=online").len(), 2);
    // The class and subject filters never select a confidential consultation.
    assert_eq!(topics(&record("class=9A")), vec!["Причастия", "Задача"]);
    assert_eq!(record("subject=support"), Vec::<Value>::new());
    assert_eq!(record("class=10B"), Vec::<Value>::new());
    // An empty field is no filter.
    assert_eq!(
        record("form=&mode=&subject=&class=&outcome=&teacher=").len(),
        3
    );
    let summary = call(
        &server,
        "GET",
        "/api/consultations/summary?outcome=held",
        Some(&admin),
        b"",
    )
    .json();
    assert_eq!(summary["total"]["total"], 2, "{summary}");

    for (query, message) in [
        ("mode=video", "mode is online or offline"),
        ("outcome=won", "outcome is"),
        ("form=lecture", "form is"),
    ] {
        let refused = call(
            &server,
            "GET",
            &format!("/api/consultations?{query}"),
            Some(&admin),
            b"",
        );
        assert_eq!(refused.status, 400, "{query}");
        let body = refused.json();
        assert_eq!(body["code"], "bad_request");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains(message)),
            "{body}"
        );
    }

    // The export is audited with the filter it used.
    let csv = http_request(
        server.addr,
        "GET",
        "/api/consultations?mode=offline",
        &[
            ("authorization", &format!("Bearer {admin}")),
            ("accept", "text/csv"),
        ],
        b"",
    );
    assert_eq!(csv.status, 200);
    assert_eq!(csv.text().lines().count(), 2, "{}", csv.text());
    let audit = call(&server, "GET", "/api/admin/audit", Some(&admin), b"").json();
    assert_eq!(audit["entries"][0]["action"], "consultations.export");
    assert_eq!(audit["entries"][0]["details"]["rows"], 1);
    assert_eq!(audit["entries"][0]["details"]["filter"]["mode"], "offline");
}
