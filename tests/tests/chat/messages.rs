//! Sends acknowledged only when stored, pushed to the other members, idempotent retries, and
//! history catch-up without gaps or duplicates.

use super::*;

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
    let all = reader.whole_history(thread, 37).await;
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
