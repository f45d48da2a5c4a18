//! The administration's report, black-box, on SQLite and on PostgreSQL: consultations made
//! through the real server (held, frontal, deferred questions answered and not) come back as
//! the series of the report's four charts, and its CSV holds the same numbers, section by
//! section, naming subjects as the school's subjects list does.

use konsult_testkit::{HttpResponse, Server, ServerOptions, WsClient, http_request};
use serde_json::{Value, json};
use std::time::Duration;

fn get(server: &Server, path: &str, token: &str, accept: &str) -> HttpResponse {
    let auth = format!("Bearer {token}");
    http_request(
        server.addr,
        "GET",
        path,
        &[("authorization", auth.as_str()), ("accept", accept)],
        b"",
    )
}

/// One CSV line's cells.
fn cells(line: &str) -> Vec<String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line.as_bytes());
    let record = reader
        .records()
        .next()
        .unwrap_or_else(|| panic!("no cells in {line:?}"))
        .expect("a CSV line");
    record.iter().map(String::from).collect()
}

/// The CSV's sections by title: each a header line and its rows. Sections are separated by a
/// blank line and no cell holds a line break, so the file splits on its lines.
fn sections(csv_text: &str) -> Vec<(String, Vec<Vec<String>>)> {
    let text = csv_text
        .strip_prefix('\u{feff}')
        .expect("the CSV starts with a byte order mark");
    assert!(text.ends_with("\r\n"), "lines end in CRLF");
    let mut out: Vec<(String, Vec<Vec<String>>)> = Vec::new();
    let mut at_start = false;
    for line in text.trim_end().split("\r\n").skip(1) {
        if line.is_empty() {
            at_start = true;
        } else if at_start {
            out.push((cells(line)[0].clone(), Vec::new()));
            at_start = false;
        } else if let Some((_, rows)) = out.last_mut() {
            rows.push(cells(line));
        }
    }
    out
}

fn section<'a>(all: &'a [(String, Vec<Vec<String>>)], title: &str) -> &'a [Vec<String>] {
    &all.iter()
        .find(|(t, _)| t == title)
        .unwrap_or_else(|| panic!("no section {title:?} in {all:?}"))
        .1
}

fn numbers(row: &[String]) -> Vec<u64> {
    row[1..]
        .iter()
        .map(|c| c.parse().expect("a number"))
        .collect()
}

fn n(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("{value} is a count"))
}

