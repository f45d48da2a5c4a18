//! Threads: read receipts and typing, a deferred request answered by the first staff reply,
//! who may create which thread and who may read it.

use super::*;

#[tokio::test]
async fn threads_read_receipts_and_typing() {
    let server = Server::start(ServerOptions::demo());
    let (mut teacher, wt) = WsClient::connect_as(&server, "teacher1").await;
    let (mut s1, w1) = WsClient::connect_as(&server, "student1").await;
    let (mut outsider, _) = WsClient::connect_as(&server, "student9").await;
    let thread = group_thread(&mut teacher, "Физика", &[id_of(&w1)]).await;
    for n in 1..=3 {
        send(&mut teacher, thread, &format!("t-{n}"), "Задание").await;
    }
    let listed = s1.request(json!({"type": "threads"})).await;
    let mine = listed["threads"]
        .as_array()
        .expect("threads")
        .iter()
        .find(|t| t["id"] == thread)
        .expect("the thread is listed")
        .clone();
    assert_eq!(mine["kind"], "group");
    assert_eq!(mine["title"], "Физика");
    assert_eq!(
        (mine["last_seq"].clone(), mine["read_seq"].clone()),
        (json!(3), json!(0))
    );
    assert_eq!(mine["unread"], 3);

    let ok = s1
        .request(json!({"type": "read", "thread": thread, "seq": 2}))
        .await;
    assert_eq!(ok["type"], "ok", "{ok}");
    let receipt = teacher.recv_type("read_receipt").await;
    assert_eq!(
        receipt,
        json!({"type": "read_receipt", "thread": thread,
                               "user": id_of(&w1), "seq": 2})
    );
    // A mark never moves back, and a mark past the end stops at the newest message.
    s1.request(json!({"type": "read", "thread": thread, "seq": 1}))
        .await;
    s1.request(json!({"type": "read", "thread": thread, "seq": 99}))
        .await;
    let receipt = teacher.recv_type("read_receipt").await;
    assert_eq!(receipt["seq"], 3);
    let listed = s1.request(json!({"type": "threads"})).await;
    let mine = &listed["threads"][0];
    assert_eq!(
        (mine["read_seq"].clone(), mine["unread"].clone()),
        (json!(3), json!(0))
    );
    let teacher_view = teacher.request(json!({"type": "threads"})).await;
    assert_eq!(
        teacher_view["threads"][0]["unread"], 0,
        "the sender read their own messages"
    );
    let refused = outsider
        .request(json!({"type": "read", "thread": thread, "seq": 1}))
        .await;
    assert_eq!(refused["code"], "not_found");

    // Typing: forwarded to the other online members, at most once per 2 s.
    s1.send_json(&json!({"type": "typing", "thread": thread}))
        .await;
    let typing = teacher.recv_type("typing").await;
    assert_eq!(
        typing,
        json!({"type": "typing", "thread": thread, "user": id_of(&w1)})
    );
    s1.send_json(&json!({"type": "typing", "thread": thread}))
        .await;
    assert!(
        !teacher
            .sees_within(Duration::from_millis(700), |m| m["type"] == "typing")
            .await
    );
    assert!(
        !s1.sees_within(Duration::from_millis(100), |m| m["type"] == "typing")
            .await,
        "nobody is told of their own typing"
    );
    tokio::time::sleep(Duration::from_millis(1_400)).await;
    teacher
        .send_json(&json!({"type": "typing", "thread": thread}))
        .await;
    let typing = s1.recv_type("typing").await;
    assert_eq!(typing["user"], id_of(&wt));
    let refused = outsider
        .request(json!({"type": "typing", "thread": thread}))
        .await;
    assert_eq!(refused["code"], "not_found");
}

