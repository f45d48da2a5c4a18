//! Credentials, black-box: device tokens keep an account's owner signing in while others hammer
//! it, a changed password or role and a logout end sessions, passwords and secrets have a
//! floor, and the login reply is never cached.

use konsult_testkit::portal::portal_token;
use konsult_testkit::process::{TempDir, run_cli};
use konsult_testkit::{HttpResponse, Server, ServerOptions, WsClient, api_call, http_request};
use serde_json::{Value, json};
use std::time::Duration;

/// `POST /api/login` with a JSON body and extra headers.
fn login_with(server: &Server, body: Value, headers: &[(&str, &str)]) -> HttpResponse {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    http_request(
        server.addr,
        "POST",
        "/api/login",
        &all,
        body.to_string().as_bytes(),
    )
}

fn login(server: &Server, login: &str, password: &str) -> HttpResponse {
    login_with(server, json!({"login": login, "password": password}), &[])
}

/// The `name=value` part of the response's `konsult_device` cookie.
fn device_cookie(resp: &HttpResponse) -> String {
    let set = resp
        .headers
        .iter()
        .find(|(n, v)| n == "set-cookie" && v.starts_with("konsult_device="))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no konsult_device cookie: {:?}", resp.headers));
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/api/login"] {
        assert!(set.contains(attribute), "{set} lacks {attribute}");
    }
    set.split(';').next().expect("name=value").to_string()
}

fn call(server: &Server, method: &str, path: &str, token: &str, body: &[u8]) -> HttpResponse {
    api_call(server.addr, method, path, token, body)
}

fn user_id(server: &Server, admin: &str, login: &str) -> i64 {
    let found = call(
        server,
        "GET",
        &format!("/api/admin/users?q={login}"),
        admin,
        b"",
    )
    .json();
    found["users"]
        .as_array()
        .and_then(|users| users.iter().find(|u| u["login"] == login))
        .and_then(|u| u["id"].as_i64())
        .unwrap_or_else(|| panic!("no user {login}: {found}"))
}

#[test]
fn hammering_an_account_locks_out_untrusted_devices_only() {
    let server = Server::start(
        ServerOptions::demo().env("KONSULT_LIMITS_LOGINS_PER_MINUTE_PER_ACCOUNT", "5"),
    );
    // The teacher's own browser signed in yesterday and kept its device cookie; a program
    // keeps the device token from the JSON instead.
    let first = login(&server, "teacher1", "demo");
    assert_eq!(first.status, 200, "{}", first.text());
    let cookie = device_cookie(&first);
    let device_token = first.json()["device_token"]
        .as_str()
        .expect("device_token")
        .to_string();

    // A classmate hammers the account from a device without its token.
    for _ in 0..5 {
        assert_eq!(login(&server, "teacher1", "guess").status, 401);
    }
    let untrusted = login(&server, "teacher1", "demo");
    assert_eq!(untrusted.status, 429, "untrusted devices are locked out");
    assert_eq!(untrusted.json()["code"], "rate_limited");
    // A device token for another account does not help the classmate either.
    let other = login(&server, "student1", "demo");
    let other_cookie = device_cookie(&other);
    let borrowed = login_with(
        &server,
        json!({"login": "teacher1", "password": "demo"}),
        &[("cookie", &other_cookie)],
    );
    assert_eq!(borrowed.status, 429, "{}", borrowed.text());

    // The teacher's browser (cookie) and program (JSON) still sign in.
    let browser = login_with(
        &server,
        json!({"login": "teacher1", "password": "demo"}),
        &[("cookie", &format!("theme=dark; {cookie}"))],
    );
    assert_eq!(browser.status, 200, "{}", browser.text());
    let program = login_with(
        &server,
        json!({"login": "teacher1", "password": "demo", "device_token": device_token}),
        &[],
    );
    assert_eq!(program.status, 200, "{}", program.text());
    // And the untrusted lockout still holds.
    assert_eq!(login(&server, "teacher1", "demo").status, 429);
}

#[test]
fn a_trusted_device_that_fails_is_locked_out_on_its_own() {
    let server = Server::start(
        ServerOptions::demo().env("KONSULT_LIMITS_LOGINS_PER_MINUTE_PER_ACCOUNT", "4"),
    );
    let own = device_cookie(&login(&server, "teacher2", "demo"));
    let second = device_cookie(&login(&server, "teacher2", "demo"));
    let with = |cookie: &str, password: &str| {
        login_with(
            &server,
            json!({"login": "teacher2", "password": password}),
            &[("cookie", cookie)],
        )
        .status
    };
    for _ in 0..4 {
        assert_eq!(with(&own, "guess"), 401);
    }
    assert_eq!(with(&own, "demo"), 429, "the device locked itself out");
    assert_eq!(with(&second, "demo"), 200, "another trusted device is not");
    assert_eq!(
        login(&server, "teacher2", "demo").status,
        200,
        "nor are untrusted ones"
    );
}

