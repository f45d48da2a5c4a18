//! Attachments sniffed, stored once and guarded, and the purge of old messages and of the
//! attachments nobody refers to any more.

use super::*;

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
