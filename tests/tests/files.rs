//! What Konsult hands out and leaves on disk, black-box: the CSV export a spreadsheet opens
//! without running formulas, a data folder only the server's account can read whatever the
//! umask, attachment names that cannot hide their real extension with bidirectional text; and
//! the account import naming the right lines in a file saved on Windows.

use konsult_testkit::process::{Launch, Process, TempDir, konsult_binary};
use konsult_testkit::{HttpResponse, Server, ServerOptions, WsClient, http_request};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A 1×1 PNG.
const PNG: &str = "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489000000\
                   0d4944415478da636460f85f0f0002870180eb47ba920000000049454e44ae426082";

fn png() -> Vec<u8> {
    (0..PNG.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&PNG[i..i + 2], 16).expect("hex"))
        .collect()
}

fn login(addr: SocketAddr, login: &str) -> String {
    let body = json!({"login": login, "password": "demo"}).to_string();
    let resp = http_request(
        addr,
        "POST",
        "/api/login",
        &[("content-type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(resp.status, 200, "login {login}: {}", resp.text());
    resp.json()["token"].as_str().expect("token").to_string()
}

/// Uploads `bytes` as `name` (already percent-encoded for the query).
fn upload(addr: SocketAddr, token: &str, name: &str, bytes: &[u8]) -> HttpResponse {
    http_request(
        addr,
        "POST",
        &format!("/api/attachments?name={name}"),
        &[
            ("authorization", &format!("Bearer {token}")),
            ("content-type", "application/octet-stream"),
        ],
        bytes,
    )
}

const HYPERLINK: &str = "=HYPERLINK(\"http://x\",\"y\")";
const DDE: &str = "@SUM(1+9)*cmd|' /C calc'!A0";

#[tokio::test]
async fn the_csv_export_neutralises_formulas() {
    let server = Server::start(ServerOptions::demo());
    // Offline requests nobody takes at once are deferred: each leaves a record with its topic.
    for (student, topic) in [("student11", HYPERLINK), ("student12", DDE)] {
        let (mut client, _) = WsClient::connect_as(&server, student).await;
        let queued = client
            .request(
                json!({"type": "request_help", "subject": "physics", "form": "individual",
                            "mode": "offline", "topic": topic}),
            )
            .await;
        assert_ne!(queued["type"], "error", "{queued}");
        client.recv_type("request_deferred").await;
    }
    let admin = server.login("admin", "demo");
    let auth = format!("Bearer {admin}");
    let mut rows: Vec<Vec<String>> = Vec::new();
    for _ in 0..50 {
        let csv = http_request(
            server.addr,
            "GET",
            "/api/consultations",
            &[("authorization", &auth), ("accept", "text/csv")],
            b"",
        );
        assert_eq!(csv.status, 200, "{}", csv.text());
        let mut reader = csv::Reader::from_reader(csv.body.as_slice());
        let header: Vec<String> = reader
            .headers()
            .expect("a header row")
            .iter()
            .map(String::from)
            .collect();
        rows = std::iter::once(Ok(header))
            .chain(
                reader
                    .records()
                    .map(|r| r.map(|r| r.iter().map(String::from).collect())),
            )
            .collect::<Result<_, _>>()
            .expect("the export parses as CSV");
        if rows.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(rows.len(), 3, "{rows:?}");
    let topic = rows[0]
        .iter()
        .position(|h| h == "topic")
        .expect("a topic column");
    let mut topics: Vec<&str> = rows[1..].iter().map(|r| r[topic].as_str()).collect();
    topics.sort();
    // Written as text: the spreadsheet shows the words and runs nothing.
    assert_eq!(topics, vec![format!("'{HYPERLINK}"), format!("'{DDE}")]);
    for row in &rows {
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "a cell a spreadsheet would evaluate: {cell:?}"
            );
        }
    }
    // The JSON answer keeps the topic as it was typed.
    let json = http_request(
        server.addr,
        "GET",
        "/api/consultations",
        &[("authorization", &auth)],
        b"",
    )
    .json();
    let typed: Vec<&str> = json["consultations"]
        .as_array()
        .expect("consultations")
        .iter()
        .filter_map(|c| c["topic"].as_str())
        .collect();
    assert!(typed.contains(&HYPERLINK) && typed.contains(&DDE), "{json}");
}

/// `konsult serve --demo` on `data` under umask 000, run from `cwd`.
fn start_with_open_umask(cwd: &Path, data: &Path) -> Process {
    let bin = konsult_binary().to_string_lossy().into_owned();
    let data = data.to_string_lossy().into_owned();
    let mut launch = Launch::new(
        "/bin/sh",
        &[
            "-c",
            "umask 000; exec \"$0\" \"$@\"",
            bin.as_str(),
            "serve",
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--data",
            data.as_str(),
        ],
    )
    .env("KONSULT_MEDIA_LISTEN", "127.0.0.1:0")
    // Never the default metrics port: another server on this machine may hold it.
    .env("KONSULT_METRICS_LISTEN", "127.0.0.1:0");
    launch.dir = Some(cwd.to_path_buf());
    Process::start(&launch).unwrap_or_else(|e| panic!("{e:#}"))
}

/// Every path under `root` (itself included) with its permission bits.
fn modes(root: &Path) -> Vec<(PathBuf, bool, u32)> {
    let mut found = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(path) = todo.pop() {
        let meta = std::fs::symlink_metadata(&path).expect("metadata");
        found.push((
            path.clone(),
            meta.is_dir(),
            meta.permissions().mode() & 0o777,
        ));
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read folder") {
                todo.push(entry.expect("entry").path());
            }
        }
    }
    found
}

