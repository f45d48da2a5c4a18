//! Three Konsult nodes sharing one PostgreSQL and one Redis (docs/cluster.md), black-box: a
//! student and a teacher on two nodes pair through the queue and chat; two schools on one
//! cluster never see each other; a killed owner's queue of twenty resumes in place on the
//! survivors; an owner paused past its lease acts for its school no more once woken; a
//! drained owner hands its school over and its student resumes in place; an admin's change and
//! a logout on any node reach the school's owner and every node.

use futures_util::future::join_all;
use konsult_testkit::cluster::{Cluster, Owner};
use konsult_testkit::ws_client::names;
use konsult_testkit::{WsClient, http_request};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::time::{Duration, Instant};

/// How long a client keeps trying to reach a node that serves its school.
const RECONNECT: Duration = Duration::from_secs(15);

/// How long a socket bridged to an owner that died or left may stay open.
const CLOSE_WITHIN: Duration = Duration::from_secs(10);

/// The topic of the help requests handed to a paused node.
const WOKEN_TOPIC: &str = "Через проснувшийся узел";

/// The password of the second school's accounts.
const PASSWORD: &str = "Sunflower-Meadow-47";

/// Runs a test within `limit`; the cluster it made stops when it ends either way.
async fn bounded(limit: Duration, test: impl Future<Output = ()>) {
    if tokio::time::timeout(limit, test).await.is_err() {
        panic!("the test did not end within {limit:?}");
    }
}

/// One person of a test, with what they need to come back.
struct Person {
    login: String,
    id: i64,
    /// The access token of `POST /api/login`, good on every node.
    token: String,
    /// The `resume` of their last `welcome`.
    resume: String,
    client: WsClient,
    /// The node their socket is on.
    node: String,
}

impl Person {
    /// Logs in on `node` (to `school` when given) and connects there.
    async fn connect(
        cluster: &Cluster,
        node: &str,
        school: Option<&str>,
        login: &str,
        password: &str,
    ) -> Person {
        let token = cluster.login(node, school, login, password);
        let joined = cluster.hello(&[node], &token, None, RECONNECT).await;
        Person {
            login: login.to_string(),
            id: joined.welcome["user"]["id"].as_i64().expect("user id"),
            token,
            resume: resume_of(&joined.welcome),
            client: joined.client,
            node: joined.node,
        }
    }

    /// A demo account (password `demo`) on `node`.
    async fn demo(cluster: &Cluster, node: &str, login: &str) -> Person {
        Person::connect(cluster, node, None, login, "demo").await
    }

    /// Connects again, to the first of `nodes` that takes it, with `hello.resume`; the
    /// `welcome`.
    async fn come_back(&mut self, cluster: &Cluster, nodes: &[&str]) -> Value {
        let joined = cluster
            .hello(nodes, &self.token, Some(&self.resume), RECONNECT)
            .await;
        assert_eq!(
            joined.welcome["user"]["id"], self.id,
            "{}: {}",
            self.login, joined.welcome
        );
        self.resume = resume_of(&joined.welcome);
        self.client = joined.client;
        self.node = joined.node;
        joined.welcome
    }

    /// Sends a request and checks that it got `ok`.
    async fn ok(&mut self, request: Value) {
        let reply = self.client.request(request.clone()).await;
        assert_eq!(reply["type"], "ok", "{}: {request} → {reply}", self.login);
    }

    /// Sends a chat message; the reply (`sent`, else an error).
    async fn send(&mut self, thread: i64, client_id: &str, text: &str) -> Value {
        self.client
            .request(
                json!({"type": "send", "thread": thread, "client_id": client_id,
                            "text": text}),
            )
            .await
    }

    /// Every message of a thread, oldest first.
    async fn history(&mut self, thread: i64) -> Vec<Value> {
        self.client.whole_history(thread, 50).await
    }
}

/// `speaker` sends `text` into `thread`; `listener` receives it, from them, in that thread.
async fn says(speaker: &mut Person, listener: &mut Person, thread: i64, id: &str, text: &str) {
    let sent = speaker.send(thread, id, text).await;
    assert_eq!(sent["type"], "sent", "{sent}");
    let heard = listener
        .client
        .recv_where(|m| m["type"] == "message" && m["message"]["client_id"] == id)
        .await;
    assert_eq!(heard["message"]["from"], speaker.id, "{heard}");
    assert_eq!(heard["message"]["text"], text, "{heard}");
    assert_eq!(heard["message"]["thread"], thread, "{heard}");
}

fn resume_of(welcome: &Value) -> String {
    welcome["resume"].as_str().expect("resume").to_string()
}

fn ask(subject: &str, topic: &str) -> Value {
    json!({"type": "request_help", "subject": subject, "form": "individual", "mode": "online",
           "topic": topic})
}

/// The SHA-256 of a token, hex: what a snapshot keeps in its place.
fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether a snapshot holds `subject`'s queue as exactly `requests`, in order.
fn holds_queue(snapshot: &Value, subject: &str, requests: &[i64]) -> bool {
    let queue = json!([subject, requests]);
    snapshot["requests"]["queues"]
        .as_array()
        .is_some_and(|queues| queues.contains(&queue))
}

/// Whether a snapshot holds the digest of every one of `people`'s last resume token, so that
/// each can resume on the school's next owner.
fn holds_tokens<'a>(snapshot: &Value, people: impl IntoIterator<Item = &'a Person>) -> bool {
    let text = snapshot.to_string();
    people
        .into_iter()
        .all(|p| text.contains(&digest(&p.resume)))
}

