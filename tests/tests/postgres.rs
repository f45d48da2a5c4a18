//! The real `konsult` binary on PostgreSQL (`KONSULT_STORE_URL`, a fresh database per test):
//! sign-in, a help request deferred to a thread with its record, and chat under concurrent
//! senders through a SIGKILL and a restart, with nothing acknowledged lost; a `hello` while the
//! database cannot be reached is deferred (`unavailable`, 1001), never refused as a bad token;
//! a `hello` waiting on a slow store does not keep its address's other sockets out.

use konsult_testkit::process::TempDir;
use konsult_testkit::{Server, ServerOptions, WsClient, http_request};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A demo server on PostgreSQL whose message rate does not get in the way of bulk sends.
fn on_postgres() -> ServerOptions {
    ServerOptions::demo()
        .on_postgres()
        .env("KONSULT_LIMITS_MESSAGES_PER_SECOND", "100000")
        .env("KONSULT_LIMITS_MESSAGE_BURST", "100000")
        .env("KONSULT_LIMITS_OUTBOX_MESSAGES", "100000")
}

/// Sends `text-n` with client ids `tag-n` in windows of 20 until the connection is cut;
/// returns the client ids acknowledged with `sent`.
async fn send_until_cut(mut client: WsClient, thread: i64, tag: String) -> Vec<String> {
    let mut acked = Vec::new();
    let mut next = 0;
    loop {
        let end = next + 20;
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
                acked.push(reply["message"]["client_id"].as_str().expect("id").into());
                waiting -= 1;
            }
        }
        next = end;
    }
}

