//! Surviving bad networks, bad clients and restarts: resume, limits, origins, headers.

use konsult_testkit::{Server, ServerOptions, WsClient, http_request};
use serde_json::json;
use std::time::Duration;

fn ask(subject: &str, topic: &str) -> serde_json::Value {
    json!({"type": "request_help", "subject": subject, "form": "individual", "mode": "online", "topic": topic})
}

#[tokio::test]
async fn a_client_that_resumes_gets_what_it_missed_once_and_in_order() {
    let server = Server::start(ServerOptions::demo());
    let (mut teacher, _) = WsClient::connect_as(&server, "teacher3").await;
    teacher
        .request(json!({"type": "set_status", "status": "busy"}))
        .await;
    let token1 = server.login("student1", "demo");
    let token2 = server.login("student2", "demo");
    let (mut first, _) = WsClient::connect_with_token(&server, &token1).await;
    let (mut second, welcome) = WsClient::connect_with_token(&server, &token2).await;
    let resume = welcome["resume"]
        .as_str()
        .expect("resume token")
        .to_string();
    let queued = first.request(ask("russian", "Корни")).await;
    second.request(ask("russian", "Приставки")).await;
    // The second student's connection drops; meanwhile they move up twice over.
    second.close().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    first
        .request(json!({"type": "cancel_request", "request": queued["request"]["id"]}))
        .await;
    teacher
        .request(json!({"type": "set_status", "status": "away"}))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut back = WsClient::connect(&server).await;
    back.send_json(&json!({"type": "hello", "v": 1, "token": token2, "resume": resume}))
        .await;
    let welcome = back.recv().await;
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["resumed"], true);
    let missed_position = back.recv().await;
    assert_eq!(
        missed_position["type"], "queue_position",
        "{missed_position}"
    );
    assert_eq!(missed_position["request"]["position"], 1);
    let missed_presence = back.recv().await;
    assert_eq!(
        missed_presence["type"], "presence",
        "in order: {missed_presence}"
    );
    assert_eq!(missed_presence["status"], "away");
    assert!(
        !back
            .sees_within(Duration::from_millis(500), |m| m["type"]
                == "queue_position")
            .await,
        "each missed event once"
    );

    // A stale or foreign resume token is not honoured: a plain restore instead.
    let token3 = server.login("student3", "demo");
    let mut other = WsClient::connect(&server).await;
    other
        .send_json(&json!({"type": "hello", "v": 1, "token": token3, "resume": resume}))
        .await;
    let welcome = other.recv().await;
    assert_eq!(welcome["resumed"], false);
}

#[tokio::test]
async fn without_resume_a_reconnect_restores_state_from_the_hub() {
    let server = Server::start(ServerOptions::demo());
    let (mut teacher, _) = WsClient::connect_as(&server, "teacher2").await;
    teacher
        .request(json!({"type": "set_status", "status": "busy"}))
        .await;
    let (mut student, _) = WsClient::connect_as(&server, "student4").await;
    student.request(ask("math", "Уравнения")).await;
    student.close().await;
    let (mut back, welcome) = WsClient::connect_as(&server, "student4").await;
    assert_eq!(welcome["resumed"], false);
    let position = back.recv_type("queue_position").await;
    assert_eq!(position["request"]["position"], 1);
}

#[test]
fn logins_are_limited_per_account_with_backoff() {
    let server = Server::start(
        ServerOptions::demo().env("KONSULT_LIMITS_LOGINS_PER_MINUTE_PER_ACCOUNT", "3"),
    );
    let attempt = |password: &str| {
        let body = json!({"login": "student5", "password": password}).to_string();
        http_request(
            server.addr,
            "POST",
            "/api/login",
            &[("content-type", "application/json")],
            body.as_bytes(),
        )
    };
    for _ in 0..3 {
        assert_eq!(attempt("guess").status, 401);
    }
    let locked = attempt("demo");
    assert_eq!(locked.status, 429, "even the right password waits");
    assert_eq!(locked.json()["code"], "rate_limited");
    let retry: u64 = locked
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry), "{retry}");
    // Other accounts are not affected.
    assert!(!server.login("student6", "demo").is_empty());
}

