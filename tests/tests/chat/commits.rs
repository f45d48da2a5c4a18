//! Concurrent sends sharing commits (and the metrics that count them), every acknowledged
//! message surviving a SIGKILL exactly once, and many threads kept gap-free.

use super::*;

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
    let metrics = server.metrics();
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
    let metrics = server.metrics();
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
        let messages = teacher.whole_history(thread, 37).await;
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
        let messages = reader.whole_history(*thread, 37).await;
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