/// The `client_id`s of messages, in order, and whether their seqs run gap-free from 1.
fn client_ids(messages: &[Value]) -> (Vec<String>, bool) {
    let ids = messages
        .iter()
        .map(|m| m["client_id"].as_str().unwrap_or_default().to_string())
        .collect();
    let gap_free = messages
        .iter()
        .enumerate()
        .all(|(i, m)| m["seq"].as_i64() == i64::try_from(i + 1).ok());
    (ids, gap_free)
}

/// The close code of a socket the server must close within [`CLOSE_WITHIN`]; `what` names it.
async fn closed(client: &mut WsClient, what: &str) -> u16 {
    client
        .closes_within(CLOSE_WITHIN)
        .await
        .unwrap_or_else(|| panic!("{what}: the socket is still open after {CLOSE_WITHIN:?}"))
}

fn ids_in(list: &Value, key: &str) -> Vec<i64> {
    list[key]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["id"].as_i64()).collect())
        .unwrap_or_default()
}

/// An account of school `school` on `node`: the demo school's (password `demo`) or the
/// second school's ([`PASSWORD`]).
async fn of_school(cluster: &Cluster, node: &str, school: &str, login: &str) -> Person {
    let password = if school == "demo" { "demo" } else { PASSWORD };
    Person::connect(cluster, node, Some(school), login, password).await
}

/// The demo school on three nodes, settled; its owner.
async fn demo_cluster() -> (Cluster, Owner) {
    let cluster = Cluster::start(3);
    let owner = cluster.owners(&["demo"]).await["demo"].clone();
    (cluster, owner)
}

#[tokio::test]
async fn a_student_and_a_teacher_on_two_nodes_pair_through_the_queue_and_chat() {
    bounded(Duration::from_secs(90), async {
        let (cluster, owner) = demo_cluster().await;
        // Both sit on nodes that do not own the school: every frame is bridged to its owner.
        let others = cluster.others(&owner.node);
        let mut teacher = Person::demo(&cluster, &others[0], "teacher3").await;
        teacher
            .ok(json!({"type": "set_status", "status": "available"}))
            .await;
        let mut student = Person::demo(&cluster, &others[1], "student1").await;
        // The owner runs both connections; each edge holds one socket.
        let owner_metrics = cluster.server(&owner.node).metrics();
        for line in [
            "konsult_cluster_schools_held 1",
            "konsult_cluster_bridged_connections{side=\"owner\"} 2",
        ] {
            assert!(
                owner_metrics.contains(line),
                "{line} not in {owner_metrics}"
            );
        }
        for edge in &others {
            let metrics = cluster.server(edge).metrics();
            let line = "konsult_cluster_bridged_connections{side=\"edge\"} 1";
            assert!(metrics.contains(line), "{edge}: {line} not in {metrics}");
        }

        let listed = student
            .client
            .request(json!({"type": "list_teachers", "subject": "russian"}))
            .await;
        assert_eq!(listed["type"], "teachers", "{listed}");
        assert_eq!(listed["teachers"][0]["id"], teacher.id, "{listed}");
        assert_eq!(listed["teachers"][0]["status"], "available", "{listed}");

        let queued = student
            .client
            .request(ask("russian", "Причастный оборот"))
            .await;
        assert_eq!(queued["type"], "request_queued", "{queued}");
        assert_eq!(queued["request"]["position"], 1, "{queued}");
        let request = queued["request"]["id"].clone();

        let offer = teacher.client.recv_type("help_offer").await;
        assert_eq!(offer["request"]["id"], request, "{offer}");
        assert_eq!(offer["request"]["student"]["login"], "student1", "{offer}");
        assert_eq!(offer["request"]["topic"], "Причастный оборот", "{offer}");
        let started = teacher
            .client
            .request(json!({"type": "accept", "request": request}))
            .await;
        assert_eq!(started["type"], "session_started", "{started}");
        assert_eq!(started["session"]["form"], "individual", "{started}");
        let session = started["session"]["id"].clone();
        let thread = started["session"]["thread"].as_i64().expect("thread");
        let mine = student.client.recv_type("session_started").await;
        assert_eq!(mine["session"]["id"], session, "{mine}");
        assert_eq!(mine["session"]["thread"], thread, "{mine}");

        // Each sees the other's messages.
        says(
            &mut student,
            &mut teacher,
            thread,
            "s-1",
            "Здравствуйте! Где ставить запятые?",
        )
        .await;
        says(
            &mut teacher,
            &mut student,
            thread,
            "t-1",
            "Оборот после слова выделяется.",
        )
        .await;

        // Both read the same thread: the two messages last, in order, seqs without a gap.
        let from_student = student.history(thread).await;
        let from_teacher = teacher.history(thread).await;
        assert_eq!(from_student, from_teacher);
        let (ids, gap_free) = client_ids(&from_student);
        assert!(gap_free, "{from_student:?}");
        assert!(ids.ends_with(&["s-1".into(), "t-1".into()]), "{ids:?}");

        let ended = teacher
            .client
            .request(json!({"type": "end_session", "session": session}))
            .await;
        assert_eq!(ended["type"], "ok", "{ended}");
        let gone = student.client.recv_type("session_ended").await;
        assert_eq!(gone["reason"], "ended", "{gone}");
    })
    .await;
}

