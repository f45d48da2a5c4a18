//! A restart on the same data gives everyone their place back (docs/failover.md): the real
//! binary, on SQLite and on PostgreSQL, killed with SIGKILL (or stopped with SIGTERM) while
//! students queue and a group session runs, then started again; clients come back with the
//! `resume` tokens of their last `welcome` and get `resumed: true` with the same queue places,
//! sessions, host, hands, floor and teacher statuses. Neither the kept snapshot nor the logs
//! hold a token in clear.

use konsult_testkit::process::TempDir;
use konsult_testkit::{Server, ServerOptions, WsClient};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::Connection;
use std::path::Path;
use std::time::Duration;

/// One person of the test, with what they need to come back.
struct Person {
    login: &'static str,
    id: i64,
    /// The access token of `POST /api/login` (it outlives the restart).
    token: String,
    /// The `resume` of their last `welcome`.
    resume: String,
    client: WsClient,
}

impl Person {
    async fn connect(server: &Server, login: &'static str) -> Person {
        let token = server.login(login, "demo");
        let (client, welcome) = WsClient::connect_with_token(server, &token).await;
        Person {
            login,
            id: welcome["user"]["id"].as_i64().expect("id"),
            token,
            resume: welcome["resume"].as_str().expect("resume").to_string(),
            client,
        }
    }

    /// Connects again with `hello.resume`; the `welcome`.
    async fn come_back(&mut self, server: &Server) -> Value {
        let mut client = WsClient::connect(server).await;
        client
            .send_json(
                &json!({"type": "hello", "v": 1, "token": self.token, "resume": self.resume}),
            )
            .await;
        let welcome = client.recv().await;
        assert_eq!(welcome["type"], "welcome", "{}: {welcome}", self.login);
        self.resume = welcome["resume"].as_str().expect("resume").to_string();
        self.client = client;
        welcome
    }
}