/// The admin's view of the consultation record, once it shows a row.
async fn first_record(server: &Server) -> Value {
    let token = server.login("admin", "demo");
    let auth = format!("Bearer {token}");
    for _ in 0..50 {
        let listed = http_request(
            server.addr,
            "GET",
            "/api/consultations",
            &[("authorization", &auth)],
            b"",
        );
        assert_eq!(listed.status, 200, "{}", listed.text());
        let row = listed.json()["consultations"][0].clone();
        if !row.is_null() {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no consultation recorded");
}

#[tokio::test]
async fn a_server_on_postgres_keeps_requests_and_every_acknowledged_message_through_a_sigkill() {
    let dir = TempDir::new("postgres");
    let mut server = Server::start_in(&dir.0, on_postgres());
    assert!(
        !dir.0.join("konsult.db").exists(),
        "nothing is kept in SQLite when store.url is set"
    );

    // A help request nobody is online for becomes a thread and a record.
    let (mut asker, _) = WsClient::connect_as(&server, "student3").await;
    let reply = asker
        .request(
            json!({"type": "request_help", "subject": "physics", "form": "individual",
                        "mode": "online", "topic": "Закон Ома"}),
        )
        .await;
    assert_eq!(reply["type"], "ok", "{reply}");
    let deferred = asker.recv_type("request_deferred").await;
    let request_thread = deferred["thread"].as_i64().expect("thread");
    assert_eq!(first_record(&server).await["outcome"], "deferred");

    // A teacher and five students send at once into two threads; the server dies mid-stream.
    let (mut teacher, _) = WsClient::connect_as(&server, "teacher1").await;
    let mut students = Vec::new();
    let mut ids = Vec::new();
    for n in 1..=5 {
        let (client, welcome) = WsClient::connect_as(&server, &format!("student{n}")).await;
        ids.push(welcome["user"]["id"].as_i64().expect("id"));
        students.push(client);
    }
    let added = teacher
        .request(
            json!({"type": "create_thread", "kind": "group", "title": "Группа",
                        "members": ids}),
        )
        .await;
    assert_eq!(added["type"], "thread_added", "{added}");
    let group = added["thread"]["id"].as_i64().expect("thread");
    let mut tasks = Vec::new();
    for (n, client) in students.into_iter().enumerate() {
        tasks.push(tokio::spawn(send_until_cut(client, group, format!("s{n}"))));
    }
    tasks.push(tokio::spawn(send_until_cut(teacher, group, "t".into())));
    tasks.push(tokio::spawn(send_until_cut(
        asker,
        request_thread,
        "asker".into(),
    )));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(10)).expect("killed");
    let mut acked: BTreeSet<String> = BTreeSet::new();
    for task in tasks {
        acked.extend(task.await.expect("sender"));
    }
    assert!(acked.len() > 50, "only {} acknowledged", acked.len());
    eprintln!("{} messages acknowledged before SIGKILL", acked.len());
    drop(server);

    let server = Server::start_in(&dir.0, on_postgres());
    let (mut teacher, _) = WsClient::connect_as(&server, "teacher1").await;
    let (mut asker, _) = WsClient::connect_as(&server, "student3").await;
    let mut stored: BTreeMap<String, usize> = BTreeMap::new();
    for (client, thread) in [(&mut teacher, group), (&mut asker, request_thread)] {
        let messages = client.whole_history(thread, 50).await;
        let seqs: Vec<i64> = messages
            .iter()
            .map(|m| m["seq"].as_i64().expect("seq"))
            .collect();
        assert_eq!(
            seqs,
            (1..=seqs.len() as i64).collect::<Vec<_>>(),
            "thread {thread} has a gap"
        );
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
    assert_eq!(first_record(&server).await["topic"], "Закон Ома");
}

/// While the database cannot be reached, a good token is not judged: `hello` gets
/// `unavailable` and close 1001 (the client keeps its token and retries), not 4001, which
/// would send the user back to sign in. When the database is back, the same token connects.
#[tokio::test]
async fn a_hello_while_the_database_is_out_of_reach_is_deferred_not_refused() {
    let dir = TempDir::new("postgres-out");
    let server = Server::start_in(&dir.0, on_postgres());
    let token = server.login("student2", "demo");
    let name = konsult_testkit::postgres::database_name_of(&dir.0).expect("the test database");
    konsult_testkit::postgres::admin(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .expect("close the database");
    konsult_testkit::postgres::admin(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ))
    .expect("end the server's connections");

    let mut client = WsClient::connect(&server).await;
    client
        .send_json(&json!({"type": "hello", "v": 1, "token": token}))
        .await;
    let answer = client
        .recv_timeout(Duration::from_secs(30))
        .await
        .expect("an answer to hello");
    assert_eq!(answer["type"], "error", "{answer}");
    assert_eq!(answer["code"], "unavailable", "{answer}");
    assert_eq!(client.expect_close(Duration::from_secs(30)).await, 1001);

    konsult_testkit::postgres::admin(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .expect("open the database");
    let (_, welcome) = WsClient::connect_with_token(&server, &token).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    drop(server);
    konsult_testkit::postgres::drop_database_of(&dir.0);
}

/// While the store is slow to answer, a socket whose `hello` arrived and is being checked no
/// longer counts against its address's share of sockets waiting for `hello`
/// (`limits.anonymous_per_ip`): the neighbours behind the same address (a school's NAT) get
/// in, where a 429 would double their next pause. Once the store answers, everyone is in.
#[tokio::test]
async fn a_hello_waiting_on_the_store_does_not_keep_its_neighbours_out() {
    use sqlx::Connection;
    let dir = TempDir::new("postgres-slow");
    let server = Server::start_in(
        &dir.0,
        on_postgres().env("KONSULT_LIMITS_ANONYMOUS_PER_IP", "2"),
    );
    let token = server.login("student2", "demo");
    let url = konsult_testkit::postgres::database_for(&dir.0);
    // A transaction holds the accounts' table: every check of a token waits for it.
    let mut holder = sqlx::PgConnection::connect(&url).await.expect("connect");
    sqlx::raw_sql("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .execute(&mut holder)
        .await
        .expect("lock the accounts");
    let hello = json!({"type": "hello", "v": 1, "token": token});
    let mut clients = Vec::new();
    for _ in 0..2 {
        let mut client = WsClient::connect(&server).await;
        client.send_json(&hello).await;
        clients.push(client);
    }
    // The two hellos wait on the store; a third socket from the same address is let in.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let third = loop {
        match WsClient::try_connect(server.addr).await {
            Ok(client) => break client,
            Err(e) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "still refused while two hellos wait on the store: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    clients.push(third);
    clients[2].send_json(&hello).await;
    sqlx::raw_sql("COMMIT")
        .execute(&mut holder)
        .await
        .expect("let the accounts go");
    for client in &mut clients {
        let welcome = client
            .recv_timeout(Duration::from_secs(30))
            .await
            .expect("an answer to hello");
        assert_eq!(welcome["type"], "welcome", "{welcome}");
    }
    let _ = holder.close().await;
    drop(clients);
    drop(server);
    konsult_testkit::postgres::drop_database_of(&dir.0);
}