#[tokio::test]
async fn two_schools_on_one_cluster_never_see_each_other() {
    bounded(Duration::from_secs(90), async {
        // The second school and its accounts, in the database before the nodes start.
        let mut cluster = Cluster::new();
        let out = cluster.cli(&["school", "add", "--code", "b", "--name", "School B"]);
        assert!(out.contains("created school b"), "{out}");
        for (login, name, role, extra) in [
            ("student", "Student B", "student", ["--class", "9A"]),
            ("teacher", "Teacher B", "teacher", ["--subjects", "math"]),
            ("admin2", "Admin B", "admin", ["--class", ""]),
        ] {
            let mut args = vec![
                "user",
                "add",
                "--school",
                "b",
                "--login",
                login,
                "--name",
                name,
                "--role",
                role,
                "--password",
                PASSWORD,
            ];
            if role != "admin" {
                args.extend(extra);
            }
            cluster.cli(&args);
        }
        cluster.start_nodes(3);
        let owners = cluster.owners(&["demo", "b"]).await;
        println!("owners: {owners:?}");
        let ids = cluster.ids();
        // A user of each school on every node; the two students on the same one.
        let mut teacher_demo = of_school(&cluster, &ids[0], "demo", "teacher2").await;
        let mut teacher_b = of_school(&cluster, &ids[1], "b", "teacher").await;
        let mut student_demo = of_school(&cluster, &ids[2], "demo", "student1").await;
        let mut student_b = of_school(&cluster, &ids[2], "b", "student").await;

        // Staff lists: each school's own teachers only.
        teacher_b
            .ok(json!({"type": "set_status", "status": "busy"}))
            .await;
        teacher_demo
            .ok(json!({"type": "set_status", "status": "available"}))
            .await;
        let seen_by_b = student_b
            .client
            .request(json!({"type": "list_teachers", "subject": "math"}))
            .await;
        assert_eq!(
            names(&seen_by_b, "teachers"),
            vec!["Teacher B"],
            "{seen_by_b}"
        );
        let seen_by_demo = student_demo
            .client
            .request(json!({"type": "list_teachers"}))
            .await;
        assert_eq!(seen_by_demo["type"], "teachers", "{seen_by_demo}");
        assert!(
            !names(&seen_by_demo, "teachers").contains(&"Teacher B".to_string()),
            "{seen_by_demo}"
        );
        assert!(
            !ids_in(&seen_by_demo, "teachers").contains(&teacher_b.id),
            "{seen_by_demo}"
        );
        let staff_of_b = teacher_b
            .client
            .request(json!({"type": "list_teachers"}))
            .await;
        assert_eq!(
            names(&staff_of_b, "teachers"),
            vec!["Teacher B"],
            "{staff_of_b}"
        );
        assert!(
            !ids_in(&staff_of_b, "teachers").contains(&teacher_demo.id),
            "{staff_of_b}"
        );

        // B's student waits in B's math queue (B's teacher is busy) and so hears B's presence,
        // never demo's.
        let queued_b = student_b
            .client
            .request(ask("math", "fractions-of-school-b"))
            .await;
        assert_eq!(queued_b["type"], "request_queued", "{queued_b}");
        teacher_demo
            .ok(json!({"type": "set_status", "status": "away"}))
            .await;
        teacher_demo
            .ok(json!({"type": "set_status", "status": "available"}))
            .await;

        // Demo's student asks for math: offered to demo's teacher, never to B's.
        let asked = student_demo
            .client
            .request(ask("math", "fractions-of-demo"))
            .await;
        assert_eq!(asked["type"], "request_queued", "{asked}");
        let offer = teacher_demo.client.recv_type("help_offer").await;
        assert_eq!(offer["request"]["id"], asked["request"]["id"], "{offer}");
        let queue_of_demo = teacher_demo
            .client
            .request(json!({"type": "list_queue", "subject": "math"}))
            .await;
        assert!(
            !queue_of_demo.to_string().contains("fractions-of-school-b"),
            "{queue_of_demo}"
        );
        let started = teacher_demo
            .client
            .request(json!({"type": "accept", "request": asked["request"]["id"]}))
            .await;
        assert_eq!(started["type"], "session_started", "{started}");
        let thread = started["session"]["thread"].as_i64().expect("thread");
        student_demo.client.recv_type("session_started").await;
        let sent = student_demo.send(thread, "demo-1", "message-of-demo").await;
        assert_eq!(sent["type"], "sent", "{sent}");
        teacher_demo
            .client
            .recv_where(|m| m["type"] == "message" && m["message"]["client_id"] == "demo-1")
            .await;

        let heard_by_teacher_b = teacher_b.client.frames_within(Duration::from_secs(2)).await;
        assert!(
            !heard_by_teacher_b.iter().any(|f| f["type"] == "help_offer"
                || f["type"] == "message"
                || f.to_string().contains("fractions-of-demo")
                || f.to_string().contains("message-of-demo")),
            "B's teacher hears nothing of demo: {heard_by_teacher_b:?}"
        );
        let heard_by_student_b = student_b.client.frames_within(Duration::from_secs(1)).await;
        assert!(
            !heard_by_student_b.iter().any(|f| (f["type"] == "presence"
                && f["user"] == teacher_demo.id)
                || f.to_string().contains("fractions-of-demo")
                || f.to_string().contains("message-of-demo")),
            "B's student hears nothing of demo: {heard_by_student_b:?}"
        );
        let queue_of_b = teacher_b
            .client
            .request(json!({"type": "list_queue", "subject": "math"}))
            .await;
        assert_eq!(queue_of_b["type"], "queue", "{queue_of_b}");
        assert_eq!(queue_of_b["total"], 1, "{queue_of_b}");
        assert_eq!(
            queue_of_b["requests"][0]["id"], queued_b["request"]["id"],
            "{queue_of_b}"
        );

        // Demo's thread is no thread of B's: not listed, not readable, not writable.
        let threads_b = student_b.client.request(json!({"type": "threads"})).await;
        assert_eq!(threads_b["type"], "threads", "{threads_b}");
        assert!(
            threads_b["threads"]
                .as_array()
                .is_some_and(|t| t.iter().all(|t| t["id"] != thread)),
            "{threads_b}"
        );
        let mut admin_b = of_school(&cluster, &ids[0], "b", "admin2").await;
        let read_by_b = admin_b
            .client
            .request(json!({"type": "history", "thread": thread}))
            .await;
        assert_eq!(read_by_b["code"], "not_found", "{read_by_b}");
        let written_by_b = student_b.send(thread, "b-1", "intruder").await;
        assert_eq!(written_by_b["code"], "not_found", "{written_by_b}");
        let (ids_seen, _) = client_ids(&student_demo.history(thread).await);
        assert!(!ids_seen.contains(&"b-1".to_string()), "{ids_seen:?}");

        // The other way round: B's request is offered to B's teacher once free, and to no one
        // of demo.
        teacher_b
            .ok(json!({"type": "set_status", "status": "available"}))
            .await;
        let offer_b = teacher_b.client.recv_type("help_offer").await;
        assert_eq!(
            offer_b["request"]["id"], queued_b["request"]["id"],
            "{offer_b}"
        );
        let heard_by_demo = teacher_demo
            .client
            .frames_within(Duration::from_secs(1))
            .await;
        assert!(
            !heard_by_demo.iter().any(|f| f["type"] == "help_offer"
                || f.to_string().contains("fractions-of-school-b")
                || (f["type"] == "presence" && f["user"] == teacher_b.id)),
            "demo's teacher hears nothing of B: {heard_by_demo:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_killed_owner_s_twenty_queued_students_resume_their_places_on_the_survivors() {
    bounded(Duration::from_secs(150), async {
        let (mut cluster, owner) = demo_cluster().await;
        let ids = cluster.ids();
        let survivors = cluster.others(&owner.node);
        // teacher3, the only russian teacher, is busy: the russian queue waits.
        let mut teacher = Person::demo(&cluster, &survivors[0], "teacher3").await;
        teacher
            .ok(json!({"type": "set_status", "status": "busy"}))
            .await;
        // Twenty students spread over the three nodes queue behind them.
        let mut queued: Vec<(Person, i64)> = Vec::new();
        for n in 1..=20 {
            let node = &ids[(n - 1) % ids.len()];
            let mut student = Person::demo(&cluster, node, &format!("student{n}")).await;
            let reply = student
                .client
                .request(ask("russian", &format!("Вопрос {n}")))
                .await;
            assert_eq!(reply["type"], "request_queued", "student{n}: {reply}");
            assert_eq!(reply["request"]["position"], n, "student{n}: {reply}");
            queued.push((student, reply["request"]["id"].as_i64().expect("id")));
        }
        let requests: Vec<i64> = queued.iter().map(|(_, id)| *id).collect();
        cluster
            .snapshot_where("demo", |_, s| {
                holds_queue(s, "russian", &requests)
                    && holds_tokens(s, queued.iter().map(|(p, _)| p))
                    && holds_tokens(s, [&teacher])
            })
            .await;

        // A student who signs in now and connects while the dead owner's lease still runs.
        let newcomer = cluster.login(&survivors[1], None, "student21", "demo");

        cluster.server(&owner.node).signal("KILL");
        let killed = Instant::now();
        let mut dead = cluster.take(&owner.node);
        dead.wait_exit(Duration::from_secs(10)).expect("killed");

        // Everyone comes back at once, each to a live node (their own when it lives), while
        // the survivors take the school over.
        let cluster = &cluster;
        let survivors: Vec<&str> = survivors.iter().map(String::as_str).collect();
        let dead_node = owner.node.as_str();
        let comebacks = queued
            .iter_mut()
            .enumerate()
            .map(|(i, (student, request))| {
                let survivors = survivors.clone();
                async move {
                    let what = format!(
                        "{} on {} after the owner's kill",
                        student.login, student.node
                    );
                    let code = closed(&mut student.client, &what).await;
                    if student.node != dead_node {
                        assert_eq!(
                            code, 1001,
                            "{} was bridged from {} to the dead owner",
                            student.login, student.node
                        );
                    }
                    let mut nodes = survivors;
                    if let Some(own) = nodes.iter().position(|n| *n == student.node) {
                        nodes.swap(0, own);
                    } else {
                        nodes.rotate_left(i % 2);
                    }
                    let welcome = student.come_back(cluster, &nodes).await;
                    let at = killed.elapsed();
                    assert_eq!(welcome["resumed"], true, "{}: {welcome}", student.login);
                    let place = student.client.recv_type("queue_position").await;
                    assert_eq!(
                        place["request"]["id"], *request,
                        "{}: {place}",
                        student.login
                    );
                    assert_eq!(
                        place["request"]["position"],
                        i + 1,
                        "{}: {place}",
                        student.login
                    );
                    at
                }
            });
        // Its one socket is not bridged to the dead owner (which would end it at once, and
        // send it into its backoff): its `hello` waits for the next owner.
        let first_try = async {
            let node = survivors[1];
            let mut client = WsClient::try_connect(cluster.addr(node))
                .await
                .expect("a survivor takes the socket");
            let welcome = client
                .try_hello(&newcomer, None, RECONNECT)
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "student21's first socket on {node}, {:?} after the kill: {e}",
                        killed.elapsed()
                    )
                });
            assert_eq!(welcome["user"]["login"], "student21", "{welcome}");
            killed.elapsed()
        };
        let (times, (new_owner, moved), newcomer_in) = tokio::join!(
            join_all(comebacks),
            cluster.new_owner("demo", &owner, RECONNECT),
            first_try
        );
        println!("student21 was welcomed on its first socket {newcomer_in:?} after the kill");
        println!(
            "demo moved from {} to {} (epoch {} → {}) {moved:?} after the kill",
            owner.node, new_owner.node, owner.epoch, new_owner.epoch
        );
        let last = times.iter().max().copied().unwrap_or_default();
        println!(
            "{} students resumed in place; the last welcome came {last:?} after the kill",
            times.len()
        );
        assert!(
            last < Duration::from_secs(10),
            "the last student resumed {last:?} after the kill"
        );

        // The teacher comes back busy, and the queue still waits for them.
        if teacher.node != dead_node {
            let code = closed(&mut teacher.client, "teacher3, bridged to the killed owner").await;
            assert_eq!(code, 1001);
        }
        let welcome = teacher.come_back(cluster, &survivors).await;
        assert_eq!(welcome["resumed"], true, "{welcome}");
        let listed = teacher
            .client
            .request(json!({"type": "list_teachers", "subject": "russian"}))
            .await;
        assert_eq!(listed["teachers"][0]["status"], "busy", "{listed}");
        let queue = teacher
            .client
            .request(json!({"type": "list_queue", "subject": "russian"}))
            .await;
        let listed_requests: Vec<i64> = queue["requests"]
            .as_array()
            .expect("requests")
            .iter()
            .filter_map(|r| r["id"].as_i64())
            .collect();
        assert_eq!(listed_requests, requests, "{queue}");
        assert_eq!(cluster.owner("demo"), Some(new_owner));
    })
    .await;
}