#[tokio::test]
async fn a_password_reset_closes_the_users_connections_with_4011() {
    let server = Server::start(ServerOptions::demo());
    let admin = server.login("admin", "demo");
    let (mut student, _) = WsClient::connect_as(&server, "student3").await;
    let (mut bystander, _) = WsClient::connect_as(&server, "student4").await;
    let id = user_id(&server, &admin, "student3");
    let reset = call(
        &server,
        "POST",
        &format!("/api/admin/users/{id}/password"),
        &admin,
        b"",
    );
    assert_eq!(reset.status, 200, "{}", reset.text());
    assert_eq!(student.expect_close(Duration::from_secs(5)).await, 4011);
    let pong = bystander.request(json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong", "others stay connected");
}

#[tokio::test]
async fn a_role_change_closes_the_users_connections_with_4011() {
    let server = Server::start(ServerOptions::demo().with_portal());
    let (mut as_student, welcome) =
        WsClient::connect_with_token(&server, &portal_token("pupil.k", "student", &[])).await;
    assert_eq!(welcome["user"]["role"], "student");
    let (mut again, _) =
        WsClient::connect_with_token(&server, &portal_token("pupil.k", "student", &[])).await;
    let pong = as_student.request(json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong", "the same role closes nothing");
    let (_as_teacher, welcome) =
        WsClient::connect_with_token(&server, &portal_token("pupil.k", "teacher", &["math"])).await;
    assert_eq!(welcome["user"]["role"], "teacher");
    assert_eq!(as_student.expect_close(Duration::from_secs(5)).await, 4011);
    assert_eq!(again.expect_close(Duration::from_secs(5)).await, 4011);
}

#[tokio::test]
async fn logout_revokes_the_token_on_http_and_websocket() {
    let server = Server::start(ServerOptions::demo());
    let token = server.login("teacher3", "demo");
    let other = server.login("teacher3", "demo");
    assert_ne!(token, other, "every login gets a token of its own");
    assert_eq!(call(&server, "GET", "/api/hours", &token, b"").status, 200);

    let out = call(&server, "POST", "/api/logout", &token, b"");
    assert_eq!(out.status, 200, "{}", out.text());
    let after = call(&server, "GET", "/api/hours", &token, b"");
    assert_eq!(after.status, 401, "{}", after.text());
    assert_eq!(after.json()["code"], "unauthorized");

    let mut client = WsClient::connect(&server).await;
    let err = client
        .request(json!({"type": "hello", "v": 1, "token": token}))
        .await;
    assert_eq!(err["code"], "unauthorized", "{err}");
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("revoked")),
        "{err}"
    );
    assert_eq!(client.expect_close(Duration::from_secs(5)).await, 4001);

    // The same account's other token is untouched.
    assert_eq!(call(&server, "GET", "/api/hours", &other, b"").status, 200);
    let (_client, welcome) = WsClient::connect_with_token(&server, &other).await;
    assert_eq!(welcome["user"]["login"], "teacher3");
    // Logging out without a token, or with a forged one, is refused.
    let none = http_request(server.addr, "POST", "/api/logout", &[], b"");
    assert_eq!(none.status, 401);
    assert_eq!(
        call(&server, "POST", "/api/logout", "not.a.token", b"").status,
        401
    );
}

#[test]
fn a_logout_outlives_a_restart() {
    let dir = TempDir::new("logout");
    let mut first = Server::start_in(&dir.0, ServerOptions::demo());
    let token = first.login("teacher3", "demo");
    let other = first.login("teacher3", "demo");
    assert_eq!(call(&first, "POST", "/api/logout", &token, b"").status, 200);
    first.signal("TERM");
    first.wait_exit(Duration::from_secs(10)).expect("stopped");

    let second = Server::start_in(&dir.0, ServerOptions::demo());
    let after = call(&second, "GET", "/api/hours", &token, b"");
    assert_eq!(
        after.status,
        401,
        "revoked before the restart: {}",
        after.text()
    );
    assert_eq!(call(&second, "GET", "/api/hours", &other, b"").status, 200);
}

