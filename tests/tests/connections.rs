//! Connections, black-box, as an attacker without an account would try them: floods of
//! malformed frames, frames before `hello`, silent TCP and WebSocket sockets by the hundred,
//! foreign origins, and `/metrics` on the public port.

use futures_util::StreamExt;
use konsult_testkit::process::TempDir;
use konsult_testkit::{Server, ServerOptions, WsClient, http_request};
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A server whose bucket holds 5 messages and refills one a second: a flood is refused fast.
fn slow_bucket() -> ServerOptions {
    ServerOptions::demo()
        .env("KONSULT_LIMITS_MESSAGES_PER_SECOND", "1")
        .env("KONSULT_LIMITS_MESSAGE_BURST", "5")
}

/// Sends `frames` as fast as the socket takes them, then reads until the close: the error
/// codes received, in order, and the close code.
async fn flood(client: &mut WsClient, frames: usize, frame: &str) -> (Vec<String>, u16) {
    for _ in 0..frames {
        if client.try_send_text(frame).await.is_err() {
            break;
        }
    }
    let code = client.expect_close(Duration::from_secs(10)).await;
    let codes = client
        .pending()
        .iter()
        .filter(|m| m["type"] == "error")
        .map(|m| m["code"].as_str().unwrap_or_default().to_string())
        .collect();
    (codes, code)
}