#[tokio::test]
async fn a_paused_owner_past_its_lease_is_fenced_off_when_it_wakes() {
    bounded(Duration::from_secs(120), async {
        let (cluster, first) = demo_cluster().await;
        let paused = first.node.clone();
        let others = cluster.others(&paused);
        let others: Vec<&str> = others.iter().map(String::as_str).collect();
        // teacher1 on another node, bridged to the owner; student5 right on the owner. They
        // share a thread.
        let mut teacher = Person::demo(&cluster, others[0], "teacher1").await;
        let mut student = Person::demo(&cluster, &paused, "student5").await;
        let created = teacher
            .client
            .request(
                json!({"type": "create_thread", "kind": "personal", "title": "Физика",
                            "members": [student.id]}),
            )
            .await;
        assert_eq!(created["type"], "thread_added", "{created}");
        let thread = created["thread"]["id"].as_i64().expect("thread");
        student.client.recv_type("thread_added").await;
        let sent = student.send(thread, "before", "Задача 5?").await;
        assert_eq!(sent["type"], "sent", "{sent}");
        teacher
            .client
            .recv_where(|m| m["type"] == "message" && m["message"]["client_id"] == "before")
            .await;
        cluster
            .snapshot_where("demo", |_, s| holds_tokens(s, [&teacher, &student]))
            .await;
        // Ten more students right on the owner, who will ask for help while it sleeps.
        let mut askers = Vec::new();
        for n in 11..=20 {
            askers.push(Person::demo(&cluster, &paused, &format!("student{n}")).await);
        }

        // Paused past its lease: another node takes the school under a larger epoch.
        cluster.server(&paused).signal("STOP");
        let (owner, moved) = cluster
            .new_owner("demo", &first, Duration::from_secs(15))
            .await;
        println!(
            "demo moved from the paused {paused} to {} (epoch {} → {}) after {moved:?}",
            owner.node, first.epoch, owner.epoch
        );

        // The teacher's socket, bridged to the paused node, is closed; they resume onto the
        // new owner and change something there.
        let code = closed(&mut teacher.client, "teacher1, bridged to the paused owner").await;
        assert_eq!(
            code, 1001,
            "the bridge to the paused owner closes with 1001"
        );
        let welcome = teacher.come_back(&cluster, &others).await;
        assert_eq!(welcome["resumed"], true, "{welcome}");
        teacher
            .ok(json!({"type": "set_status", "status": "away"}))
            .await;
        cluster
            .snapshot_where("demo", |epoch, _| epoch == owner.epoch)
            .await;
        assert_eq!(cluster.store_epoch("demo").await, Some(owner.epoch));

        // While it sleeps, its old sockets are handed help requests and a burst of messages
        // (the kernel keeps them), so that they are there to be read the moment it wakes.
        let ask_frame = |n: usize| {
            json!({"type": "request_help", "subject": "physics", "form": "individual",
                   "mode": "online", "topic": format!("{WOKEN_TOPIC} {n}"),
                   "rid": "woken-ask"})
        };
        let mut written = 0;
        let woken: Vec<String> = (0..10).map(|k| format!("woken-{k}")).collect();
        for (k, id) in woken.iter().enumerate() {
            if k == woken.len() / 2 {
                let frame = ask_frame(0);
                written += usize::from(student.client.try_send_json(&frame).await.is_ok());
            }
            let frame = json!({"type": "send", "thread": thread, "client_id": id,
                               "text": format!("Отправлено спящему узлу: {id}"), "rid": id});
            written += usize::from(student.client.try_send_json(&frame).await.is_ok());
        }
        for (n, asker) in askers.iter_mut().enumerate() {
            let frame = ask_frame(n + 1);
            written += usize::from(asker.client.try_send_json(&frame).await.is_ok());
        }
        cluster.server(&paused).signal("CONT");
        let answer_to = |client: &WsClient, rid: &str| {
            client.pending().iter().find(|m| m["re"] == rid).cloned()
        };
        let code = closed(&mut student.client, "student5, on the woken node").await;
        let mut asked = vec![(student.id, answer_to(&student.client, "woken-ask"))];
        for asker in &mut askers {
            let what = format!("{}, on the woken node", asker.login);
            closed(&mut asker.client, &what).await;
            asked.push((asker.id, answer_to(&asker.client, "woken-ask")));
        }
        let answers: Vec<(String, Option<Value>)> = woken
            .iter()
            .map(|id| (id.clone(), answer_to(&student.client, id)))
            .collect();
        println!(
            "the woken node's sockets: {written} frames written, student5's closed with \
             {code}; requests: {asked:?}; messages: {answers:?}"
        );
        let acked: Vec<&String> = answers
            .iter()
            .filter(|(_, a)| a.as_ref().is_some_and(|a| a["type"] == "sent"))
            .map(|(id, _)| id)
            .collect();
        let refused: Vec<&String> = answers
            .iter()
            .filter(|(_, a)| a.as_ref().is_some_and(|a| a["type"] != "sent"))
            .map(|(id, a)| {
                assert_eq!(
                    a.as_ref().map(|a| &a["type"]),
                    Some(&json!("error")),
                    "{id}"
                );
                id
            })
            .collect();

        // Each acknowledged message was delivered by the new owner; a refused one was not
        // kept.
        for id in &acked {
            teacher
                .client
                .recv_where(|m| m["type"] == "message" && m["message"]["client_id"] == **id)
                .await;
        }
        let messages = teacher.history(thread).await;
        let (ids, gap_free) = client_ids(&messages);
        assert!(gap_free, "{messages:?}");
        println!("the thread on the new owner: {ids:?}");
        for id in &acked {
            assert!(ids.contains(id), "{id} acknowledged, then lost: {ids:?}");
        }
        for id in &refused {
            assert!(!ids.contains(id), "{id} refused, yet kept: {ids:?}");
        }

        // Each request the woken node acknowledged is in the new owner's queue; a refused one
        // is not.
        let queue = teacher
            .client
            .request(json!({"type": "list_queue", "subject": "physics"}))
            .await;
        assert_eq!(queue["type"], "queue", "{queue}");
        for (asker, answer) in &asked {
            let theirs: Vec<Value> = queue["requests"]
                .as_array()
                .expect("requests")
                .iter()
                .filter(|r| r["student"]["id"] == *asker)
                .map(|r| r["id"].clone())
                .collect();
            match answer {
                Some(answer) if answer["type"] == "request_queued" => assert_eq!(
                    theirs.as_slice(),
                    std::slice::from_ref(&answer["request"]["id"]),
                    "the woken node answered user {asker} {answer}, but the new owner's \
                     queue is {queue}"
                ),
                Some(answer) => {
                    assert_eq!(answer["type"], "error", "{answer}");
                    assert!(theirs.is_empty(), "refused, yet queued: {queue}");
                }
                None => {}
            }
        }

        // The woken node takes nothing back: the lease, the database's epoch and the kept
        // snapshot stay the new owner's, and so does what was changed there.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(cluster.owner("demo"), Some(owner.clone()));
        assert_eq!(cluster.store_epoch("demo").await, Some(owner.epoch));
        let (kept_epoch, _) = cluster.snapshot("demo").await.expect("a snapshot");
        assert_eq!(kept_epoch, owner.epoch);
        let listed = teacher
            .client
            .request(json!({"type": "list_teachers", "subject": "physics"}))
            .await;
        let me = listed["teachers"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["id"] == teacher.id))
            .cloned()
            .unwrap_or_else(|| panic!("teacher1 not listed: {listed}"));
        assert_eq!(me["status"], "away", "{listed}");
        // Nor did the woken node write a request to the record that the new owner lacks.
        let queued_topics: Vec<&str> = queue["requests"]
            .as_array()
            .expect("requests")
            .iter()
            .filter_map(|r| r["topic"].as_str())
            .collect();
        let admin = cluster.login(others[0], None, "admin", "demo");
        let record = http_request(
            cluster.server(others[0]).addr,
            "GET",
            "/api/consultations",
            &[("authorization", &format!("Bearer {admin}"))],
            b"",
        );
        assert_eq!(record.status, 200, "{}", record.text());
        let record = record.json();
        let phantoms: Vec<&Value> = record["consultations"]
            .as_array()
            .expect("consultations")
            .iter()
            .filter(|row| {
                row["topic"].as_str().is_some_and(|topic| {
                    topic.starts_with(WOKEN_TOPIC) && !queued_topics.contains(&topic)
                })
            })
            .collect();
        assert!(
            phantoms.is_empty(),
            "the record holds requests the woken node took after losing the school, which \
             the new owner never had: {phantoms:?}"
        );

        // The woken node serves again as any node does: the student comes back through it,
        // to the new owner, and is heard.
        let welcome = student.come_back(&cluster, &[paused.as_str()]).await;
        assert_eq!(welcome["resumed"], true, "{welcome}");
        if let Some((_, Some(answer))) = asked.first()
            && answer["type"] == "request_queued"
        {
            let place = student.client.recv_type("queue_position").await;
            assert_eq!(place["request"]["id"], answer["request"]["id"], "{place}");
        }
        let sent = student
            .send(thread, "after", "Теперь через нового владельца")
            .await;
        assert_eq!(sent["type"], "sent", "{sent}");
        teacher
            .client
            .recv_where(|m| m["type"] == "message" && m["message"]["client_id"] == "after")
            .await;
        let messages = teacher.history(thread).await;
        let (mut ids, gap_free) = client_ids(&messages);
        assert!(gap_free, "{messages:?}");
        ids.retain(|id| !id.starts_with("woken"));
        assert_eq!(ids, ["before", "after"], "{messages:?}");
        assert_eq!(cluster.owner("demo"), Some(owner));
    })
    .await;
}