#[tokio::test]
async fn a_deferred_request_is_answered_by_the_first_staff_reply() {
    let server = Server::start(ServerOptions::demo());
    let (mut student, ws) = WsClient::connect_as(&server, "student3").await;
    let reply = student
        .request(
            json!({"type": "request_help", "subject": "physics", "form": "individual",
                        "mode": "offline", "topic": "Закон Ома"}),
        )
        .await;
    assert_eq!(reply["type"], "ok", "{reply}");
    let deferred = student.recv_type("request_deferred").await;
    let thread = deferred["thread"].as_i64().expect("thread");
    let request = deferred["request"]["id"].clone();
    student.recv_type("thread_added").await;
    let asked = send(&mut student, thread, "q-1", "Не понимаю задачу 3").await;
    assert_eq!(asked["type"], "sent");
    assert!(
        !student
            .sees_within(Duration::from_millis(300), |m| m["type"]
                == "request_answered")
            .await,
        "the student's own message answers nothing"
    );

    let (mut teacher, wt) = WsClient::connect_as(&server, "teacher1").await;
    let listed = teacher.request(json!({"type": "threads"})).await;
    let summary = listed["threads"]
        .as_array()
        .expect("threads")
        .iter()
        .find(|t| t["id"] == thread)
        .expect("the physics teacher is in the thread")
        .clone();
    assert_eq!(summary["request"], request);
    assert_eq!(summary["answered"], false);
    // The question the request was made with, then the student's message.
    assert_eq!(summary["unread"], 2);
    let history = teacher
        .request(json!({"type": "history", "thread": thread}))
        .await;
    assert_eq!(history["messages"][0]["text"], "Закон Ома");
    assert_eq!(history["messages"][0]["from"], id_of(&ws));
    assert_eq!(history["messages"][1]["text"], "Не понимаю задачу 3");

    let answer = send(&mut teacher, thread, "a-1", "Смотри: I = U / R").await;
    assert_eq!(answer["type"], "sent");
    let pushed = student.recv_type("message").await;
    assert_eq!(pushed["message"]["from"], id_of(&wt));
    let answered = student.recv_type("request_answered").await;
    assert_eq!(
        answered,
        json!({"type": "request_answered", "request": request, "thread": thread, "by": id_of(&wt)})
    );
    send(&mut teacher, thread, "a-2", "Ещё пример").await;
    assert!(
        !student
            .sees_within(Duration::from_millis(500), |m| m["type"]
                == "request_answered"
                && m != &answered)
            .await,
        "only the first reply answers"
    );
    let listed = student.request(json!({"type": "threads"})).await;
    let summary = listed["threads"]
        .as_array()
        .expect("threads")
        .iter()
        .find(|t| t["id"] == thread)
        .expect("listed")
        .clone();
    assert_eq!(summary["answered"], true);
    assert_eq!(summary["unread"], 2);
    drop(ws);
}

#[tokio::test]
async fn who_may_create_which_thread() {
    let server = Server::start(ServerOptions::demo());
    let (mut student, ws) = WsClient::connect_as(&server, "student1").await;
    let (mut teacher, wt) = WsClient::connect_as(&server, "teacher1").await;
    let (_, w2) = WsClient::connect_as(&server, "student2").await;

    let group = student
        .request(
            json!({"type": "create_thread", "kind": "group", "title": "Наш чат",
                        "members": [id_of(&w2)]}),
        )
        .await;
    assert_eq!(group["code"], "forbidden", "{group}");
    let with_student = student
        .request(
            json!({"type": "create_thread", "kind": "personal", "title": "",
                        "members": [id_of(&w2)]}),
        )
        .await;
    assert_eq!(with_student["code"], "forbidden");

    let personal = student
        .request(
            json!({"type": "create_thread", "kind": "personal", "title": "",
                        "members": [id_of(&wt)]}),
        )
        .await;
    assert_eq!(personal["type"], "thread_added", "{personal}");
    assert_eq!(personal["thread"]["kind"], "personal");
    let pushed = teacher.recv_type("thread_added").await;
    assert_eq!(pushed["thread"]["id"], personal["thread"]["id"]);
    let again = teacher
        .request(
            json!({"type": "create_thread", "kind": "personal", "title": "",
                        "members": [id_of(&ws)]}),
        )
        .await;
    assert_eq!(
        again["thread"]["id"], personal["thread"]["id"],
        "the pair's thread is reused"
    );
    assert!(
        !student
            .sees_within(Duration::from_millis(300), |m| m["type"] == "thread_added")
            .await,
        "the creator's own connection gets the reply only"
    );

    let class = teacher
        .request(
            json!({"type": "create_thread", "kind": "class", "title": "9А: физика",
                        "class": "9A"}),
        )
        .await;
    assert_eq!(class["type"], "thread_added", "{class}");
    assert_eq!(class["thread"]["kind"], "class");
    let added = student.recv_type("thread_added").await;
    assert_eq!(added["thread"]["id"], class["thread"]["id"]);
    let no_class = teacher
        .request(json!({"type": "create_thread", "kind": "class", "title": "x", "class": "11Z"}))
        .await;
    assert_eq!(no_class["code"], "not_found");
    let nobody = teacher
        .request(
            json!({"type": "create_thread", "kind": "group", "title": "x",
                        "members": [987_654]}),
        )
        .await;
    assert_eq!(nobody["code"], "not_found");
    let untitled = teacher
        .request(
            json!({"type": "create_thread", "kind": "group", "title": " ",
                        "members": [id_of(&ws)]}),
        )
        .await;
    assert_eq!(untitled["code"], "bad_request");
}