/// The SHA-256 of a token, hex: what the hub keeps in its place.
fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The snapshot the server kept for the demo school, if any: read from SQLite in the data
/// folder, or from the PostgreSQL database the folder's marker names.
async fn stored_snapshot(data: &Path, postgres: bool) -> Option<Vec<u8>> {
    let query = "SELECT snapshot FROM hub_snapshots";
    if postgres {
        let url = konsult_testkit::postgres::database_for(data);
        let mut conn = sqlx::PgConnection::connect(&url).await.expect("PostgreSQL");
        let row: Option<Vec<u8>> = sqlx::query_scalar(query)
            .fetch_optional(&mut conn)
            .await
            .expect("read the snapshot");
        let _ = conn.close().await;
        row
    } else {
        let url = format!("sqlite://{}?mode=ro", data.join("konsult.db").display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("SQLite");
        let row: Option<Vec<u8>> = sqlx::query_scalar(query)
            .fetch_optional(&mut conn)
            .await
            .expect("read the snapshot");
        let _ = conn.close().await;
        row
    }
}

/// Waits until the kept snapshot satisfies `ready`; returns it.
async fn snapshot_where(data: &Path, postgres: bool, ready: impl Fn(&Value) -> bool) -> Vec<u8> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(bytes) = stored_snapshot(data, postgres).await {
            let value: Value = serde_json::from_slice(&bytes).expect("a JSON snapshot");
            if ready(&value) {
                return bytes;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the snapshot never showed the expected state"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Everyone of the scene, placed.
struct Scene {
    /// teacher3, who set themselves busy: the russian queue waits.
    busy_teacher: Person,
    /// student1 and student2, first and second in the russian queue, with their request ids.
    queued: Vec<(Person, i64)>,
    /// teacher1, host of a group session.
    host: Person,
    /// student3, student4 and student5, its members: 3 and 5 raised hands, 4 has the floor.
    members: Vec<Person>,
    session: i64,
}

fn ask(subject: &str, topic: &str) -> Value {
    json!({"type": "request_help", "subject": subject, "form": "individual", "mode": "online", "topic": topic})
}

/// A busy teacher, two students queued behind them, and a group session with hands and floor.
async fn set_the_scene(server: &Server) -> Scene {
    let mut busy_teacher = Person::connect(server, "teacher3").await;
    let ok = busy_teacher
        .client
        .request(json!({"type": "set_status", "status": "busy"}))
        .await;
    assert_eq!(ok["type"], "ok", "{ok}");
    let mut queued = Vec::new();
    for (n, login) in ["student1", "student2"].into_iter().enumerate() {
        let mut student = Person::connect(server, login).await;
        let reply = student.client.request(ask("russian", "Причастия")).await;
        assert_eq!(reply["type"], "request_queued", "{reply}");
        assert_eq!(reply["request"]["position"], n + 1);
        let id = reply["request"]["id"].as_i64().expect("request id");
        queued.push((student, id));
    }

    let mut host = Person::connect(server, "teacher1").await;
    let mut members = Vec::new();
    for login in ["student3", "student4", "student5"] {
        members.push(Person::connect(server, login).await);
    }
    let ids: Vec<i64> = members.iter().map(|m| m.id).collect();
    let started = host
        .client
        .request(
            json!({"type": "create_session", "form": "group", "subject": "math",
                        "title": "Кружок", "invite": ids}),
        )
        .await;
    assert_eq!(started["type"], "session_started", "{started}");
    let session = started["session"]["id"].as_i64().expect("session id");
    for member in &mut members {
        member.client.recv_type("session_invite").await;
        let joined = member
            .client
            .request(json!({"type": "join_session", "session": session}))
            .await;
        assert_eq!(joined["type"], "session_started", "{joined}");
    }
    for i in [0, 2] {
        let hand = members[i]
            .client
            .request(json!({"type": "raise_hand", "session": session}))
            .await;
        assert_eq!(hand["type"], "ok", "{hand}");
    }
    let granted = host
        .client
        .request(json!({"type": "grant_floor", "session": session, "user": ids[1]}))
        .await;
    assert_eq!(granted["type"], "ok", "{granted}");
    let expected_hands = json!([ids[0], ids[2]]);
    host.client
        .recv_where(|m| {
            m["type"] == "session_state" && m["floor"] == ids[1] && m["hands"] == expected_hands
        })
        .await;
    Scene {
        busy_teacher,
        queued,
        host,
        members,
        session,
    }
}

impl Scene {
    fn everyone(&self) -> Vec<&Person> {
        let mut all = vec![&self.busy_teacher, &self.host];
        all.extend(self.queued.iter().map(|(p, _)| p));
        all.extend(self.members.iter());
        all
    }

    /// Whether a stored snapshot holds the whole scene: the queue, the session's hands and
    /// floor, the busy status, and the digest of every resume token given so far.
    fn kept_in(&self, snapshot: &Value) -> bool {
        let text = snapshot.to_string();
        let queue = json!(["russian", [self.queued[0].1, self.queued[1].1]]);
        let queues = snapshot["requests"]["queues"]
            .as_array()
            .is_some_and(|q| q.contains(&queue));
        let session = &snapshot["sessions"]["sessions"][0];
        let hands = session["hands"] == json!([self.members[0].id, self.members[2].id]);
        let floor = session["floor"] == self.members[1].id;
        let busy = snapshot["people"].as_array().is_some_and(|people| {
            people
                .iter()
                .any(|p| p["info"]["id"] == self.busy_teacher.id && p["set_status"] == "busy")
        });
        let digests = self
            .everyone()
            .iter()
            .all(|p| text.contains(&digest(&p.resume)));
        queues && hands && floor && busy && digests
    }

    /// Every token of the scene: access tokens and resume tokens.
    fn secrets(&self) -> Vec<String> {
        self.everyone()
            .iter()
            .flat_map(|p| [p.token.clone(), p.resume.clone()])
            .collect()
    }
}

/// Nothing in `text` is one of `secrets`.
fn assert_holds_no_secret(what: &str, text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "{what} holds a token in clear"
        );
    }
}

/// Everyone comes back with their resume token and finds their place as it was.
async fn everyone_comes_back(server: &Server, scene: &mut Scene) {
    for (student, request) in &mut scene.queued {
        let welcome = student.come_back(server).await;
        assert_eq!(welcome["resumed"], true, "{}: {welcome}", student.login);
        assert_eq!(welcome["user"]["id"], student.id);
        let place = student.client.recv_type("queue_position").await;
        assert_eq!(place["request"]["id"], *request, "{place}");
        let expected = if student.login == "student1" { 1 } else { 2 };
        assert_eq!(place["request"]["position"], expected, "{place}");
    }

    let welcome = scene.host.come_back(server).await;
    assert_eq!(welcome["resumed"], true, "{welcome}");
    let started = scene.host.client.recv_type("session_started").await;
    assert_eq!(started["session"]["id"], scene.session);
    assert_eq!(started["session"]["host"], scene.host.id, "{started}");
    let ids: Vec<i64> = scene.members.iter().map(|m| m.id).collect();
    let hands = json!([ids[0], ids[2]]);
    for member in &mut scene.members {
        let welcome = member.come_back(server).await;
        assert_eq!(welcome["resumed"], true, "{}: {welcome}", member.login);
        let started = member.client.recv_type("session_started").await;
        assert_eq!(started["session"]["id"], scene.session, "{started}");
    }
    // Members, their roles, hands and floor as they were.
    let state = scene
        .host
        .client
        .recv_where(|m| m["type"] == "session_state" && m["floor"] == ids[1])
        .await;
    assert_eq!(state["hands"], hands, "{state}");
    let mut roles: Vec<(i64, String)> = state["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            (
                m["user"]["id"].as_i64().expect("user"),
                m["role"].as_str().expect("role").to_string(),
            )
        })
        .collect();
    roles.sort();
    let mut expected: Vec<(i64, String)> = ids.iter().map(|id| (*id, "member".into())).collect();
    expected.push((scene.host.id, "host".into()));
    expected.sort();
    assert_eq!(roles, expected);

    // The teacher's status as they set it: the russian queue still waits for them.
    let welcome = scene.busy_teacher.come_back(server).await;
    assert_eq!(welcome["resumed"], true, "{welcome}");
    let listed = scene
        .busy_teacher
        .client
        .request(json!({"type": "list_teachers", "subject": "russian"}))
        .await;
    let me = listed["teachers"]
        .as_array()
        .expect("teachers")
        .iter()
        .find(|t| t["id"] == scene.busy_teacher.id)
        .cloned()
        .expect("listed");
    assert_eq!(me["status"], "busy", "{listed}");
    assert!(
        !scene
            .busy_teacher
            .client
            .sees_within(Duration::from_millis(500), |m| m["type"] == "help_offer")
            .await,
        "a busy teacher gets no offer"
    );
}