#[test]
fn admin_set_and_imported_passwords_have_a_floor() {
    let server = Server::start(ServerOptions::demo());
    let admin = server.login("admin", "demo");
    let create = |login: &str, password: &str| {
        call(
            &server,
            "POST",
            "/api/admin/users",
            &admin,
            json!({"login": login, "name": "Вера Морозова", "role": "teacher", "password": password})
                .to_string()
                .as_bytes(),
        )
    };
    let short = create("morozova", "seven77");
    assert_eq!(short.status, 400, "{}", short.text());
    assert_eq!(short.json()["code"], "weak_password");
    let same = create("morozova", "MOROZOVA");
    assert_eq!(same.status, 400, "{}", same.text());
    assert_eq!(same.json()["code"], "weak_password");
    let ok = create("morozova", "eight888");
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(login(&server, "morozova", "eight888").status, 200);
    let generated = create("volkova", "");
    assert_eq!(generated.status, 200, "{}", generated.text());
    let password = generated.json()["password"]
        .as_str()
        .expect("generated")
        .to_string();
    assert!(password.chars().count() >= 12, "{password}");

    let csv = "login,name,role,class,password\n\
               ivanov,Иван Иванов,student,9A,short\n\
               petrov,Пётр Петров,student,9A,petrov\n\
               sidorov,Сидор Сидоров,student,9A,long-enough\n";
    let preview = call(
        &server,
        "POST",
        "/api/admin/users/import?dry_run=true",
        &admin,
        csv.as_bytes(),
    )
    .json();
    let errors: Vec<(i64, String)> = preview["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["line"].as_i64().expect("line"),
                e["code"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        vec![(2, "weak_password".into()), (3, "weak_password".into())],
        "{preview}"
    );
    let refused = call(
        &server,
        "POST",
        "/api/admin/users/import",
        &admin,
        csv.as_bytes(),
    );
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["code"], "weak_password");
    assert_eq!(login(&server, "sidorov", "long-enough").status, 401);
}

#[test]
fn the_command_line_keeps_the_password_floor_too() {
    let dir = TempDir::new("floor");
    let data = dir.0.to_str().expect("path");
    let csv = dir.0.join("weak.csv");
    std::fs::write(
        &csv,
        "login,name,role,class,password\nivanov,Иван Иванов,student,9A,1234\n",
    )
    .expect("write");
    let (code, _, err) = run_cli(
        &[
            "user",
            "import",
            "--data",
            data,
            csv.to_str().expect("path"),
        ],
        &[],
        &dir.0,
    );
    assert_ne!(code, 0);
    assert!(err.contains("line 2") && err.contains("too short"), "{err}");
}

#[test]
fn short_secrets_stop_start_up_with_exit_2_naming_the_key() {
    let dir = TempDir::new("secrets");
    let data = dir.0.join("data");
    let data = data.to_str().expect("utf-8 path");
    let short = [("KONSULT_AUTH_JWT_SECRET", "only-31-bytes-of-secret-0123456")];
    // Every command checks the configuration; this one ends by itself even where a short
    // secret would be taken (a server would then serve on).
    let (code, _, err) = run_cli(
        &[
            "user",
            "add",
            "--data",
            data,
            "--login",
            "petrova",
            "--name",
            "Мария Петрова",
            "--role",
            "teacher",
        ],
        &short,
        &dir.0,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("auth.jwt_secret"), "{err}");
    let (code, _, err) = run_cli(&["serve", "--data", data], &short, &dir.0);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("auth.jwt_secret"), "{err}");
    assert!(err.contains("32 bytes"), "{err}");
    let (code, _, err) = run_cli(
        &["serve", "--data", data],
        &[
            ("KONSULT_AUTH_PORTAL_ISSUER", "https://portal.example"),
            ("KONSULT_AUTH_PORTAL_SECRET", "short"),
        ],
        &dir.0,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("auth.portal_secret"), "{err}");
    // 32 bytes are enough.
    let server = Server::start(ServerOptions::demo().env(
        "KONSULT_AUTH_JWT_SECRET",
        "exactly-32-bytes-of-secret-01234",
    ));
    assert_eq!(login(&server, "student1", "demo").status, 200);
}

#[test]
fn the_login_reply_is_never_cached() {
    let server = Server::start(ServerOptions::demo());
    let ok = login(&server, "student2", "demo");
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("cache-control"), Some("no-store"));
    let wrong = login(&server, "student2", "wrong");
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.header("cache-control"), Some("no-store"));
}
