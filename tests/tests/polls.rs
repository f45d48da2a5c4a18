//! A poll in a live group session over real WebSockets, end to end: asked by the host, voted on
//! by students (one changing its vote), counted live for the host, closed with the result
//! shown, and kept in the session's thread; and the refusals a student meets.

use konsult_testkit::{Server, ServerOptions, WsClient};
use serde_json::json;

#[tokio::test]
async fn a_poll_is_asked_answered_counted_published_and_kept_in_the_thread() {
    let server = Server::start(ServerOptions::demo());
    let (mut teacher, _) = WsClient::connect_as(&server, "teacher1").await;
    let mut students = Vec::new();
    for n in 1..=3 {
        let (client, welcome) = WsClient::connect_as(&server, &format!("student{n}")).await;
        students.push((client, welcome["user"]["id"].as_i64().expect("id")));
    }
    let invite: Vec<i64> = students.iter().map(|(_, id)| *id).collect();
    let started = teacher
        .request(
            json!({"type": "create_session", "form": "group", "subject": "math",
            "title": "Квадратные уравнения", "invite": invite}),
        )
        .await;
    assert_eq!(started["type"], "session_started", "{started}");
    let session = started["session"]["id"].clone();
    let thread = started["session"]["thread"].as_i64().expect("thread");
    for (client, _) in students.iter_mut() {
        let joined = client
            .request(json!({"type": "join_session", "session": session}))
            .await;
        assert_eq!(joined["type"], "session_started", "{joined}");
    }

    // A student may neither ask a poll nor name a co-host.
    let refused = students[0]
        .0
        .request(
            json!({"type": "create_poll", "session": session, "question": "?",
            "kind": "yes_no"}),
        )
        .await;
    assert_eq!(refused["code"], "forbidden", "{refused}");
    let other = students[1].1;
    let refused = students[0]
        .0
        .request(
            json!({"type": "set_cohost", "session": session, "user": other,
            "cohost": true}),
        )
        .await;
    assert_eq!(refused["code"], "forbidden", "{refused}");

    let asked = teacher
        .request(json!({"type": "create_poll", "session": session,
            "question": "Сколько корней у x² = 4?", "kind": "single",
            "options": ["Один", "Два", "Ни одного"], "anonymous": false}))
        .await;
    assert_eq!(asked["type"], "ok", "{asked}");
    for (client, _) in students.iter_mut() {
        let poll = client.recv_type("poll").await;
        assert_eq!(poll["poll"]["question"], "Сколько корней у x² = 4?");
        assert_eq!(poll["poll"]["options"], json!(["Один", "Два", "Ни одного"]));
        assert_eq!(poll["poll"]["open"], true);
    }
    let poll = 1;
    let votes = [(0, 0), (1, 1), (2, 1), (0, 1)];
    for (who, choice) in votes {
        let ok = students[who]
            .0
            .request(json!({"type": "vote", "session": session, "poll": poll,
                "choices": [choice]}))
            .await;
        assert_eq!(ok["type"], "ok", "{ok}");
    }
    // The first student changed its vote: three voters, all for "Два".
    let (s0, s1, s2) = (students[0].1, students[1].1, students[2].1);
    let counts = teacher
        .recv_where(|m| m["type"] == "poll_counts" && m["counts"] == json!([0, 3, 0]))
        .await;
    assert_eq!(counts["voters"], 3);
    let mut named: Vec<(i64, serde_json::Value)> = counts["votes"]
        .as_array()
        .expect("named votes")
        .iter()
        .map(|v| (v["user"].as_i64().expect("user"), v["choices"].clone()))
        .collect();
    named.sort_by_key(|(u, _)| *u);
    let mut want = vec![(s0, json!([1])), (s1, json!([1])), (s2, json!([1]))];
    want.sort_by_key(|(u, _)| *u);
    assert_eq!(named, want);

    let closed = teacher
        .request(
            json!({"type": "close_poll", "session": session, "poll": poll,
            "publish": true}),
        )
        .await;
    assert_eq!(closed["type"], "ok", "{closed}");
    for (client, _) in students.iter_mut() {
        let result = client.recv_type("poll_closed").await;
        assert_eq!(result["counts"], json!([0, 3, 0]), "{result}");
        assert_eq!(result["voters"], 3);
        // No student ever got the live counts.
        assert!(
            !client.pending().iter().any(|m| m["type"] == "poll_counts"),
            "a student got poll_counts"
        );
    }
    let late = students[2]
        .0
        .request(json!({"type": "vote", "session": session, "poll": poll, "choices": [0]}))
        .await;
    assert_eq!(late["code"], "conflict", "{late}");

    // The thread keeps the result, for the offline form of the lesson.
    let pushed = students[0]
        .0
        .recv_where(|m| m["type"] == "message" && m["message"]["thread"] == json!(thread))
        .await;
    let text = pushed["message"]["text"]
        .as_str()
        .expect("text")
        .to_string();
    assert!(text.contains("Сколько корней у x² = 4?"), "{text}");
    assert!(text.contains("Два: 3"), "{text}");
    let history = students[1].0.whole_history(thread, 50).await;
    assert!(
        history.iter().any(|m| m["text"] == json!(text)),
        "the result is in the thread's history: {history:?}"
    );
}