/// SIGKILL in the middle of it all, a start on the same data, and everyone back.
async fn a_sigkill_and_a_restart_give_everyone_their_place_back(options: ServerOptions) {
    let postgres = options.postgres;
    let dir = TempDir::new("restart");
    let mut server = Server::start_in(&dir.0, options.clone());
    let mut scene = set_the_scene(&server).await;
    let kept = snapshot_where(&dir.0, postgres, |s| scene.kept_in(s)).await;
    let secrets = scene.secrets();
    assert_holds_no_secret("the snapshot", &String::from_utf8_lossy(&kept), &secrets);
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(10)).expect("killed");
    assert_holds_no_secret("the logs", &server.logs(), &secrets);
    drop(server);

    let server = Server::start_in(&dir.0, options);
    // A token is its own user's: another student cannot take it.
    let earlier = scene.queued[0].0.resume.clone();
    let mut stranger = WsClient::connect(&server).await;
    stranger
        .send_json(
            &json!({"type": "hello", "v": 1, "token": scene.queued[1].0.token,
                           "resume": earlier}),
        )
        .await;
    assert_eq!(stranger.recv().await["resumed"], false);
    stranger.close().await;
    everyone_comes_back(&server, &mut scene).await;
    // And it is honoured once.
    let mut again = WsClient::connect(&server).await;
    again
        .send_json(
            &json!({"type": "hello", "v": 1, "token": scene.queued[0].0.token,
                           "resume": earlier}),
        )
        .await;
    assert_eq!(again.recv().await["resumed"], false);

    let mut secrets = secrets;
    secrets.extend(scene.secrets());
    let kept = snapshot_where(&dir.0, postgres, |s| scene.kept_in(s)).await;
    assert_holds_no_secret("the snapshot", &String::from_utf8_lossy(&kept), &secrets);
    assert_holds_no_secret("the logs", &server.logs(), &secrets);
}

