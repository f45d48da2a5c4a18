//! The command line, black-box: configuration errors, accounts from the command line and from
//! CSV, the first administrator, and seeding the demo school twice.

use konsult_testkit::process::{TempDir, run_cli};
use konsult_testkit::{Server, ServerOptions, http_request};
use std::time::Duration;

fn login_status(server: &Server, login: &str, password: &str) -> u16 {
    let body = serde_json::json!({"login": login, "password": password}).to_string();
    http_request(
        server.addr,
        "POST",
        "/api/login",
        &[("content-type", "application/json")],
        body.as_bytes(),
    )
    .status
}

#[test]
fn invalid_configuration_stops_with_exit_2_naming_the_key() {
    let dir = TempDir::new("config");
    let data = dir.0.join("data");
    let data = data.to_str().expect("utf-8 path");

    let (code, _, err) = run_cli(
        &["serve", "--data", data],
        &[("KONSULT_LIMITS_MAX_FRAME_BYTES", "huge")],
        &dir.0,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("limits.max_frame_bytes"), "{err}");
    assert!(err.contains("KONSULT_LIMITS_MAX_FRAME_BYTES"), "{err}");

    let (code, _, err) = run_cli(
        &["serve", "--data", data, "--listen", "nowhere"],
        &[],
        &dir.0,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("server.listen"), "{err}");

    // A node of a cluster keeps nothing in a SQLite file of its own.
    let (code, _, err) = run_cli(
        &["serve", "--data", data],
        &[("KONSULT_BUS_URL", "redis://127.0.0.1:6379")],
        &dir.0,
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("bus.url") && err.contains("store.url"),
        "{err}"
    );

    let file = dir.0.join("bad.toml");
    std::fs::write(&file, "[hub]\noffer_timeout = \"soon\"\n").expect("write");
    let (code, _, err) = run_cli(
        &[
            "serve",
            "--data",
            data,
            "--config",
            file.to_str().expect("path"),
        ],
        &[],
        &dir.0,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("hub.offer_timeout"), "{err}");

    std::fs::write(&file, "[hub]\nofer_timeout = \"30s\"\n").expect("write");
    let (code, _, err) = run_cli(
        &[
            "serve",
            "--data",
            data,
            "--config",
            file.to_str().expect("path"),
        ],
        &[],
        &dir.0,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("hub.ofer_timeout"), "{err}");

    let (code, _, err) = run_cli(
        &["serve", "--data", data],
        &[
            ("KONSULT_SERVER_TLS_CERT", "/no/such/cert.pem"),
            ("KONSULT_SERVER_TLS_KEY", "/no/such/key.pem"),
        ],
        &dir.0,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("server.tls_cert"), "{err}");

    let (code, _, err) = run_cli(
        &["serve", "--data", data],
        &[("KONSULT_SCHOOL_TIMEZONE", "Mars/Olympus")],
        &dir.0,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("school.timezone"), "{err}");

    let (code, _, err) = run_cli(
        &["serve", "--data", data, "--config", "/no/such/file.toml"],
        &[],
        &dir.0,
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        !std::path::Path::new(data).join("konsult.db").exists(),
        "nothing started"
    );
}

#[test]
fn the_shipped_config_file_starts_the_server() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/konsult.toml");
    let server = Server::start(ServerOptions {
        args: vec!["--config".into(), shipped.into()],
        ..ServerOptions::demo()
    });
    assert_eq!(login_status(&server, "student1", "demo"), 200);
}

#[test]
fn first_start_prints_a_one_time_admin_password() {
    let dir = TempDir::new("admin");
    let mut server = Server::start_in(&dir.0, ServerOptions::default());
    let password = server
        .banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .expect("admin password printed")
        .to_string();
    assert_eq!(login_status(&server, "admin", &password), 200);
    assert_eq!(login_status(&server, "admin", "demo"), 401);
    server.signal("TERM");
    server.wait_exit(Duration::from_secs(10)).expect("stopped");

    let server = Server::start_in(&dir.0, ServerOptions::default());
    assert!(
        !server.banner.iter().any(|l| l.contains("password")),
        "printed once: {:?}",
        server.banner
    );
    assert_eq!(login_status(&server, "admin", &password), 200);
}