#[tokio::test]
async fn a_flood_of_malformed_frames_is_rate_limited_and_closed_like_a_valid_flood() {
    let server = Server::start(slow_bucket());

    let (mut valid, _) = WsClient::connect_as(&server, "student1").await;
    let (codes, close) = flood(&mut valid, 200, r#"{"type":"ping","rid":1}"#).await;
    assert!(codes.iter().any(|c| c == "rate_limited"), "{codes:?}");
    assert_eq!(close, 4008, "a valid flood is closed with 4008");

    let (mut malformed, _) = WsClient::connect_as(&server, "student2").await;
    let (codes, close) = flood(&mut malformed, 200, "{not json").await;
    assert_eq!(
        codes.first().map(String::as_str),
        Some("bad_request"),
        "{codes:?}"
    );
    assert!(
        codes.iter().any(|c| c == "rate_limited"),
        "malformed frames count against the rate: {codes:?}"
    );
    assert_eq!(close, 4008, "a malformed flood is closed like a valid one");

    let (mut binary, _) = WsClient::connect_as(&server, "student3").await;
    for _ in 0..200 {
        let frame = Message::binary(vec![0u8; 16]);
        if binary.try_send_message(frame).await.is_err() {
            break;
        }
    }
    assert_eq!(binary.expect_close(Duration::from_secs(10)).await, 4008);

    // A refused frame still answers its rid.
    let (mut polite, _) = WsClient::connect_as(&server, "student4").await;
    for _ in 0..5 {
        polite.send_text("[1]").await;
    }
    polite
        .send_json(&json!({"type": "ping", "rid": "r7"}))
        .await;
    let refused = polite.recv_where(|m| m["re"] == "r7").await;
    assert_eq!(refused["code"], "rate_limited");

    let (mut other, _) = WsClient::connect_as(&server, "student5").await;
    let pong = other.request(json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong", "nobody else is affected");
}

#[tokio::test]
async fn anything_but_hello_first_closes_with_4001_at_once() {
    let server = Server::start(ServerOptions::demo());
    let firsts: [(Message, &str); 5] = [
        (
            Message::text(json!({"type": "list_teachers", "rid": 1}).to_string()),
            "unauthorized",
        ),
        (Message::text(r#"{"type":"ping"}"#), "unauthorized"),
        (Message::text("{not json"), "bad_request"),
        (Message::text(r#"{"type":"teleport"}"#), "unknown_type"),
        (Message::binary(vec![1u8, 2, 3]), "bad_request"),
    ];
    for (first, code) in firsts {
        let shown = format!("{first:?}");
        let mut client = WsClient::connect(&server).await;
        let started = Instant::now();
        client.send_message(first).await;
        assert_eq!(
            client.expect_close(Duration::from_secs(5)).await,
            4001,
            "{shown}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "closed at once, not at the hello deadline: {shown}"
        );
        let errors: Vec<&Value> = client.pending().iter().collect();
        assert_eq!(errors.len(), 1, "{shown}: {errors:?}");
        assert_eq!(errors[0]["code"], code, "{shown}");
    }
    let (mut client, _) = WsClient::connect_as(&server, "student1").await;
    assert_eq!(
        client.request(json!({"type": "ping"})).await["type"],
        "pong"
    );
}

/// A TCP connection to `addr` from the loopback address `source`.
async fn tcp_from(source: IpAddr, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::new(source, 0)).expect("bind");
    socket.connect(addr).await.expect("connect")
}

/// Whether the server closes `stream` (end of file or reset) within `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 512];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// The HTTP status of a WebSocket upgrade from `source` (101 when it succeeded), and the socket.
async fn ws_from(source: IpAddr, server: &Server) -> (u16, Option<konsult_testkit::ws::Ws>) {
    let stream = tcp_from(source, server.addr).await;
    match tokio_tungstenite::client_async(server.ws_url(), stream).await {
        Ok((ws, response)) => (response.status().as_u16(), Some(ws)),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            (response.status().as_u16(), None)
        }
        Err(e) => panic!("upgrade failed: {e}"),
    }
}

#[tokio::test]
async fn silent_sockets_by_the_hundred_neither_lock_out_a_user_nor_stay_open() {
    let server = Server::start(
        ServerOptions::demo()
            .env("KONSULT_SERVER_HEADER_READ_TIMEOUT", "1s")
            .env("KONSULT_LIMITS_HELLO_TIMEOUT", "6s")
            // Fewer than the attacker's sockets: without a share per address they would take
            // every place.
            .env("KONSULT_SERVER_MAX_CONNECTIONS", "150"),
    );
    let attacker = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

    let started = Instant::now();
    let mut silent_tcp = Vec::new();
    for _ in 0..100 {
        silent_tcp.push(tcp_from(attacker, server.addr).await);
    }
    let mut silent_ws = Vec::new();
    let mut refused = 0;
    for _ in 0..200 {
        match ws_from(attacker, &server).await {
            (101, Some(ws)) => silent_ws.push(ws),
            (429, _) => refused += 1,
            (status, _) => panic!("upgrade answered {status}"),
        }
    }
    assert_eq!(silent_ws.len(), 20, "limits.anonymous_per_ip");
    assert_eq!(refused, 180);

    // Meanwhile a user signs in over HTTP and works over WebSocket.
    let token = server.login("student1", "demo");
    let (mut user, welcome) = WsClient::connect_with_token(&server, &token).await;
    assert_eq!(welcome["user"]["login"], "student1");
    assert_eq!(user.request(json!({"type": "ping"})).await["type"], "pong");
    let teachers = user.request(json!({"type": "list_teachers"})).await;
    assert_eq!(teachers["type"], "teachers", "{teachers}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "the user got in while every silent socket was held ({:?})",
        started.elapsed()
    );

    // The silent TCP connections are closed after the header read timeout...
    let checks = silent_tcp
        .iter_mut()
        .map(|s| closed_within(s, Duration::from_secs(5)));
    let closed = futures_util::future::join_all(checks).await;
    assert!(
        closed.iter().all(|c| *c),
        "{} of 100 silent TCP connections still open",
        closed.iter().filter(|c| !**c).count()
    );
    // ...and the WebSocket ones at the hello deadline, with 4000.
    for ws in &mut silent_ws {
        let close = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Close(frame))) => {
                        return frame.map(|f| u16::from(f.code));
                    }
                    Some(Ok(_)) => continue,
                    _ => return None,
                }
            }
        })
        .await
        .expect("closed at the hello deadline");
        assert_eq!(close, Some(4000));
    }
    // Their share is given back.
    let (status, _ws) = ws_from(attacker, &server).await;
    assert_eq!(status, 101);
    assert_eq!(user.request(json!({"type": "ping"})).await["type"], "pong");
}