#[tokio::test]
async fn admins_read_ordinary_threads_but_never_confidential_ones() {
    let server = Server::start(ServerOptions::demo());
    let (mut student, ws) = WsClient::connect_as(&server, "student1").await;
    let (mut teacher, wt) = WsClient::connect_as(&server, "teacher1").await;
    let (mut psychologist, wp) = WsClient::connect_as(&server, "psychologist1").await;
    let (mut admin, _) = WsClient::connect_as(&server, "admin").await;

    let ordinary = teacher
        .request(
            json!({"type": "create_thread", "kind": "personal", "title": "",
                        "members": [id_of(&ws)]}),
        )
        .await["thread"]["id"]
        .as_i64()
        .expect("thread");
    send(&mut teacher, ordinary, "t-1", "Домашнее задание").await;
    let confidential = student
        .request(
            json!({"type": "create_thread", "kind": "personal", "title": "",
                        "members": [id_of(&wp)]}),
        )
        .await["thread"]["id"]
        .as_i64()
        .expect("thread");
    send(
        &mut student,
        confidential,
        "s-1",
        "Мне тревожно перед экзаменом",
    )
    .await;
    psychologist.recv_type("message").await;

    let seen = admin
        .request(json!({"type": "history", "thread": ordinary}))
        .await;
    assert_eq!(seen["type"], "history", "{seen}");
    assert_eq!(seen["messages"][0]["text"], "Домашнее задание");
    let hidden = admin
        .request(json!({"type": "history", "thread": confidential}))
        .await;
    assert_eq!(hidden["code"], "not_found", "{hidden}");
    assert!(!hidden.to_string().contains("тревожно"));
    let teacher_too = teacher
        .request(json!({"type": "history", "thread": confidential}))
        .await;
    assert_eq!(teacher_too["code"], "not_found");
    // Reading is not writing: admins post only where they are members.
    let write = send(&mut admin, ordinary, "a-1", "admin here").await;
    assert_eq!(write["code"], "not_found");

    // Nor the files of a confidential thread.
    let token = server.login("student1", "demo");
    let up = upload(&server, &token, "note.pdf", PDF);
    assert_eq!(up.status, 201, "{}", up.text());
    let id = up.json()["id"].as_str().expect("id").to_string();
    let sent = student
        .request(
            json!({"type": "send", "thread": confidential, "client_id": "s-2",
                        "text": "", "attachments": [id]}),
        )
        .await;
    assert_eq!(sent["type"], "sent", "{sent}");
    let admin_token = server.login("admin", "demo");
    assert_eq!(download(&server, &admin_token, &id).status, 404);
    let psychologist_token = server.login("psychologist1", "demo");
    assert_eq!(download(&server, &psychologist_token, &id).status, 200);
    drop(wt);
}