#[tokio::test]
async fn on_sqlite_a_sigkill_and_a_restart_give_everyone_their_place_back() {
    a_sigkill_and_a_restart_give_everyone_their_place_back(ServerOptions::demo()).await;
}

#[tokio::test]
async fn on_postgres_a_sigkill_and_a_restart_give_everyone_their_place_back() {
    a_sigkill_and_a_restart_give_everyone_their_place_back(ServerOptions::demo().on_postgres())
        .await;
}

#[tokio::test]
async fn a_clean_stop_writes_the_last_changes_before_it_exits() {
    // Past the first snapshot, nothing is written while the server runs: only the one it
    // writes as it stops can hold what came after.
    let options = ServerOptions::demo().env("KONSULT_HUB_SNAPSHOT_INTERVAL", "1h");
    let dir = TempDir::new("restart-clean");
    let mut server = Server::start_in(&dir.0, options.clone());
    snapshot_where(&dir.0, false, |_| true).await;
    let mut teacher = Person::connect(&server, "teacher3").await;
    teacher
        .client
        .request(json!({"type": "set_status", "status": "busy"}))
        .await;
    let mut student = Person::connect(&server, "student7").await;
    let reply = student.client.request(ask("russian", "Деепричастия")).await;
    assert_eq!(reply["type"], "request_queued", "{reply}");
    server.signal("TERM");
    let (status, _) = server.wait_exit(Duration::from_secs(20)).expect("stopped");
    assert!(status.success(), "{status:?}");
    drop(server);

    let server = Server::start_in(&dir.0, options);
    let welcome = student.come_back(&server).await;
    assert_eq!(welcome["resumed"], true, "{welcome}");
    let place = student.client.recv_type("queue_position").await;
    assert_eq!(place["request"]["id"], reply["request"]["id"]);
    assert_eq!(place["request"]["position"], 1);
}

#[tokio::test]
async fn a_snapshot_of_an_unknown_format_is_set_aside_and_the_hub_starts_empty() {
    let dir = TempDir::new("restart-format");
    let mut server = Server::start_in(&dir.0, ServerOptions::demo());
    let mut teacher = Person::connect(&server, "teacher3").await;
    teacher
        .client
        .request(json!({"type": "set_status", "status": "busy"}))
        .await;
    let mut student = Person::connect(&server, "student8").await;
    let reply = student.client.request(ask("russian", "Суффиксы")).await;
    assert_eq!(reply["type"], "request_queued", "{reply}");
    let queued = reply["request"]["id"].clone();
    snapshot_where(&dir.0, false, |s| {
        s["requests"]["requests"][0]["id"] == queued
    })
    .await;
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(10)).expect("killed");
    drop(server);

    // A later version's snapshot (format 99) in the database.
    let url = format!("sqlite://{}", dir.0.join("konsult.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("SQLite");
    sqlx::query("UPDATE hub_snapshots SET snapshot = CAST(? AS BLOB)")
        .bind(r#"{"format":99,"taken_at_ms":0,"whatever":"comes next"}"#)
        .execute(&mut conn)
        .await
        .expect("rewrite the snapshot");
    let _ = conn.close().await;

    let server = Server::start_in(&dir.0, ServerOptions::demo());
    let welcome = student.come_back(&server).await;
    assert_eq!(welcome["resumed"], false, "{welcome}");
    assert!(
        !student
            .client
            .sees_within(Duration::from_millis(500), |m| m["type"]
                == "queue_position")
            .await,
        "the queue started empty"
    );
    let logs = server.logs();
    assert!(
        logs.contains("format this version does not know"),
        "a warning says why: {logs}"
    );
}
