//! The account import answered as it goes, black-box: `POST /api/admin/users/import?progress=true`
//! streams `{"done","total"}` lines while the passwords are hashed and ends with a summary
//! (created, skipped, errors by line); all or nothing as before; an admin who goes away
//! abandons it and nothing is written.

use konsult_testkit::{Server, ServerOptions, http_request};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// One line of an answer, and when it arrived.
struct Line {
    value: Value,
    at: Instant,
}

/// Sends a CSV import to `path` and reads its chunked answer as it comes: the status, the
/// content type and each JSON line with the time it arrived. `stop_after` ends the read (and
/// closes the socket) once that many lines have come.
fn stream_import(
    server: &Server,
    token: &str,
    path: &str,
    csv: &str,
    stop_after: Option<usize>,
) -> (u16, String, Vec<Line>) {
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: text/csv\r\n\
         Authorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n",
        server.addr,
        csv.len()
    );
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(csv.as_bytes()).expect("write body");

    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let mut lines = Vec::new();
    let mut header_end = None;
    let mut consumed = 0;
    let mut pending = String::new();
    loop {
        let n = stream.read(&mut buf).expect("read");
        let at = Instant::now();
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if header_end.is_none() {
            header_end = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
            consumed = header_end.unwrap_or(0);
        }
        if header_end.is_none() {
            continue;
        }
        // Whole chunks only: `size\r\n data\r\n`.
        loop {
            let rest = &raw[consumed..];
            let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
                break;
            };
            let size = usize::from_str_radix(
                std::str::from_utf8(&rest[..eol])
                    .expect("chunk size")
                    .trim(),
                16,
            )
            .expect("hex chunk size");
            if rest.len() < eol + 2 + size + 2 {
                break;
            }
            pending.push_str(std::str::from_utf8(&rest[eol + 2..eol + 2 + size]).expect("utf-8"));
            consumed += eol + 2 + size + 2;
            while let Some(end) = pending.find('\n') {
                let line: String = pending.drain(..=end).collect();
                let value = serde_json::from_str(line.trim()).expect("a JSON line");
                lines.push(Line { value, at });
            }
        }
        if stop_after.is_some_and(|n| lines.len() >= n) {
            break;
        }
    }
    let head = String::from_utf8_lossy(&raw[..header_end.expect("a whole head")]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, content_type, lines)
}

