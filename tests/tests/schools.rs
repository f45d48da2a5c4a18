//! Many schools on one server, black-box: the `school` commands, logins that name their
//! school, and that nothing of one school (offers, presence, staff, directory, threads,
//! records, audit, hours, help page, accounts, attachments) is visible from another.

use konsult_testkit::process::{TempDir, run_cli};
use konsult_testkit::ws_client::names;
use konsult_testkit::{HttpResponse, Server, ServerOptions, WsClient, api_call, http_request};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// The password every account of these tests gets.
const PASSWORD: &str = "Sunflower-Meadow-47";

/// Runs a `konsult` command on `data` and returns its stdout; it must succeed.
fn cli(data: &Path, args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.extend(["--data", data.to_str().expect("utf-8 path")]);
    let (code, out, err) = run_cli(&all, &[], data.parent().expect("parent"));
    assert_eq!(code, 0, "konsult {args:?}: {err}");
    out
}

/// Two schools, `a` and `b`, each with a student `student`, a math teacher `teacher` and its
/// admin `admin`; the same logins in both.
fn two_schools() -> (TempDir, Server) {
    two_schools_with(ServerOptions::default())
}

fn two_schools_with(options: ServerOptions) -> (TempDir, Server) {
    let dir = TempDir::new("schools");
    let data = dir.0.join("data");
    for code in ["a", "b"] {
        let name = format!("School {}", code.to_uppercase());
        let out = cli(&data, &["school", "add", "--code", code, "--name", &name]);
        assert!(out.contains(&format!("created school {code}")), "{out}");
        let upper = code.to_uppercase();
        for (login, role, extra) in [
            ("student", "student", ["--class", "9A"]),
            ("teacher", "teacher", ["--subjects", "math"]),
            // `school add` made `admin` with a generated password: this one's is known.
            ("admin2", "admin", ["--class", ""]),
        ] {
            let name = format!("{}{} {upper}", login[..1].to_uppercase(), &login[1..]);
            let name = name.replace("Admin2", "Admin");
            let mut args = vec![
                "user",
                "add",
                "--school",
                code,
                "--login",
                login,
                "--name",
                &name,
                "--role",
                role,
                "--password",
                PASSWORD,
            ];
            if role != "admin" {
                args.extend(extra);
            }
            cli(&data, &args);
        }
    }
    let server = Server::start_in(&data, options);
    (dir, server)
}

fn login(server: &Server, school: Option<&str>, login: &str) -> HttpResponse {
    let mut body = json!({"login": login, "password": PASSWORD});
    if let Some(school) = school {
        body["school"] = json!(school);
    }
    http_request(
        server.addr,
        "POST",
        "/api/login",
        &[("content-type", "application/json")],
        body.to_string().as_bytes(),
    )
}

fn token(server: &Server, school: &str, who: &str) -> String {
    let reply = login(server, Some(school), who);
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["token"].as_str().expect("token").to_string()
}

fn call(server: &Server, method: &str, path: &str, token: &str, body: &[u8]) -> HttpResponse {
    api_call(server.addr, method, path, token, body)
}

fn get(server: &Server, path: &str) -> HttpResponse {
    http_request(server.addr, "GET", path, &[], b"")
}