#[tokio::test]
async fn a_drained_owner_hands_its_school_over_and_its_students_resume_in_place() {
    bounded(Duration::from_secs(120), async {
        let (mut cluster, first) = demo_cluster().await;
        let drained = first.node.clone();
        let others = cluster.others(&drained);
        let others: Vec<&str> = others.iter().map(String::as_str).collect();
        let mut teacher = Person::demo(&cluster, others[0], "teacher3").await;
        teacher
            .ok(json!({"type": "set_status", "status": "busy"}))
            .await;
        // student7 bridged from another node, student8 right on the owner.
        let mut waiting = Vec::new();
        for (n, node) in [(7, others[1]), (8, drained.as_str())] {
            let mut student = Person::demo(&cluster, node, &format!("student{n}")).await;
            let reply = student.client.request(ask("russian", "Тире")).await;
            assert_eq!(reply["type"], "request_queued", "{reply}");
            waiting.push((
                student,
                reply["request"]["id"].clone(),
                reply["request"]["position"].clone(),
            ));
        }
        assert_eq!(waiting[0].2, 1);
        assert_eq!(waiting[1].2, 2);

        cluster.server(&drained).signal("TERM");
        let (owner, moved) = cluster
            .new_owner("demo", &first, Duration::from_secs(10))
            .await;
        println!(
            "demo moved from the drained {drained} to {} (epoch {} → {}) after {moved:?}",
            owner.node, first.epoch, owner.epoch
        );
        assert!(
            moved < Duration::from_secs(5),
            "the school took {moved:?} to move"
        );

        for (student, request, position) in &mut waiting {
            let what = format!(
                "{} on {}, drained or bridged to it",
                student.login, student.node
            );
            let code = closed(&mut student.client, &what).await;
            assert_eq!(code, 1001, "{what}");
            let welcome = student.come_back(&cluster, &others).await;
            assert_eq!(welcome["resumed"], true, "{}: {welcome}", student.login);
            let place = student.client.recv_type("queue_position").await;
            assert_eq!(place["request"]["id"], *request, "{place}");
            assert_eq!(place["request"]["position"], *position, "{place}");
        }
        let code = closed(
            &mut teacher.client,
            "teacher3, bridged to the drained owner",
        )
        .await;
        assert_eq!(code, 1001);
        let welcome = teacher.come_back(&cluster, &others).await;
        assert_eq!(welcome["resumed"], true, "{welcome}");
        let listed = teacher
            .client
            .request(json!({"type": "list_teachers", "subject": "russian"}))
            .await;
        assert_eq!(listed["teachers"][0]["status"], "busy", "{listed}");

        let mut process = cluster.take(&drained);
        let (status, _) = process
            .wait_exit(Duration::from_secs(30))
            .expect("the drained node exits");
        assert!(status.success(), "the drained node exited with {status:?}");
        assert_eq!(cluster.owner("demo"), Some(owner));
        assert!(!cluster.registered(&drained), "{drained} left the registry");
    })
    .await;
}