#[test]
fn seeding_the_demo_school_twice_is_harmless() {
    let dir = TempDir::new("demo");
    let mut first = Server::start_in(&dir.0, ServerOptions::demo());
    assert!(first.banner.iter().all(|l| !l.contains("password")));
    assert_eq!(login_status(&first, "teacher2", "demo"), 200);
    first.signal("TERM");
    first.wait_exit(Duration::from_secs(10)).expect("stopped");
    let second = Server::start_in(&dir.0, ServerOptions::demo());
    for login in [
        "admin",
        "teacher1",
        "teacher3",
        "psychologist1",
        "student1",
        "student30",
    ] {
        assert_eq!(login_status(&second, login, "demo"), 200, "{login}");
    }
    assert_eq!(login_status(&second, "student31", "demo"), 401);
}

#[test]
fn user_add_creates_an_account_that_logs_in() {
    let dir = TempDir::new("add");
    let data = dir.0.to_str().expect("path");
    let (code, out, err) = run_cli(
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
            "--subjects",
            "chemistry,biology",
        ],
        &[],
        &dir.0,
    );
    assert_eq!(code, 0, "{err}");
    let password = out
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("generated password printed")
        .to_string();
    let (code, _, err) = run_cli(
        &[
            "user", "add", "--data", data, "--login", "petrova", "--name", "X", "--role", "teacher",
        ],
        &[],
        &dir.0,
    );
    assert_ne!(code, 0);
    assert!(err.contains("already exists"), "{err}");
    let (code, _, err) = run_cli(
        &[
            "user", "add", "--data", data, "--login", "x", "--name", "X", "--role", "pilot",
        ],
        &[],
        &dir.0,
    );
    assert_ne!(code, 0);
    assert!(err.contains("pilot"), "{err}");

    let server = Server::start_in(&dir.0, ServerOptions::default());
    assert_eq!(login_status(&server, "petrova", &password), 200);
}

#[test]
fn user_import_is_all_or_nothing_with_line_numbers() {
    let dir = TempDir::new("import");
    let data = dir.0.to_str().expect("path");
    let bad = dir.0.join("bad.csv");
    std::fs::write(
        &bad,
        "login,name,role,class,subjects,password\n\
         ivanov,Иван Иванов,student,9A,,secret-1\n\
         petrov,Пётр Петров,student,,,secret-2\n",
    )
    .expect("write");
    let (code, _, err) = run_cli(
        &[
            "user",
            "import",
            "--data",
            data,
            bad.to_str().expect("path"),
        ],
        &[],
        &dir.0,
    );
    assert_ne!(code, 0);
    assert!(err.contains("line 3"), "{err}");

    let good = dir.0.join("good.csv");
    std::fs::write(
        &good,
        "login;name;role;class;subjects;password\n\
         sidorova;Анна Сидорова;teacher;;math physics;secret-3\n\
         kuznetsov;Олег Кузнецов;student;9B;;\n",
    )
    .expect("write");
    let (code, out, err) = run_cli(
        &[
            "user",
            "import",
            "--data",
            data,
            good.to_str().expect("path"),
        ],
        &[],
        &dir.0,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("imported 2 accounts"), "{out}");
    // How far it got goes to stderr; stdout keeps the result alone.
    assert!(err.lines().any(|l| l == "prepared 0/2 accounts"), "{err}");
    assert!(err.lines().any(|l| l == "prepared 2/2 accounts"), "{err}");
    assert!(!out.contains("prepared"), "{out}");
    let generated = out
        .lines()
        .find_map(|l| l.strip_prefix("kuznetsov,"))
        .expect("generated password listed")
        .to_string();

    let (code, _, err) = run_cli(
        &[
            "user",
            "import",
            "--data",
            data,
            good.to_str().expect("path"),
        ],
        &[],
        &dir.0,
    );
    assert_ne!(code, 0, "importing the same logins twice fails");
    assert!(
        err.contains("line 2") && err.contains("already exists"),
        "{err}"
    );

    let server = Server::start_in(&dir.0, ServerOptions::default());
    assert_eq!(
        login_status(&server, "ivanov", "secret-1"),
        401,
        "bad file imported nothing"
    );
    assert_eq!(login_status(&server, "sidorova", "secret-3"), 200);
    assert_eq!(login_status(&server, "kuznetsov", &generated), 200);
}