#[test]
fn logins_are_limited_per_address() {
    let server =
        Server::start(ServerOptions::demo().env("KONSULT_LIMITS_LOGINS_PER_MINUTE_PER_IP", "5"));
    let mut statuses = Vec::new();
    for n in 1..=7 {
        let body = json!({"login": format!("student{n}"), "password": "demo"}).to_string();
        statuses.push(
            http_request(
                server.addr,
                "POST",
                "/api/login",
                &[("content-type", "application/json")],
                body.as_bytes(),
            )
            .status,
        );
    }
    assert_eq!(statuses, vec![200, 200, 200, 200, 200, 429, 429]);
}

#[tokio::test]
async fn foreign_origins_cannot_open_the_websocket() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let server = Server::start(ServerOptions::demo().env(
        "KONSULT_SERVER_ALLOWED_ORIGINS",
        "https://portal.school.example",
    ));
    let upgrade = |origin: String| {
        let url = server.ws_url();
        async move {
            let mut request = url.into_client_request().expect("request");
            request
                .headers_mut()
                .insert("origin", origin.parse().expect("header"));
            match tokio_tungstenite::connect_async(request).await {
                Ok((_, response)) => response.status().as_u16(),
                Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                    response.status().as_u16()
                }
                Err(e) => panic!("{e}"),
            }
        }
    };
    assert_eq!(upgrade("https://evil.example".into()).await, 403);
    assert_eq!(upgrade(format!("http://{}", server.addr)).await, 101);
    assert_eq!(upgrade("https://portal.school.example".into()).await, 101);
}

#[test]
fn the_web_client_is_served_with_security_headers() {
    let server = Server::start(ServerOptions::demo());
    let page = http_request(server.addr, "GET", "/", &[], b"");
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").expect("CSP");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    let api = http_request(server.addr, "GET", "/healthz", &[], b"");
    assert_eq!(api.header("x-content-type-options"), Some("nosniff"));
}

#[tokio::test]
async fn tls_serves_https_and_wss_when_a_certificate_is_configured() {
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = konsult_testkit::process::TempDir::new("tls");
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let cert_path = dir.0.join("cert.pem");
    let key_path = dir.0.join("key.pem");
    std::fs::write(&cert_path, certified.cert.pem()).expect("write cert");
    std::fs::write(&key_path, certified.signing_key.serialize_pem()).expect("write key");
    let server = Server::start(
        ServerOptions::demo()
            .env("KONSULT_SERVER_TLS_CERT", cert_path.to_str().expect("path"))
            .env("KONSULT_SERVER_TLS_KEY", key_path.to_str().expect("path"))
            .env(
                "KONSULT_AUTH_JWT_SECRET",
                "tls-test-secret-at-least-thirty-two-bytes",
            ),
    );

    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");

    let tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("tcp");
    let mut tls = connector
        .connect(name.clone(), tcp)
        .await
        .expect("TLS handshake");
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut response = String::new();
    tls.read_to_string(&mut response).await.expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "2", "iss": "konsult", "iat": now, "exp": now + 600, "tv": 0}),
        &jsonwebtoken::EncodingKey::from_secret(b"tls-test-secret-at-least-thirty-two-bytes")
            .expect("key"),
    )
    .expect("sign");
    let tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("tcp");
    let tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let (mut ws, _) = tokio_tungstenite::client_async("wss://localhost/ws", tls)
        .await
        .expect("wss upgrade");
    use futures_util::{SinkExt, StreamExt};
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        json!({"type": "hello", "v": 1, "token": token}).to_string(),
    ))
    .await
    .expect("hello");
    let welcome = ws.next().await.expect("frame").expect("ok");
    assert!(welcome.to_text().expect("text").contains("\"welcome\""));

    // Plain HTTP on the TLS port gets nothing useful.
    let plain = std::net::TcpStream::connect(server.addr).expect("tcp");
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    use std::io::{Read, Write};
    let mut plain = plain;
    let _ = plain.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut buf = Vec::new();
    let _ = plain.read_to_end(&mut buf);
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
}