/// An admin's change on a node that does not run the school reaches the school's owner: a
/// deactivated teacher's bridged connection closes with 4011 and the school's hub no longer
/// lists them; a logout on one node refuses the token on every other.
#[tokio::test]
async fn changes_made_on_any_node_reach_the_school_and_every_node() {
    bounded(Duration::from_secs(90), async {
        let (cluster, owner) = demo_cluster().await;
        let others = cluster.others(&owner.node);
        let mut teacher = Person::demo(&cluster, &others[0], "teacher3").await;
        teacher
            .ok(json!({"type": "set_status", "status": "available"}))
            .await;
        let mut student = Person::demo(&cluster, &others[1], "student1").await;
        let listed = student
            .client
            .request(json!({"type": "list_teachers", "subject": "russian"}))
            .await;
        assert_eq!(listed["teachers"][0]["id"], teacher.id, "{listed}");

        // The admin works on the node that holds neither the school nor the teacher's socket.
        let admin = cluster.login(&others[1], None, "admin", "demo");
        let bearer = format!("Bearer {admin}");
        let off = http_request(
            cluster.server(&others[1]).addr,
            "POST",
            &format!("/api/admin/users/{}/deactivate", teacher.id),
            &[("authorization", &bearer)],
            b"",
        );
        assert_eq!(off.status, 200, "{}", off.text());
        assert_eq!(teacher.client.expect_close(CLOSE_WITHIN).await, 4011);
        let listed = student
            .client
            .request(json!({"type": "list_teachers", "subject": "russian"}))
            .await;
        assert_eq!(listed["type"], "teachers", "{listed}");
        assert!(
            listed["teachers"]
                .as_array()
                .expect("teachers")
                .iter()
                .all(|t| t["id"] != teacher.id),
            "the owner's hub still lists the deactivated teacher: {listed}"
        );

        // A logout on one node: the token is refused on the others, by HTTP and in `hello`.
        let token = cluster.login(&owner.node, None, "student2", "demo");
        let bearer = format!("Bearer {token}");
        let out = http_request(
            cluster.server(&others[0]).addr,
            "POST",
            "/api/logout",
            &[("authorization", &bearer)],
            b"",
        );
        assert_eq!(out.status, 200, "{}", out.text());
        for node in [&owner.node, &others[1]] {
            let refused = poll_until(CLOSE_WITHIN, || {
                let hours = http_request(
                    cluster.server(node).addr,
                    "GET",
                    "/api/hours",
                    &[("authorization", &bearer)],
                    b"",
                );
                hours.status == 401
            })
            .await;
            assert!(
                refused,
                "node {node} still takes a token logged out on {}",
                others[0]
            );
            let mut client = WsClient::connect(cluster.server(node)).await;
            client
                .send_json(&json!({"type": "hello", "v": 1, "token": token}))
                .await;
            let err = client.recv().await;
            assert_eq!(err["code"], "unauthorized", "{node}: {err}");
            assert_eq!(client.expect_close(CLOSE_WITHIN).await, 4001);
        }
    })
    .await;
}