#[test]
fn the_same_login_signs_into_its_own_school_and_several_schools_need_one_named() {
    let (_dir, server) = two_schools();
    let unnamed = login(&server, None, "student");
    assert_eq!(unnamed.status, 400, "{}", unnamed.text());
    let error = unnamed.json();
    assert_eq!(error["code"], "bad_request");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("school") && message.contains("a, b"),
        "{message}"
    );

    let in_a = login(&server, Some("a"), "student").json();
    let in_b = login(&server, Some("B"), "student").json();
    assert_eq!(in_a["user"]["name"], "Student A");
    assert_eq!(
        in_b["user"]["name"], "Student B",
        "codes are case-insensitive"
    );
    assert_ne!(in_a["user"]["id"], in_b["user"]["id"]);
    let unknown = login(&server, Some("nowhere"), "student");
    assert_eq!(unknown.status, 400, "{}", unknown.text());
    let wrong = http_request(
        server.addr,
        "POST",
        "/api/login",
        &[("content-type", "application/json")],
        json!({"login": "student", "password": "Wrong-Password-1", "school": "a"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(wrong.status, 401);

    let schools = get(&server, "/api/schools").json();
    assert_eq!(
        schools,
        json!([{"code": "a", "name": "School A"}, {"code": "b", "name": "School B"}])
    );
}

#[test]
fn with_one_school_the_login_needs_no_school() {
    let server = Server::start(ServerOptions::demo());
    let token = server.login("student1", "demo");
    assert!(!token.is_empty());
    assert_eq!(
        get(&server, "/api/schools").json()[0]["code"],
        "demo",
        "--demo creates the school demo"
    );
    let page = get(&server, "/help");
    assert!(page.text().contains("Как получить помощь"));
}

#[test]
fn school_and_user_commands() {
    let dir = TempDir::new("school-cli");
    let data = dir.0.join("data");
    let out = cli(
        &data,
        &[
            "school",
            "add",
            "--code",
            "Lyceum-1",
            "--name",
            "Лицей №1",
            "--timezone",
            "Asia/Yekaterinburg",
        ],
    );
    assert!(out.contains("created school lyceum-1"), "{out}");
    assert!(
        out.contains("password: "),
        "the admin's password is shown once: {out}"
    );
    // While there is one school, `user add` needs no `--school`.
    cli(
        &data,
        &[
            "user",
            "add",
            "--login",
            "t1",
            "--name",
            "T One",
            "--role",
            "teacher",
            "--password",
            PASSWORD,
        ],
    );
    cli(
        &data,
        &["school", "add", "--code", "gym-2", "--name", "Гимназия 2"],
    );
    let list = cli(&data, &["school", "list"]);
    assert!(
        list.contains("lyceum-1\tЛицей №1\tAsia/Yekaterinburg"),
        "{list}"
    );
    assert!(list.contains("gym-2\tГимназия 2\t"), "{list}");

    let args = |school: Option<&str>| {
        let mut args = vec![
            "user", "add", "--login", "t1", "--name", "T", "--role", "teacher",
        ];
        args.extend([
            "--password",
            PASSWORD,
            "--data",
            data.to_str().expect("path"),
        ]);
        if let Some(school) = school {
            args.extend(["--school", school]);
        }
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_cli(&args, &[], &dir.0)
    };
    let (code, _, err) = run(args(None));
    assert_ne!(code, 0);
    assert!(
        err.contains("gym-2, lyceum-1"),
        "the error names the codes: {err}"
    );
    let (code, _, err) = run(args(Some("lyceum-1")));
    assert_ne!(code, 0, "t1 exists in lyceum-1");
    assert!(err.contains("already exists"), "{err}");
    let (code, _, err) = run(args(Some("gym-2")));
    assert_eq!(code, 0, "the same login in another school: {err}");
    let (code, _, err) = run(args(Some("nowhere")));
    assert_ne!(code, 0);
    assert!(err.contains("nowhere"), "{err}");

    let (code, _, err) = run_cli(
        &[
            "school",
            "add",
            "--code",
            "GYM-2",
            "--name",
            "Again",
            "--data",
            data.to_str().expect("path"),
        ],
        &[],
        &dir.0,
    );
    assert_ne!(code, 0);
    assert!(err.contains("already exists"), "{err}");
    let (code, _, err) = run_cli(
        &[
            "school",
            "add",
            "--code",
            "no spaces",
            "--name",
            "X",
            "--data",
            data.to_str().expect("path"),
        ],
        &[],
        &dir.0,
    );
    assert_ne!(code, 0);
    assert!(err.contains("a-z, 0-9 and -"), "{err}");
}

#[tokio::test]
async fn nothing_of_one_school_is_visible_from_the_other() {
    let (_dir, server) = two_schools();
    let [student_a, teacher_a, admin_a] =
        ["student", "teacher", "admin2"].map(|w| token(&server, "a", w));
    let [student_b, teacher_b, admin_b] =
        ["student", "teacher", "admin2"].map(|w| token(&server, "b", w));

    // B's teacher is available; A's student asks for help with math.
    let (mut tb, _) = WsClient::connect_with_token(&server, &teacher_b).await;
    tb.request(json!({"type": "set_status", "status": "available"}))
        .await;
    let (mut sb, _) = WsClient::connect_with_token(&server, &student_b).await;
    let seen_by_b = sb
        .request(json!({"type": "list_teachers", "subject": "math"}))
        .await;
    assert_eq!(
        names(&seen_by_b, "teachers"),
        vec!["Teacher B"],
        "{seen_by_b}"
    );

    let (mut sa, welcome_a) = WsClient::connect_with_token(&server, &student_a).await;
    let student_a_id = welcome_a["user"]["id"].clone();
    let staff_of_a = sa
        .request(json!({"type": "list_teachers", "subject": "math"}))
        .await;
    assert!(
        !names(&staff_of_a, "teachers").contains(&"Teacher B".to_string()),
        "presence and staff lists: A's student never sees B's teacher: {staff_of_a}"
    );
    let asked = sa
        .request(
            json!({"type": "request_help", "subject": "math", "form": "individual",
                        "mode": "online", "topic": "fractions-of-school-a"}),
        )
        .await;
    assert_ne!(asked["type"], "error", "{asked}");
    let heard_by_b = tb.frames_within(Duration::from_secs(2)).await;
    assert!(
        !heard_by_b
            .iter()
            .any(|f| f["type"] == "help_offer" || f.to_string().contains("fractions-of-school-a")),
        "B's teacher is never offered A's request nor sees it queued: {heard_by_b:?}"
    );
    let staff_of_b = tb
        .request(json!({"type": "list_teachers", "subject": "math"}))
        .await;
    assert!(
        !names(&staff_of_b, "teachers").contains(&"Teacher A".to_string()),
        "{staff_of_b}"
    );
    if let Some(request) = asked["request"]["id"].as_i64() {
        sa.request(json!({"type": "cancel_request", "request": request}))
            .await;
    }

    // The students directory.
    let directory_b = call(&server, "GET", "/api/students", &teacher_b, b"").json();
    assert_eq!(
        names(&directory_b, "students"),
        vec!["Student B"],
        "{directory_b}"
    );
    let directory_a = call(&server, "GET", "/api/students", &teacher_a, b"").json();
    assert_eq!(
        names(&directory_a, "students"),
        vec!["Student A"],
        "{directory_a}"
    );

    // A thread of school A with an attachment.
    let (mut ta, _) = WsClient::connect_with_token(&server, &teacher_a).await;
    let created = ta
        .request(
            json!({"type": "create_thread", "kind": "personal", "title": "math",
                        "members": [student_a_id]}),
        )
        .await;
    let thread = created["thread"]["id"].clone();
    assert!(thread.is_i64(), "{created}");
    let pdf = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n";
    let upload = http_request(
        server.addr,
        "POST",
        "/api/attachments?name=homework.pdf",
        &[
            ("authorization", &format!("Bearer {teacher_a}")),
            ("content-type", "application/pdf"),
        ],
        pdf,
    );
    assert_eq!(upload.status, 201, "{}", upload.text());
    let attachment = upload.json()["id"].as_str().expect("id").to_string();
    let sent = ta
        .request(json!({"type": "send", "thread": thread, "client_id": "a-1",
                        "text": "see the file", "attachments": [attachment]}))
        .await;
    assert_eq!(sent["type"], "sent", "{sent}");

    let (mut ab, _) = WsClient::connect_with_token(&server, &admin_b).await;
    let read_by_b = ab
        .request(json!({"type": "history", "thread": thread}))
        .await;
    assert_eq!(
        read_by_b["code"], "not_found",
        "B's admin cannot read A's thread: {read_by_b}"
    );
    let listed_b = tb.request(json!({"type": "threads"})).await;
    assert!(
        !listed_b.to_string().contains("see the file")
            && listed_b["threads"]
                .as_array()
                .is_some_and(|t| t.iter().all(|t| t["id"] != thread)),
        "{listed_b}"
    );
    let download_b = call(
        &server,
        "GET",
        &format!("/api/attachments/{attachment}"),
        &admin_b,
        b"",
    );
    assert_eq!(
        download_b.status, 404,
        "B's admin cannot download A's attachment"
    );
    let (mut aa, _) = WsClient::connect_with_token(&server, &admin_a).await;
    let read_by_a = aa
        .request(json!({"type": "history", "thread": thread}))
        .await;
    assert_eq!(
        read_by_a["type"], "history",
        "A's admin reads it: {read_by_a}"
    );
    let download_a = call(
        &server,
        "GET",
        &format!("/api/attachments/{attachment}"),
        &admin_a,
        b"",
    );
    assert_eq!(download_a.status, 200);

    // The audit log: A's admin read as an outsider, in A's log only.
    let audit_a = call(&server, "GET", "/api/admin/audit", &admin_a, b"").json();
    assert!(audit_a.to_string().contains("thread.read"), "{audit_a}");
    let audit_b = call(&server, "GET", "/api/admin/audit", &admin_b, b"").json();
    assert!(!audit_b.to_string().contains("thread.read"), "{audit_b}");

    // The record: A's request is in A's record, never in B's.
    let mut record_a = Value::Null;
    for _ in 0..50 {
        record_a = call(&server, "GET", "/api/consultations", &admin_a, b"").json();
        if record_a.to_string().contains("fractions-of-school-a") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        record_a.to_string().contains("fractions-of-school-a"),
        "{record_a}"
    );
    let record_b = call(&server, "GET", "/api/consultations", &admin_b, b"").json();
    assert!(
        !record_b.to_string().contains("fractions-of-school-a"),
        "{record_b}"
    );

    // Accounts: B's admin neither lists nor changes A's.
    let users_b = call(&server, "GET", "/api/admin/users", &admin_b, b"").json();
    assert!(!users_b.to_string().contains("Student A"), "{users_b}");
    let deactivate = call(
        &server,
        "POST",
        &format!("/api/admin/users/{student_a_id}/deactivate"),
        &admin_b,
        b"",
    );
    assert_eq!(deactivate.status, 404, "{}", deactivate.text());

    // Hours and the public help pages.
    let slot = json!([{"subject": "math", "weekday": 3, "start": "15:00", "end": "16:00", "mode": "online"}]);
    let put = call(
        &server,
        "PUT",
        "/api/hours",
        &teacher_a,
        slot.to_string().as_bytes(),
    );
    assert_eq!(put.status, 200, "{}", put.text());
    let help_b = get(&server, "/api/help?school=b").json();
    assert!(!help_b.to_string().contains("Teacher A"), "{help_b}");
    assert!(
        !help_b.to_string().contains("15:00"),
        "A's hours are not B's: {help_b}"
    );
    let help_a = get(&server, "/api/help?school=a").json();
    assert!(help_a.to_string().contains("15:00"), "{help_a}");
    assert_eq!(
        get(&server, "/api/help").status,
        400,
        "several schools: name one"
    );
    let page_b = get(&server, "/s/b/help").text();
    assert!(
        page_b.contains("Teacher B") && !page_b.contains("Teacher A"),
        "{page_b}"
    );
    assert!(
        page_b.contains("href=\"/s/b/\""),
        "its sign-in link is the school's"
    );
    let page_a = get(&server, "/s/a/help").text();
    assert!(page_a.contains("Teacher A") && !page_a.contains("Teacher B"));
    let list = get(&server, "/help").text();
    assert!(
        list.contains("/s/a/help") && list.contains("/s/b/help"),
        "{list}"
    );
    assert!(
        list.contains("School A") && !list.contains("Teacher A"),
        "{list}"
    );
    assert_eq!(get(&server, "/s/nowhere/help").status, 404);
}

#[tokio::test]
async fn a_portal_token_names_its_school() {
    use konsult_testkit::portal::{TEST_PORTAL, sign, unix_now};
    let (_dir, server) = two_schools_with(ServerOptions::default().with_portal());
    let claims = |school: Option<&str>| {
        let mut claims = json!({"sub": "p-777", "name": "Portal Pupil", "role": "student",
            "class": "9A", "subjects": [], "iss": TEST_PORTAL.issuer, "exp": unix_now() + 600});
        if let Some(school) = school {
            claims["school"] = json!(school);
        }
        sign(TEST_PORTAL.secret.as_bytes(), &claims)
    };
    let (_pupil, welcome) = WsClient::connect_with_token(&server, &claims(Some("b"))).await;
    assert_eq!(welcome["user"]["name"], "Portal Pupil", "{welcome}");
    let users_b = call(
        &server,
        "GET",
        "/api/admin/users",
        &token(&server, "b", "admin2"),
        b"",
    )
    .json();
    assert!(
        users_b.to_string().contains("p-777"),
        "created in school b: {users_b}"
    );
    let users_a = call(
        &server,
        "GET",
        "/api/admin/users",
        &token(&server, "a", "admin2"),
        b"",
    )
    .json();
    assert!(!users_a.to_string().contains("p-777"), "{users_a}");

    let mut unnamed = WsClient::connect(&server).await;
    unnamed
        .send_json(&json!({"type": "hello", "v": 1, "token": claims(None)}))
        .await;
    let refused = unnamed.recv().await;
    assert_eq!(
        refused["code"], "unauthorized",
        "several schools: the token must name one: {refused}"
    );
}
