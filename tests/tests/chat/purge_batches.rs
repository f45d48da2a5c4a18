//! A large purge works in batches, each its own transaction, and says on stderr how far it got
//! after each one; stdout keeps its one-line result. An upload cut off on the way leaves
//! nothing behind.

use super::*;
use std::io::{Read, Write};

#[tokio::test]
async fn purge_deletes_in_batches_and_shows_its_progress() {
    let dir = TempDir::new("chat-purge-batches");
    let server = Server::start_in(&dir.0, fast_server());
    let (mut teacher, _) = WsClient::connect_as(&server, "teacher1").await;
    let (_, w1) = WsClient::connect_as(&server, "student1").await;
    let thread = group_thread(&mut teacher, "Большой архив", &[id_of(&w1)]).await;
    let token = server.login("teacher1", "demo");
    let mut files = Vec::new();
    for n in 0..3 {
        // Three contents, so three files.
        let mut pdf = PDF.to_vec();
        pdf.extend_from_slice(format!("% {n}\n").as_bytes());
        let stored = upload(&server, &token, &format!("old-{n}.pdf"), &pdf).json();
        files.push(stored["id"].clone());
    }
    for n in 0..25 {
        let mut message = json!({"type": "send", "thread": thread,
                                 "client_id": format!("old-{n}"), "text": format!("старое {n}")});
        if let Some(id) = files.get(n) {
            message["attachments"] = json!([id]);
        }
        let sent = teacher.request(message).await;
        assert_eq!(sent["type"], "sent", "{sent}");
    }
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    send(&mut teacher, thread, "new-1", "новое").await;

    let data = dir.0.to_str().expect("utf-8 path");
    let (code, out, err) = run_cli(
        &[
            "purge",
            "--older-than",
            "1s",
            "--batch",
            "10",
            "--data",
            data,
        ],
        &[],
        &dir.0,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.trim(), "purged 25 messages and 3 attachments (3 files)");
    // Not a terminal: a line per batch, in order.
    let progress: Vec<&str> = err.lines().filter(|l| l.starts_with("purged ")).collect();
    assert_eq!(
        progress,
        [
            "purged 10/25 messages",
            "purged 20/25 messages",
            "purged 25/25 messages",
            "purged 3/3 attachments",
        ],
        "{err}"
    );

    let left = teacher.whole_history(thread, 37).await;
    assert_eq!(seqs(&left), [26]);
    for id in &files {
        let id = id.as_str().expect("id");
        assert_eq!(download(&server, &token, id).status, 404);
    }
    let stored: usize = std::fs::read_dir(server.data.join("attachments"))
        .expect("attachments folder")
        .map(|d| {
            std::fs::read_dir(d.expect("entry").path())
                .expect("folder")
                .count()
        })
        .sum();
    assert_eq!(stored, 0, "their files are gone");

    // Nothing old is left: nothing to show, the same result line.
    let (code, out, err) = run_cli(
        &["purge", "--older-than", "1s", "--data", data],
        &[],
        &dir.0,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.trim(), "purged 0 messages and 0 attachments (0 files)");
    assert!(!err.contains("purged"), "{err}");
    for batch in ["0", "100001", "many"] {
        let (code, _, err) = run_cli(
            &[
                "purge",
                "--older-than",
                "1s",
                "--batch",
                batch,
                "--data",
                data,
            ],
            &[],
            &dir.0,
        );
        assert_eq!(code, 2, "--batch {batch}: {err}");
        assert!(err.contains("--batch"), "{err}");
    }
}

#[tokio::test]
async fn an_upload_cut_off_on_the_way_leaves_nothing() {
    let server = Server::start(ServerOptions::demo());
    let token = server.login("student1", "demo");
    // A 2 MB PDF announced whole, of which half is sent before the sender gives up.
    let mut pdf = PDF.to_vec();
    pdf.resize(2 * 1024 * 1024, b' ');
    let mut stream = std::net::TcpStream::connect(server.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let head = format!(
        "POST /api/attachments?name=half.pdf HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: {}\r\n\r\n",
        server.addr,
        pdf.len()
    );
    stream.write_all(head.as_bytes()).expect("head");
    stream
        .write_all(&pdf[..pdf.len() / 2])
        .expect("half the body");
    stream
        .shutdown(std::net::Shutdown::Write)
        .expect("end of sending");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("the answer");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("ended before its Content-Length"),
        "{answer}"
    );

    let folder = server.data.join("attachments");
    let left: Vec<_> = walk(&folder);
    assert!(
        left.is_empty(),
        "no file, not even a temporary one: {left:?}"
    );
    assert!(
        !server
            .metrics()
            .lines()
            .any(|l| l.starts_with("konsult_attachments_stored_total") && !l.ends_with(" 0")),
        "no attachment recorded"
    );
    // The same file sent whole is stored, and is the only one.
    let whole = upload(&server, &token, "whole.pdf", &pdf);
    assert_eq!(whole.status, 201, "{}", whole.text());
    assert_eq!(walk(&folder).len(), 1);
}

/// Every file under `dir` (none when it does not exist).
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