/// Polls `check` every 50 ms until it holds or `limit` passes.
async fn poll_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A node that only held sockets dies: the school's owner ends their connections once the
/// node is gone from the registry, and a client reconnecting elsewhere gets its place back
/// (`resumed: true`, the same queue place), as after its own school's node died.
#[tokio::test]
async fn a_killed_edge_s_clients_resume_their_places_on_another_node() {
    bounded(Duration::from_secs(90), async {
        let (mut cluster, owner) = demo_cluster().await;
        let others = cluster.others(&owner.node);
        let (edge, spare) = (others[0].clone(), others[1].clone());
        let mut teacher = Person::demo(&cluster, &owner.node, "teacher3").await;
        teacher
            .ok(json!({"type": "set_status", "status": "available"}))
            .await;
        let mut first = Person::demo(&cluster, &owner.node, "student1").await;
        let queued = first.client.request(ask("russian", "Первый")).await;
        assert_eq!(queued["type"], "request_queued", "{queued}");
        let mut student = Person::demo(&cluster, &edge, "student2").await;
        let queued = student.client.request(ask("russian", "Второй")).await;
        assert_eq!(queued["type"], "request_queued", "{queued}");
        let place = queued["request"]["position"].clone();
        let request = queued["request"]["id"].clone();
        // The place and the token are kept before the socket's node dies.
        cluster
            .snapshot_where("demo", |_, s| holds_tokens(s, [&student]))
            .await;

        cluster.server(&edge).signal("KILL");
        let mut dead = cluster.take(&edge);
        dead.wait_exit(Duration::from_secs(10)).expect("killed");
        // Within about a lease the owner sees the node gone and parks its connection.
        let parked = poll_until(CLOSE_WITHIN, || {
            cluster
                .server(&owner.node)
                .metrics()
                .contains("konsult_cluster_bridged_connections{side=\"owner\"} 0")
        })
        .await;
        assert!(parked, "the owner still runs the dead node's connection");
        let welcome = student.come_back(&cluster, &[&spare]).await;
        assert_eq!(welcome["resumed"], true, "{welcome}");
        // The request kept its place: the teacher's queue lists it where it was.
        let listed = teacher
            .client
            .request(json!({"type": "list_queue", "subject": "russian"}))
            .await;
        let at = listed["requests"]
            .as_array()
            .expect("requests")
            .iter()
            .position(|r| r["id"] == request);
        assert_eq!(
            at.map(|i| i as i64 + 1),
            place.as_i64(),
            "the request's place: {listed}"
        );
    })
    .await;
}