fn assert_private(data: &Path) {
    let found = modes(data);
    let names: Vec<String> = found
        .iter()
        .map(|(p, _, _)| p.to_string_lossy().into_owned())
        .collect();
    for expected in [
        "konsult.db",
        "konsult.db-wal",
        "konsult.db-shm",
        "attachments",
    ] {
        assert!(
            names.iter().any(|n| n.ends_with(expected)),
            "{expected} missing: {names:?}"
        );
    }
    for (path, is_dir, mode) in &found {
        let wanted = if *is_dir { 0o700 } else { 0o600 };
        assert_eq!(
            *mode,
            wanted,
            "{} is {mode:o}, not {wanted:o}",
            path.display()
        );
    }
}

#[test]
fn the_data_folder_is_for_the_schools_eyes_only_whatever_the_umask() {
    let tmp = TempDir::new("modes");
    let data = tmp.0.join("data");
    {
        let server = start_with_open_umask(&tmp.0, &data);
        let token = login(server.addr, "student1");
        let stored = upload(server.addr, &token, "scheme.png", &png());
        assert_eq!(stored.status, 201, "{}", stored.text());
        assert_private(&data);
    }
    // A folder left open by hand (or by an older version) is tightened at start.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    std::fs::set_permissions(
        data.join("konsult.db"),
        std::fs::Permissions::from_mode(0o666),
    )
    .expect("chmod");
    let server = start_with_open_umask(&tmp.0, &data);
    let token = login(server.addr, "student2");
    let stored = upload(server.addr, &token, "other.pdf", b"%PDF-1.4\n%%EOF\n");
    assert_eq!(stored.status, 201, "{}", stored.text());
    assert_private(&data);
}

const BIDI: [char; 9] = [
    '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}',
    '\u{2069}',
];

#[tokio::test]
async fn attachment_names_lose_bidirectional_controls() {
    let server = Server::start(ServerOptions::demo());
    let (mut teacher, _) = WsClient::connect_as(&server, "teacher1").await;
    let (mut student, welcome) = WsClient::connect_as(&server, "student1").await;
    let added = teacher
        .request(
            json!({"type": "create_thread", "kind": "group", "title": "Счета",
                        "members": [welcome["user"]["id"]]}),
        )
        .await;
    assert_eq!(added["type"], "thread_added", "{added}");
    let thread = added["thread"]["id"].clone();
    let token = server.login("student1", "demo");
    // `invoice<U+202E>fdp.exe`, shown by a bidi-aware screen as `invoiceexe.pdf`; and every
    // other control of the two ranges inside another name.
    let reversed = upload(server.addr, &token, "invoice%E2%80%AEfdp.exe", &png());
    assert_eq!(reversed.status, 201, "{}", reversed.text());
    let reversed = reversed.json();
    assert_eq!(reversed["name"], "invoicefdp.exe.png", "{reversed}");
    let all: String = BIDI
        .iter()
        .map(|c| {
            let mut buf = [0u8; 4];
            c.encode_utf8(&mut buf)
                .bytes()
                .map(|b| format!("%{b:02X}"))
                .collect::<String>()
        })
        .collect();
    let mixed = upload(server.addr, &token, &format!("a{all}b.png"), &png());
    assert_eq!(mixed.status, 201, "{}", mixed.text());
    assert_eq!(mixed.json()["name"], "ab.png");

    // As the thread lists it, and as the download names it.
    let sent = student
        .request(
            json!({"type": "send", "thread": thread, "client_id": "bidi-1", "text": "Счёт",
                        "attachments": [reversed["id"]]}),
        )
        .await;
    assert_eq!(sent["type"], "sent", "{sent}");
    let history = teacher
        .request(json!({"type": "history", "thread": thread, "after": 0, "limit": 50}))
        .await;
    let names: Vec<Value> = history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .flat_map(|m| m["attachments"].as_array().cloned().unwrap_or_default())
        .map(|a| a["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("invoicefdp.exe.png")], "{history}");
    let teacher_token = server.login("teacher1", "demo");
    let download = http_request(
        server.addr,
        "GET",
        &format!("/api/attachments/{}", reversed["id"].as_str().expect("id")),
        &[("authorization", &format!("Bearer {teacher_token}"))],
        b"",
    );
    assert_eq!(download.status, 200);
    let disposition = download.header("content-disposition").expect("disposition");
    assert!(!disposition.contains("%E2%80%AE"), "{disposition}");
    assert!(disposition.contains("invoicefdp.exe.png"), "{disposition}");
}

#[test]
fn an_import_saved_with_windows_line_ends_names_the_right_lines() {
    let server = Server::start(ServerOptions::demo());
    let admin = server.login("admin", "demo");
    let auth = format!("Bearer {admin}");
    for end in ["\r\n", "\r", "\n"] {
        let text = [
            "login;name;role;class",
            "ivanov;Иван Иванов;student;10B",
            "sidorov;С;pilot;10B",
            "",
        ]
        .join(end);
        let preview = http_request(
            server.addr,
            "POST",
            "/api/admin/users/import?dry_run=true",
            &[("authorization", &auth), ("content-type", "text/csv")],
            text.as_bytes(),
        );
        assert_eq!(preview.status, 200, "{}", preview.text());
        let preview = preview.json();
        assert_eq!(preview["rows"][0]["line"], 2, "{end:?}: {preview}");
        assert_eq!(preview["errors"][0]["line"], 3, "{end:?}: {preview}");
    }
}