#[tokio::test]
async fn a_stalled_client_is_cut_off_and_slows_nobody_else() {
    use std::time::Instant;
    let server = Server::start(
        ServerOptions::demo()
            .env("KONSULT_LIMITS_OUTBOX_MESSAGES", "64")
            .env("KONSULT_LIMITS_WRITE_TIMEOUT", "1s")
            .env("KONSULT_LIMITS_MESSAGES_PER_SECOND", "1000")
            .env("KONSULT_LIMITS_MESSAGE_BURST", "1000"),
    );
    let (mut teacher, _) = WsClient::connect_as(&server, "teacher1").await;
    let started = teacher
        .request(
            json!({"type": "create_session", "form": "group", "subject": "math",
                        "title": "Разбор", "class": "9A"}),
        )
        .await;
    let session = started["session"]["id"].clone();

    // The stalled member: a tiny receive buffer, and it never reads after joining.
    let token = server.login("student30", "demo");
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let stream = socket.connect(server.addr).await.expect("connect");
    let (mut stalled, _) = tokio_tungstenite::client_async(server.ws_url(), stream)
        .await
        .expect("upgrade");
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    stalled
        .send(Message::text(
            json!({"type": "hello", "v": 1, "token": token}).to_string(),
        ))
        .await
        .expect("hello");
    stalled
        .send(Message::text(
            json!({"type": "join_session", "session": session}).to_string(),
        ))
        .await
        .expect("join");

    let mut active = Vec::new();
    for n in 1..=8 {
        let (mut client, _) = WsClient::connect_as(&server, &format!("student{n}")).await;
        let joined = client
            .request(json!({"type": "join_session", "session": session}))
            .await;
        assert_eq!(joined["type"], "session_started");
        active.push(client);
    }
    // Every hand raised or lowered sends a snapshot to all members, the stalled one too.
    let mut slowest = Duration::ZERO;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut rounds = 0;
    let mut cut_off = false;
    while Instant::now() < deadline && rounds < 400 {
        for client in active.iter_mut() {
            let kind = if rounds % 2 == 0 {
                "raise_hand"
            } else {
                "lower_hand"
            };
            let sent = Instant::now();
            let reply = client
                .request(json!({"type": kind, "session": session}))
                .await;
            assert_eq!(reply["type"], "ok", "{reply}");
            slowest = slowest.max(sent.elapsed());
        }
        rounds += 1;
        if rounds % 20 == 0 {
            let metrics = server.metrics();
            if metrics.contains("konsult_closes_total{code=\"4009\"}") {
                cut_off = true;
                break;
            }
        }
    }
    assert!(
        cut_off,
        "the stalled client was not cut off after {rounds} rounds"
    );
    // The stalled client finds its connection closed when it finally reads.
    let mut closed = false;
    while let Ok(Some(frame)) = tokio::time::timeout(Duration::from_secs(5), stalled.next()).await {
        match frame {
            Ok(Message::Close(_)) | Err(_) => {
                closed = true;
                break;
            }
            Ok(_) => {}
        }
    }
    assert!(
        closed || stalled.next().await.is_none(),
        "the stalled connection is gone"
    );
    // Everyone else was answered throughout, promptly, and is still connected.
    assert!(
        slowest < Duration::from_millis(900),
        "slowest reply {slowest:?}"
    );
    for client in active.iter_mut() {
        assert_eq!(
            client.request(json!({"type": "ping"})).await["type"],
            "pong"
        );
        assert_eq!(client.closed, None);
    }
}