/// Messages the node has published on the bus so far, heard or not.
fn bus_published(cluster: &Cluster, node: &str) -> f64 {
    cluster
        .server(node)
        .metrics()
        .lines()
        .filter(|line| line.starts_with("konsult_cluster_bus_messages_total"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A bridged client's keepalive stays between the client and the node holding its socket:
/// while everyone is idle nothing crosses the bus, a client that answers pings stays, and one
/// that stops answering is closed there with 4003, its connection on the owner ending with it.
#[tokio::test]
async fn a_bridged_client_s_keepalive_stays_on_the_node_holding_its_socket() {
    bounded(Duration::from_secs(90), async {
        let mut cluster = Cluster::new();
        cluster.env.extend([
            ("KONSULT_LIMITS_PING_AFTER".to_string(), "1s".to_string()),
            ("KONSULT_LIMITS_IDLE_TIMEOUT".to_string(), "3s".to_string()),
        ]);
        cluster.start_nodes(3);
        let owner = cluster.owners(&["demo"]).await["demo"].clone();
        let others = cluster.others(&owner.node);
        let mut answering = Person::demo(&cluster, &others[0], "student1").await;
        let mut silent = Person::demo(&cluster, &others[1], "student2").await;
        let bridged = "konsult_cluster_bridged_connections{side=\"owner\"} 2";
        assert!(cluster.server(&owner.node).metrics().contains(bridged));
        let nodes = cluster.ids();
        let before: f64 = nodes.iter().map(|n| bus_published(&cluster, n)).sum();

        // Two and a half seconds idle: each socket was pinged by the node holding it; the
        // answering client answers, the silent one reads nothing.
        assert_eq!(
            answering
                .client
                .closes_within(Duration::from_millis(2_500))
                .await,
            None
        );
        let after: f64 = nodes.iter().map(|n| bus_published(&cluster, n)).sum();
        assert_eq!(after - before, 0.0, "keepalive frames crossed the bus");

        // Past the idle deadline (3 s), the silent client reads: a ping it never answered,
        // then the close.
        assert_eq!(
            answering.client.closes_within(Duration::from_secs(2)).await,
            None
        );
        assert_eq!(
            silent.client.expect_close(Duration::from_secs(10)).await,
            4003
        );
        assert_eq!(
            answering.client.closes_within(Duration::from_secs(3)).await,
            None
        );
        let ended = poll_until(Duration::from_secs(5), || {
            cluster
                .server(&owner.node)
                .metrics()
                .contains("konsult_cluster_bridged_connections{side=\"owner\"} 1")
        })
        .await;
        assert!(
            ended,
            "the silent client's connection still runs on the owner"
        );
        assert_eq!(
            answering.client.request(json!({"type": "ping"})).await["type"],
            "pong"
        );
    })
    .await;
}