#[tokio::test]
async fn the_tls_listener_closes_silent_connections_too() {
    use std::sync::Arc;
    let dir = TempDir::new("tls-silent");
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
            .env("KONSULT_SERVER_HEADER_READ_TIMEOUT", "1s"),
    );
    // No handshake at all.
    let mut raw = TcpStream::connect(server.addr).await.expect("tcp");
    // A handshake, then no request.
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
    let tcp = TcpStream::connect(server.addr).await.expect("tcp");
    let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");

    assert!(closed_within(&mut raw, Duration::from_secs(4)).await);
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(4), tls.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "a silent TLS connection stays open: {read:?}"
    );
}

/// The status of a WebSocket upgrade carrying `origin`.
async fn upgrade_with_origin(server: &Server, origin: &str) -> u16 {
    let mut request = server.ws_url().into_client_request().expect("request");
    request
        .headers_mut()
        .insert("origin", origin.parse().expect("origin"));
    match tokio_tungstenite::connect_async(request).await {
        Ok((_ws, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("upgrade failed: {e}"),
    }
}

#[tokio::test]
async fn the_origin_must_match_in_scheme_host_and_port() {
    let server = Server::start(ServerOptions::demo().env(
        "KONSULT_SERVER_ALLOWED_ORIGINS",
        "https://portal.school.example",
    ));
    let port = server.addr.port();
    let other = if port == 65535 { port - 1 } else { port + 1 };
    let cases = [
        (format!("http://127.0.0.1:{port}"), 101),
        (format!("http://127.0.0.1:{other}"), 403),
        (format!("https://127.0.0.1:{port}"), 403),
        (format!("http://localhost:{port}"), 403),
        ("https://portal.school.example".to_string(), 101),
        ("https://portal.school.example:443".to_string(), 101),
        ("http://portal.school.example".to_string(), 403),
        ("https://portal.school.example:8443".to_string(), 403),
        ("null".to_string(), 403),
    ];
    for (origin, expected) in cases {
        assert_eq!(
            upgrade_with_origin(&server, &origin).await,
            expected,
            "{origin}"
        );
    }
}

#[test]
fn metrics_have_their_own_listener_and_not_the_public_port() {
    let server = Server::start(ServerOptions::demo());
    let metrics_addr = server.metrics_addr.expect("metrics listener announced");
    assert_ne!(metrics_addr.port(), server.addr.port());
    let public = http_request(server.addr, "GET", "/metrics", &[], b"");
    assert_eq!(public.status, 404, "{}", public.text());
    let text = server.metrics();
    assert!(text.contains("konsult_build_info{version="), "{text}");
    // The metrics listener serves nothing else.
    let health = http_request(metrics_addr, "GET", "/healthz", &[], b"");
    assert_eq!(health.status, 404);

    let disabled = Server::start(ServerOptions::demo().env("KONSULT_METRICS_LISTEN", ""));
    assert!(disabled.metrics_addr.is_none(), "{:?}", disabled.banner);
    let public = http_request(disabled.addr, "GET", "/metrics", &[], b"");
    assert_eq!(public.status, 404);
}

#[test]
fn a_metrics_address_in_use_stops_start_up_naming_the_key() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let dir = TempDir::new("metrics-taken");
    let data = dir.0.join("data");
    let (code, _, err) = konsult_testkit::process::run_cli(
        &["serve", "--data", data.to_str().expect("path")],
        &[
            ("KONSULT_METRICS_LISTEN", &addr),
            ("KONSULT_MEDIA_LISTEN", "127.0.0.1:0"),
            ("KONSULT_SERVER_LISTEN", "127.0.0.1:0"),
        ],
        &dir.0,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("metrics.listen"), "{err}");
}