async fn the_charts_and_the_csv_agree(options: ServerOptions) {
    let server = Server::start(options);
    let (mut russian, _) = WsClient::connect_as(&server, "teacher3").await;
    russian
        .request(json!({"type": "set_status", "status": "available"}))
        .await;
    for student in ["student9", "student12"] {
        let (mut student, _) = WsClient::connect_as(&server, student).await;
        student
            .request(
                json!({"type": "request_help", "subject": "russian", "form": "individual",
                            "mode": "online", "topic": "Разбор"}),
            )
            .await;
        let offer = russian.recv_type("help_offer").await;
        let started = russian
            .request(json!({"type": "accept", "request": offer["request"]["id"]}))
            .await;
        assert_eq!(started["type"], "session_started", "{started}");
        russian
            .request(json!({"type": "end_session", "session": started["session"]["id"]}))
            .await;
    }
    let (mut physics, _) = WsClient::connect_as(&server, "teacher1").await;
    let frontal = physics
        .request(
            json!({"type": "create_session", "form": "frontal", "subject": "math",
                        "title": "Подготовка к ОГЭ", "class": "9A"}),
        )
        .await;
    assert_eq!(frontal["type"], "session_started", "{frontal}");
    physics
        .request(json!({"type": "end_session", "session": frontal["session"]["id"]}))
        .await;
    let mut threads = Vec::new();
    for (student, subject) in [("student10", "physics"), ("student11", "math")] {
        let (mut student, _) = WsClient::connect_as(&server, student).await;
        student
            .request(
                json!({"type": "request_help", "subject": subject, "form": "individual",
                            "mode": "offline", "topic": "Задача"}),
            )
            .await;
        threads.push(student.recv_type("request_deferred").await["thread"].clone());
    }
    // The physics question is answered; the math one is not.
    let answer = physics
        .request(
            json!({"type": "send", "thread": threads[0], "client_id": "a-1",
                        "text": "Смотри: I = U / R"}),
        )
        .await;
    assert_eq!(answer["type"], "sent", "{answer}");

    let admin = server.login("admin", "demo");
    let mut report = Value::Null;
    for _ in 0..100 {
        report = get(&server, "/api/consultations/summary", &admin, "*/*").json();
        if report["total"]["total"] == 5 && report["total"]["in_progress"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(report["total"]["total"], 5, "{report}");
    let charts = &report["charts"];

    // One week (everything happened today), three forms in the report's order.
    let weekly = &charts["weekly_by_form"];
    assert_eq!(
        weekly["weeks"].as_array().map(Vec::len),
        Some(1),
        "{weekly}"
    );
    let forms: Vec<(&str, u64)> = weekly["series"]
        .as_array()
        .expect("series")
        .iter()
        .map(|s| (s["form"].as_str().expect("form"), n(&s["counts"][0])))
        .collect();
    assert_eq!(
        forms,
        [
            ("individual online", 2),
            ("individual offline", 2),
            ("frontal online", 1)
        ]
    );

    let waits = charts["wait_by_subject"].as_array().expect("waits");
    let russian_wait = waits
        .iter()
        .find(|w| w["subject"] == "russian")
        .unwrap_or_else(|| panic!("russian waits: {waits:?}"));
    assert_eq!(russian_wait["requests"], 2);
    assert!(russian_wait["median_secs"].as_i64() <= russian_wait["p90_secs"].as_i64());

    let load = charts["load_by_teacher"].as_array().expect("load");
    let kuznetsova = load
        .iter()
        .find(|l| {
            l["teacher"]
                .as_str()
                .is_some_and(|t| t.contains("Кузнецова"))
        })
        .unwrap_or_else(|| panic!("teacher3's load: {load:?}"));
    assert_eq!(
        (n(&kuznetsova["consultations"]), n(&kuznetsova["held"])),
        (2, 2)
    );

    let offline = &charts["offline_answered"][0];
    assert_eq!(
        [
            &offline["asked"],
            &offline["within_day"],
            &offline["later"],
            &offline["unanswered"],
            &offline["within_day_percent"]
        ]
        .map(n),
        [2, 1, 0, 1, 50],
        "{offline}"
    );

    // The record says when the deferred question was answered.
    let record = get(
        &server,
        "/api/consultations?outcome=deferred",
        &admin,
        "*/*",
    )
    .json();
    let answered: Vec<bool> = record["consultations"]
        .as_array()
        .expect("consultations")
        .iter()
        .map(|c| c["answered_at"].is_string() && c["answer_secs"].as_i64().is_some_and(|s| s >= 0))
        .collect();
    assert_eq!(answered, [true, false], "{record}");

    // The school renames a subject: the CSV names subjects as its subjects list does, with
    // the code beside the name.
    let auth = format!("Bearer {admin}");
    let renamed = http_request(
        server.addr,
        "PUT",
        "/api/admin/subjects/russian",
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ],
        json!({"name": "Русский язык и культура речи"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(renamed.status, 200, "{}", renamed.text());
    let names: Vec<(String, String)> =
        get(&server, "/api/admin/subjects", &admin, "*/*").json()["subjects"]
            .as_array()
            .expect("subjects")
            .iter()
            .map(|s| {
                (
                    s["code"].as_str().expect("code").to_string(),
                    s["name"].as_str().expect("name").to_string(),
                )
            })
            .collect();
    let name_of = |code: &str| {
        names
            .iter()
            .find(|(c, name)| c == code && name != code)
            .map_or(code.to_string(), |(_, name)| name.clone())
    };

    // The CSV holds the same numbers, a section per chart.
    let csv = get(
        &server,
        "/api/consultations/summary?lang=en",
        &admin,
        "text/csv",
    );
    assert_eq!(csv.status, 200);
    assert!(
        csv.header("content-type")
            .is_some_and(|c| c.starts_with("text/csv"))
    );
    let all = sections(&csv.text());
    let weekly_rows = section(&all, "Consultations per week by form");
    assert_eq!(
        weekly_rows[0],
        [
            "Week (from Monday)",
            "Individual, online",
            "Individual, offline",
            "Whole class, online"
        ]
    );
    assert_eq!(
        weekly_rows[1][0],
        weekly["weeks"][0].as_str().expect("week")
    );
    assert_eq!(numbers(&weekly_rows[1]), [2, 2, 1]);

    let wait_rows = section(&all, "Waiting time by subject");
    assert_eq!(
        wait_rows[0],
        [
            "Subject",
            "Subject code",
            "Requests",
            "Median, s",
            "90th percentile, s"
        ]
    );
    assert_eq!(wait_rows.len() - 1, waits.len());
    for (row, wait) in wait_rows[1..].iter().zip(waits) {
        let code = wait["subject"].as_str().expect("subject");
        assert_eq!(row[0], name_of(code), "{row:?}");
        assert_eq!(row[1], code);
        assert_eq!(
            numbers(&row[1..]),
            [
                n(&wait["requests"]),
                n(&wait["median_secs"]),
                n(&wait["p90_secs"])
            ]
        );
    }

    let load_rows = section(&all, "Load per teacher");
    assert_eq!(load_rows.len() - 1, load.len());
    for (row, line) in load_rows[1..].iter().zip(load) {
        assert_eq!(row[0], line["teacher"].as_str().expect("teacher"));
        assert_eq!(
            numbers(row),
            [
                n(&line["consultations"]),
                n(&line["held"]),
                n(&line["minutes"])
            ]
        );
    }

    let offline_rows = section(&all, "Offline questions answered within a day");
    assert_eq!(numbers(&offline_rows[1]), [2, 1, 0, 1, 50]);
    let by_form = section(&all, "By form");
    assert_eq!(
        by_form.last().map(|row| numbers(row)[0]),
        Some(5),
        "the total closes the table by form"
    );

    // In Russian by default (the demo school's language), and a language it lacks is refused.
    let russian_csv = get(&server, "/api/consultations/summary", &admin, "text/csv").text();
    assert!(russian_csv.contains("Консультации по неделям и формам"));
    assert!(russian_csv.contains("Офлайн-вопросы: ответ в течение суток"));
    let russian_all = sections(&russian_csv);
    let russian_waits = section(&russian_all, "Время ожидания по предметам");
    assert_eq!(russian_waits[0][..2], ["Предмет", "Код предмета"]);
    assert!(
        russian_waits
            .iter()
            .any(|row| row[..2] == ["Русский язык и культура речи", "russian"]),
        "{russian_waits:?}"
    );
    let refused = get(&server, "/api/consultations/summary?lang=de", &admin, "*/*");
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["code"], "bad_request");

    // The export is audited.
    let audit = get(&server, "/api/admin/audit", &admin, "*/*").json();
    assert_eq!(audit["entries"][0]["action"], "consultations.report_export");
}

#[tokio::test]
async fn the_charts_and_the_csv_agree_on_sqlite() {
    the_charts_and_the_csv_agree(ServerOptions::demo()).await;
}

#[tokio::test]
async fn the_charts_and_the_csv_agree_on_postgres() {
    the_charts_and_the_csv_agree(ServerOptions::demo().on_postgres()).await;
}
