//! The foundation, black-box: login, the WebSocket handshake, bad input of every kind,
//! liveness, metrics and shutdown, against the real binary.

use konsult_testkit::portal::{sign, unix_now};
use konsult_testkit::{Server, ServerOptions, WsClient, http_request};
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

fn post_json(server: &Server, path: &str, body: &str) -> konsult_testkit::HttpResponse {
    http_request(
        server.addr,
        "POST",
        path,
        &[("content-type", "application/json")],
        body.as_bytes(),
    )
}

#[test]
fn health_and_login() {
    let server = Server::start(ServerOptions::demo());
    let health = http_request(server.addr, "GET", "/healthz", &[], b"");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");

    let ok = post_json(
        &server,
        "/api/login",
        r#"{"login":"teacher1","password":"demo"}"#,
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    let body = ok.json();
    assert!(
        body["token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3)
    );
    assert_eq!(body["user"]["login"], "teacher1");
    assert_eq!(body["user"]["role"], "teacher");
    assert_eq!(body["user"]["subjects"], json!(["math", "physics"]));

    let wrong = post_json(
        &server,
        "/api/login",
        r#"{"login":"teacher1","password":"nope"}"#,
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()["code"], "unauthorized");
    let nobody = post_json(
        &server,
        "/api/login",
        r#"{"login":"nobody","password":"demo"}"#,
    );
    assert_eq!(nobody.status, 401);
    let broken = post_json(&server, "/api/login", r#"{"login":"#);
    assert_eq!(broken.status, 400);
    assert_eq!(broken.json()["code"], "bad_request");

    let index = http_request(server.addr, "GET", "/", &[], b"");
    assert_eq!(index.status, 200);
    assert!(
        index
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/html"))
    );
}

#[tokio::test]
async fn handshake_welcomes_and_answers_ping() {
    let server = Server::start(ServerOptions::demo());
    let (mut client, welcome) = WsClient::connect_as(&server, "student1").await;
    assert_eq!(welcome["v"], 1);
    assert_eq!(welcome["user"]["login"], "student1");
    assert_eq!(welcome["user"]["role"], "student");
    assert_eq!(welcome["user"]["class"], "9A");
    assert_eq!(welcome["resumed"], false);
    assert!(welcome["resume"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(welcome["ice_servers"].is_array());
    let pong = client.request(json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong");
    let again = client
        .request(json!({"type": "hello", "v": 1, "token": "x"}))
        .await;
    assert_eq!(again["code"], "conflict");
}

#[tokio::test]
async fn bad_frames_get_errors_and_the_connection_stays_usable() {
    let server = Server::start(ServerOptions::demo());
    let (mut client, _) = WsClient::connect_as(&server, "student2").await;

    client.send_text("{not json").await;
    let err = client.recv().await;
    assert_eq!(err["type"], "error");
    assert_eq!(err["code"], "bad_request");

    client.send_text("[1,2,3]").await;
    assert_eq!(client.recv().await["code"], "bad_request");

    client.send_text(r#"{"rid": 9}"#).await;
    let err = client.recv().await;
    assert_eq!(
        (err["code"].as_str(), err["re"].as_i64()),
        (Some("bad_request"), Some(9))
    );

    let err = client.request(json!({"type": "teleport"})).await;
    assert_eq!(err["code"], "unknown_type");

    let err = client
        .request(json!({"type": "cancel_request", "request": "seven"}))
        .await;
    assert_eq!(err["code"], "bad_request");
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("cancel_request"))
    );

    client.send_message(Message::binary(vec![1u8, 2, 3])).await;
    assert_eq!(client.recv().await["code"], "bad_request");

    let rid = "r".repeat(200);
    client.send_json(&json!({"type": "ping", "rid": rid})).await;
    assert_eq!(client.recv().await["code"], "bad_request");

    let pong = client.request(json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong", "still usable after every bad frame");
}

#[tokio::test]
async fn a_frame_over_the_limit_closes_with_1009() {
    let server = Server::start(ServerOptions::demo());
    let (mut client, _) = WsClient::connect_as(&server, "student3").await;
    let text = "x".repeat(70 * 1024);
    client
        .send_json(&json!({"type": "send", "thread": 1, "client_id": "a", "text": text}))
        .await;
    assert_eq!(client.expect_close(Duration::from_secs(5)).await, 1009);
    let (mut other, _) = WsClient::connect_as(&server, "student3").await;
    assert_eq!(other.request(json!({"type": "ping"})).await["type"], "pong");
}

#[tokio::test]
async fn a_message_before_hello_closes_with_4001_and_the_deadline_with_4000() {
    let server = Server::start(ServerOptions::demo().env("KONSULT_LIMITS_HELLO_TIMEOUT", "1s"));
    let mut client = WsClient::connect(&server).await;
    let err = client.request(json!({"type": "list_teachers"})).await;
    assert_eq!(err["code"], "unauthorized");
    assert_eq!(client.expect_close(Duration::from_secs(5)).await, 4001);

    let mut client = WsClient::connect(&server).await;
    assert_eq!(client.expect_close(Duration::from_secs(5)).await, 4000);
}

#[tokio::test]
async fn forged_expired_and_wrong_version_hellos_are_closed() {
    let secret = "test-secret-for-tokens-at-least-32-bytes";
    let server = Server::start(ServerOptions::demo().env("KONSULT_AUTH_JWT_SECRET", secret));

    let forged = sign(
        b"some-other-secret",
        &json!({"sub": "2", "iss": "konsult", "iat": unix_now(), "exp": unix_now() + 600, "tv": 0}),
    );
    let mut client = WsClient::connect(&server).await;
    let err = client
        .request(json!({"type": "hello", "v": 1, "token": forged}))
        .await;
    assert_eq!(err["code"], "unauthorized");
    assert_eq!(client.expect_close(Duration::from_secs(5)).await, 4001);

    let expired = sign(
        secret.as_bytes(),
        &json!({"sub": "2", "iss": "konsult", "iat": unix_now() - 7200, "exp": unix_now() - 3600, "tv": 0}),
    );
    let mut client = WsClient::connect(&server).await;
    let err = client
        .request(json!({"type": "hello", "v": 1, "token": expired}))
        .await;
    assert_eq!(err["code"], "unauthorized");
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("expired"))
    );
    assert_eq!(client.expect_close(Duration::from_secs(5)).await, 4001);

    let valid = sign(
        secret.as_bytes(),
        &json!({"sub": "2", "iss": "konsult", "iat": unix_now(), "exp": unix_now() + 600, "tv": 0}),
    );
    let (_client, welcome) = WsClient::connect_with_token(&server, &valid).await;
    assert_eq!(welcome["user"]["id"], 2);

    let mut client = WsClient::connect(&server).await;
    let err = client
        .request(json!({"type": "hello", "v": 2, "token": valid}))
        .await;
    assert_eq!(err["code"], "unsupported_version");
    assert_eq!(client.expect_close(Duration::from_secs(5)).await, 4002);
}

#[tokio::test]
async fn portal_tokens_create_the_user_on_first_sight() {
    let server = Server::start(ServerOptions::demo().with_portal());
    let claims = json!({
        "sub": "ivanov.p", "name": "Пётр Иванов", "role": "student", "class": "10B",
        "iss": "https://portal.school.example", "exp": unix_now() + 600,
    });
    let token = sign(b"portal-shared-secret-of-the-black-box-tests", &claims);
    let (_a, first) = WsClient::connect_with_token(&server, &token).await;
    assert_eq!(first["user"]["login"], "ivanov.p");
    assert_eq!(first["user"]["name"], "Пётр Иванов");
    assert_eq!(first["user"]["class"], "10B");
    let (_b, second) = WsClient::connect_with_token(&server, &token).await;
    assert_eq!(first["user"]["id"], second["user"]["id"], "created once");

    let wrong_issuer = sign(
        b"portal-shared-secret-of-the-black-box-tests",
        &json!({"sub": "x", "name": "X", "role": "student", "class": "9A",
                "iss": "https://elsewhere.example", "exp": unix_now() + 600}),
    );
    let mut client = WsClient::connect(&server).await;
    let err = client
        .request(json!({"type": "hello", "v": 1, "token": wrong_issuer}))
        .await;
    assert_eq!(err["code"], "unauthorized");
}

#[tokio::test]
async fn silent_clients_are_pinged_and_dead_ones_dropped() {
    let server = Server::start(
        ServerOptions::demo()
            .env("KONSULT_LIMITS_PING_AFTER", "1s")
            .env("KONSULT_LIMITS_IDLE_TIMEOUT", "2s"),
    );
    // A client that reads (and so answers pings) stays connected past the idle deadline.
    let (mut alive, _) = WsClient::connect_as(&server, "student4").await;
    assert!(alive.recv_timeout(Duration::from_secs(4)).await.is_none());
    assert_eq!(alive.closed, None);
    assert_eq!(alive.request(json!({"type": "ping"})).await["type"], "pong");

    // A client that never reads never answers: dropped with 4003.
    let (mut dead, _) = WsClient::connect_as(&server, "student5").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(dead.expect_close(Duration::from_secs(5)).await, 4003);
}

#[tokio::test]
async fn metrics_count_connections_messages_and_errors() {
    let server = Server::start(ServerOptions::demo());
    let (mut client, _) = WsClient::connect_as(&server, "student6").await;
    client.request(json!({"type": "ping"})).await;
    client.request(json!({"type": "teleport"})).await;
    let text = server.metrics();
    for needle in [
        "konsult_connections 1",
        "konsult_messages_in_total{type=\"ping\"} 1",
        "konsult_messages_out_total{type=\"pong\"} 1",
        "konsult_errors_total{code=\"unknown_type\"} 1",
        "konsult_build_info{version=",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }
}

#[tokio::test]
async fn sigterm_drains_connections_and_exits_zero() {
    let mut server = Server::start(ServerOptions::demo());
    let (mut client, _) = WsClient::connect_as(&server, "student7").await;
    server.signal("TERM");
    let notice = client.recv_type("server_shutdown").await;
    assert!(notice["retry_after_ms"].as_u64().is_some());
    assert_eq!(client.expect_close(Duration::from_secs(5)).await, 1001);
    let (status, took) = server
        .wait_exit(Duration::from_secs(12))
        .expect("exited after SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}