fn users(server: &Server, token: &str, query: &str) -> Vec<Value> {
    let auth = format!("Bearer {token}");
    let answer = http_request(
        server.addr,
        "GET",
        &format!("/api/admin/users?{query}"),
        &[("authorization", auth.as_str())],
        b"",
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()["users"].as_array().expect("users").clone()
}

fn students_csv(class: &str, count: usize) -> String {
    let mut csv = String::from("login;name;role;class\n");
    for n in 1..=count {
        csv.push_str(&format!("{class}-{n};Ученик {n} {class};student;{class}\n"));
        if n == count / 2 {
            // A blank line and one of separators only: skipped, not errors.
            csv.push_str("\n;;;\n");
        }
    }
    csv
}

#[test]
fn an_import_streams_its_progress_and_ends_with_a_summary() {
    let server = Server::start(ServerOptions::demo());
    let admin = server.login("admin", "demo");
    let csv = students_csv("7v", 240);
    let started = Instant::now();
    let (status, content_type, lines) = stream_import(
        &server,
        &admin,
        "/api/admin/users/import?progress=true",
        &csv,
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/x-ndjson");
    let (summary, progress) = lines.split_last().expect("lines");
    assert!(progress.len() >= 2, "progress lines before the summary");
    let mut last = 0;
    for line in progress {
        assert_eq!(line.value["total"], 240, "{}", line.value);
        let done = line.value["done"].as_u64().expect("done") as usize;
        assert!(
            done >= last && done <= 240,
            "done only grows: {}",
            line.value
        );
        assert!(line.value.get("ok").is_none(), "only the summary has ok");
        last = done;
    }
    assert_eq!(progress[0].value["done"], 0);
    assert_eq!(last, 240, "the last progress line says all are ready");
    assert!(
        progress.iter().any(|l| {
            let done = l.value["done"].as_u64().unwrap_or(0);
            done > 0 && done < 240
        }),
        "progress seen between the start and the end"
    );
    // The lines came as the work went, not all at the end.
    assert!(
        progress[0].at < summary.at
            && summary.at.duration_since(progress[0].at) * 4 >= summary.at - started,
        "the first line came early"
    );

    let summary = &summary.value;
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["created"], 240);
    assert_eq!(summary["skipped"], 2, "the blank line and the separators");
    assert_eq!(summary["errors"], serde_json::json!([]));
    let passwords = summary["passwords"].as_array().expect("passwords");
    assert_eq!(passwords.len(), 240);
    assert_eq!(users(&server, &admin, "class=7v").len(), 240);
    let first = &passwords[0];
    server.login(
        first["login"].as_str().expect("login"),
        first["password"].as_str().expect("password"),
    );

    // Bad lines and a taken login: the summary names each line, nothing is written.
    let mut bad = students_csv("8g", 20);
    bad.push_str("8g-x;Икс;pilot;8g\n7v-1;Снова;student;8g\n");
    let (status, _, lines) = stream_import(
        &server,
        &admin,
        "/api/admin/users/import?progress=true",
        &bad,
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(lines.len(), 1, "no progress before a refusal");
    let summary = &lines[0].value;
    assert_eq!(summary["ok"], false, "{summary}");
    assert_eq!(summary["code"], "bad_request");
    assert_eq!(summary["created"], 0);
    assert_eq!(summary["skipped"], 2);
    let errors: Vec<(u64, String)> = summary["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().expect("line"),
                e["message"].as_str().expect("message").to_string(),
            )
        })
        .collect();
    assert_eq!(errors.len(), 2, "{summary}");
    assert_eq!(errors[0].0, 24);
    assert!(errors[0].1.contains("pilot"), "{}", errors[0].1);
    assert_eq!(errors[1].0, 25);
    assert!(errors[1].1.contains("already exists"), "{}", errors[1].1);
    assert!(
        users(&server, &admin, "class=8g").is_empty(),
        "all or nothing"
    );

    // The answer without `progress` is as it always was; students may not import.
    let auth = format!("Bearer {admin}");
    let plain = http_request(
        server.addr,
        "POST",
        "/api/admin/users/import",
        &[("authorization", auth.as_str())],
        students_csv("9d", 2).as_bytes(),
    );
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-type"), Some("application/json"));
    assert_eq!(plain.json()["created"], 2);
    let student = format!("Bearer {}", server.login("student1", "demo"));
    let refused = http_request(
        server.addr,
        "POST",
        "/api/admin/users/import?progress=true",
        &[("authorization", student.as_str())],
        students_csv("9e", 2).as_bytes(),
    );
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json()["code"], "forbidden");
}

#[test]
fn an_import_whose_reader_goes_away_writes_nothing() {
    let server = Server::start(ServerOptions::demo());
    let admin = server.login("admin", "demo");
    let csv = students_csv("6a", 1_200);
    // The first two lines, then the socket closes in the middle of the hashing.
    let (status, _, lines) = stream_import(
        &server,
        &admin,
        "/api/admin/users/import?progress=true",
        &csv,
        Some(2),
    );
    assert_eq!(status, 200);
    assert!(lines.iter().all(|l| l.value["done"].as_u64() < Some(1_200)));
    let deadline = Instant::now() + Duration::from_secs(120);
    while !server.logs().contains("import abandoned") {
        assert!(
            Instant::now() < deadline,
            "the server never noticed: {}",
            server.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        users(&server, &admin, "class=6a").is_empty(),
        "nothing written"
    );
    // The school is not stuck: the same file imports afterwards.
    let (_, _, lines) = stream_import(
        &server,
        &admin,
        "/api/admin/users/import?progress=true",
        &students_csv("6a", 30),
        None,
    );
    let summary = &lines.last().expect("summary").value;
    assert_eq!(summary["created"], 30, "{summary}");
}
