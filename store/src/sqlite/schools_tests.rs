//! Tests of schools in SQLite: migration 0008 on a database an earlier version filled, and
//! that nothing of one school is reached from another.

use crate::Store;
use crate::records::{Record, RecordFilter, RecordKey};
use crate::threads::NewThread;
use crate::users::{NewUser, UserFilter};
use konsult_protocol::model::{Form, HoursSlot, Mode, Role, ThreadKind};
use konsult_protocol::{AttachmentId, ClientId, RequestId, SchoolId, UserId};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use std::path::PathBuf;

/// A fresh data folder for one test.
fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("konsult-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn new_user(login: &str, role: Role, subjects: &[&str]) -> NewUser {
    NewUser {
        login: login.into(),
        name: format!("Name of {login}"),
        role,
        class: (role == Role::Student).then(|| "9A".to_string()),
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        password_hash: Some("hash".into()),
        external_id: None,
    }
}

async fn count(pool: &sqlx::SqlitePool, table: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM {table}");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(pool)
        .await
        .unwrap()
}

const TABLES: [&str; 12] = [
    "users",
    "subjects",
    "user_subjects",
    "threads",
    "thread_members",
    "messages",
    "attachments",
    "message_attachments",
    "consultations",
    "consultation_students",
    "hours",
    "audit_log",
];

#[tokio::test]
async fn migration_0008_moves_an_earlier_database_into_school_main_and_loses_nothing() {
    let dir = data_dir("migrate-0008");
    crate::private::dir(&dir).unwrap();
    let options = SqliteConnectOptions::new()
        .filename(dir.join(crate::DB_FILE))
        .create_if_missing(true)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone())
        .await
        .unwrap();
    sqlx::migrate!("./migrations")
        .run_to(7, &pool)
        .await
        .unwrap();
    let fill = [
        "INSERT INTO users (id, login, name, role, class, password_hash, external_id, created_at) \
         VALUES (1, 'student1', 'Student', 'student', '9A', 'h', 'ext-1', 1), \
                (2, 'teacher1', 'Teacher', 'teacher', NULL, 'h', NULL, 1), \
                (3, 'psy', 'Psychologist', 'support', NULL, 'h', NULL, 1), \
                (4, 'admin', 'Admin', 'admin', NULL, 'h', NULL, 1)",
        "INSERT INTO subjects (code, name) VALUES ('math', 'Mathematics')",
        "INSERT INTO user_subjects (user_id, subject) VALUES (2, 'math')",
        "INSERT INTO threads (id, kind, title, request_id, session_id, confidential, \
         support_service, created_at, last_at) VALUES \
         (10, 'personal', 'math', 5, 7, 0, 0, 1, 2), (11, 'personal', 'help', 6, NULL, 1, 1, 1, 2)",
        "INSERT INTO thread_members (thread_id, user_id, joined_at) VALUES \
         (10, 1, 1), (10, 2, 1), (11, 1, 1), (11, 3, 1)",
        "INSERT INTO messages (id, thread_id, seq, sender, text, ts, client_id) VALUES \
         (100, 10, 1, 1, 'question', 2, 'c1'), (101, 11, 1, 1, 'private', 2, 'c2')",
        "INSERT INTO attachments (id, sha256, name, content_type, size, uploader, created_at) \
         VALUES ('att1', 'abc', 'a.png', 'image/png', 3, 1, 2)",
        "INSERT INTO message_attachments (message_id, attachment_id, position) \
         VALUES (100, 'att1', 0)",
        "INSERT INTO consultations (id, request_id, session_id, form, mode, subject, topic, \
         staff_id, thread_id, requested_at, outcome, happened_at) VALUES \
         (1, 5, 7, 'individual', 'online', 'math', 'fractions', 2, 10, 1, 'held', 1), \
         (2, NULL, 8, 'group', 'online', 'math', 'review', 2, NULL, 1, 'held', 1)",
        "INSERT INTO consultation_students (consultation_id, user_id) VALUES (1, 1), (2, 1)",
        "INSERT INTO hours (user_id, subject, weekday, start, \"end\", mode) \
         VALUES (2, 'math', 1, '10:00', '11:00', 'online')",
        "INSERT INTO audit_log (ts, actor, action) VALUES (1, 4, 'user.add')",
    ];
    for sql in fill {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .unwrap();
    }
    let mut before = Vec::new();
    for table in TABLES {
        before.push(count(&pool, table).await);
    }
    let links_before = count(&pool, "help_links").await;
    pool.close().await;

    let store = Store::open(&dir).await.unwrap();
    let db = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    for (table, rows) in TABLES.iter().zip(before) {
        assert_eq!(count(&db, table).await, rows, "rows of {table}");
    }
    assert_eq!(count(&db, "help_links").await, links_before);
    let dangling: Vec<(String, i64, String, i64)> = sqlx::query_as("PRAGMA foreign_key_check")
        .fetch_all(&db)
        .await
        .unwrap();
    assert!(dangling.is_empty(), "foreign keys broken: {dangling:?}");
    let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(foreign_keys, 1, "foreign keys are enforced again");

    let schools = store.schools().await.unwrap();
    assert_eq!(schools.len(), 1);
    assert_eq!(
        (schools[0].id, schools[0].code.as_str()),
        (SchoolId(1), "main")
    );
    let main = SchoolId(1);
    let teacher = store
        .user_by_login(main, "TEACHER1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((teacher.id, teacher.school), (UserId(2), main));
    assert_eq!(teacher.subjects, vec!["math".to_string()]);
    let portal = store.user_by_external_id(main, "ext-1").await.unwrap();
    assert_eq!(portal.map(|u| u.id), Some(UserId(1)));
    assert_eq!(store.active_users(main).await.unwrap().len(), 4);
    assert_eq!(
        store.subjects(main).await.unwrap(),
        vec![("math".to_string(), "Mathematics".to_string())]
    );
    assert_eq!(store.all_hours(main).await.unwrap().len(), 1);
    assert_eq!(
        store.help_links(main).await.unwrap().len() as i64,
        links_before
    );
    assert_eq!(store.audit_log(main, None, 10).await.unwrap().len(), 1);
    let records = store
        .records(main, &RecordFilter::default(), 10)
        .await
        .unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].students, vec!["Student".to_string()]);
    let next = store.next_ids(main).await.unwrap();
    assert_eq!((next.request, next.session), (7, 9));
    let threads = store.threads(UserId(1), 10).await.unwrap();
    assert_eq!(threads.len(), 2);
    let standing = store.standing(threads[0].id, UserId(4)).await.unwrap();
    assert!(
        standing.is_some(),
        "the admin still reaches the school's threads"
    );

    // The upserts' conflict targets are the rebuilt table's: a later write of request 5 and
    // of session 8 updates their rows.
    let again = |key| Record {
        key,
        form: Form::Individual,
        mode: Mode::Online,
        subject: "math".into(),
        topic: "again".into(),
        staff: None,
        students: vec![UserId(1)],
        session: None,
        thread: None,
        requested_at_ms: None,
        started_at_ms: None,
        ended_at_ms: Some(9),
        wait_secs: None,
        outcome: "held",
        confidential: false,
    };
    store
        .write_records(
            main,
            None,
            &[
                again(RecordKey::Request(RequestId(5))),
                again(RecordKey::Session(konsult_protocol::SessionId(8))),
            ],
        )
        .await
        .unwrap();
    assert_eq!(count(&db, "consultations").await, 2);

    // The support service's triggers came back: new support staff of the school join its
    // service thread; support staff of another school do not.
    let other = store.create_school("other", "Other", "UTC").await.unwrap();
    let mine = store
        .insert_users(main, &[new_user("psy2", Role::Support, &[])])
        .await
        .unwrap();
    let theirs = store
        .insert_users(other, &[new_user("psy3", Role::Support, &[])])
        .await
        .unwrap();
    let members = store.members(konsult_protocol::ThreadId(11)).await.unwrap();
    assert!(members.contains(&mine[0]), "{members:?}");
    assert!(!members.contains(&theirs[0]), "{members:?}");
    db.close().await;
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_new_database_has_no_school_until_one_is_created() {
    let dir = data_dir("schools-new");
    let store = Store::open(&dir).await.unwrap();
    assert!(store.schools().await.unwrap().is_empty());
    let id = store
        .create_school("Lyceum-2", "Lyceum 2", "Europe/Samara")
        .await
        .unwrap();
    let school = store.school_by_code("lyceum-2").await.unwrap().unwrap();
    assert_eq!(school.id, id);
    assert_eq!(school.code, "lyceum-2", "codes are lower-cased");
    assert_eq!(school.timezone, "Europe/Samara");
    assert_eq!(store.school_by_id(id).await.unwrap(), Some(school));
    assert_eq!(
        store.help_links(id).await.unwrap().len(),
        2,
        "default links"
    );
    let taken = store.create_school("LYCEUM-2", "Again", "UTC").await;
    assert!(
        taken.unwrap_err().to_string().contains("already exists"),
        "a taken code is refused"
    );
    for bad in ["", "has space", "школа", &"x".repeat(33)] {
        assert!(
            store.create_school(bad, "Bad", "UTC").await.is_err(),
            "{bad:?}"
        );
    }
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn nothing_of_one_school_is_reached_from_another() {
    let dir = data_dir("schools-isolation");
    let store = Store::open(&dir).await.unwrap();
    let a = store.create_school("a", "A", "UTC").await.unwrap();
    let b = store.create_school("b", "B", "UTC").await.unwrap();
    let people = |prefix: &str| {
        vec![
            new_user("student", Role::Student, &[]),
            new_user("teacher", Role::Teacher, &["math"]),
            new_user("admin", Role::Admin, &[]),
            NewUser {
                name: format!("Only in {prefix}"),
                ..new_user(&format!("{prefix}-only"), Role::Student, &[])
            },
        ]
    };
    // The same logins in both schools.
    let in_a = store.insert_users(a, &people("a")).await.unwrap();
    let in_b = store.insert_users(b, &people("b")).await.unwrap();
    let (student_a, teacher_a, admin_a) = (in_a[0], in_a[1], in_a[2]);
    let (student_b, teacher_b) = (in_b[0], in_b[1]);
    assert_eq!(
        store.user_by_login(a, "student").await.unwrap().unwrap().id,
        student_a
    );
    assert_eq!(
        store.user_by_login(b, "student").await.unwrap().unwrap().id,
        student_b
    );
    assert_eq!(store.user_by_login(a, "b-only").await.unwrap(), None);
    assert_eq!(
        store
            .existing_logins(a, &["b-only".into(), "a-only".into()])
            .await
            .unwrap(),
        vec!["a-only".to_string()]
    );
    let listed = store
        .list_users(a, &UserFilter::default(), 100)
        .await
        .unwrap();
    assert!(listed.iter().all(|u| u.school == a), "{listed:?}");
    assert_eq!(listed.len(), 4);
    let (directory, _) = store.student_directory(a, None, None, 100).await.unwrap();
    assert!(
        directory.iter().all(|s| in_a.contains(&s.id)),
        "{directory:?}"
    );
    assert_eq!(store.classes(a).await.unwrap(), vec![("9A".to_string(), 2)]);
    assert_eq!(store.class_students(b, "9A").await.unwrap().len(), 2);
    assert_eq!(
        store.subjects_with_staff(a).await.unwrap(),
        vec![("math".to_string(), "math".to_string(), 1)]
    );
    store.upsert_subject(a, "math", "Алгебра").await.unwrap();
    assert_eq!(
        store.subjects(b).await.unwrap()[0].1,
        "math",
        "B's name unchanged"
    );

    store
        .set_hours(
            teacher_a,
            &[HoursSlot {
                subject: "math".into(),
                weekday: 1,
                start: "10:00".into(),
                end: "11:00".into(),
                mode: Mode::Online,
            }],
        )
        .await
        .unwrap();
    assert_eq!(store.all_hours(a).await.unwrap().len(), 1);
    assert!(store.all_hours(b).await.unwrap().is_empty());
    store
        .set_help_links(
            b,
            &[crate::school::HelpLink {
                title: "B".into(),
                url: "https://b".into(),
            }],
        )
        .await
        .unwrap();
    assert_eq!(store.help_links(a).await.unwrap().len(), 2);
    store
        .audit(a, Some(admin_a), "user.add", None, serde_json::json!({}))
        .await
        .unwrap();
    assert_eq!(store.audit_log(a, None, 10).await.unwrap().len(), 1);
    assert!(store.audit_log(b, None, 10).await.unwrap().is_empty());

    // A thread of school B with an attachment: A's admin reaches neither.
    let thread = |members: Vec<UserId>| NewThread {
        kind: ThreadKind::Personal,
        title: "math".into(),
        members,
        class: None,
        request: None,
        session: None,
        created_by: None,
        support_service: false,
        opening: Vec::new(),
    };
    let (thread_b, _) = store
        .create_thread(b, &thread(vec![student_b, teacher_b]))
        .await
        .unwrap();
    let (thread_a, _) = store
        .create_thread(a, &thread(vec![student_a, teacher_a]))
        .await
        .unwrap();
    assert_eq!(store.standing(thread_b, admin_a).await.unwrap(), None);
    assert!(store.standing(thread_a, admin_a).await.unwrap().is_some());
    assert_eq!(
        store
            .personal_thread(a, student_b, teacher_b)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .personal_thread(b, student_b, teacher_b)
            .await
            .unwrap(),
        Some(thread_b)
    );
    let attachment = AttachmentId("att-b".into());
    store
        .insert_attachment(&crate::attachments::NewAttachment {
            id: &attachment,
            sha256: "abc",
            name: "a.txt",
            content_type: "text/plain",
            size: 1,
            uploader: student_b,
        })
        .await
        .unwrap();
    let mut writer = store.message_writer();
    let client_id = ClientId("c1".into());
    writer
        .write(
            &[crate::messages::NewMessage {
                sender: student_b,
                answers_requests: false,
                thread: thread_b,
                client_id: &client_id,
                text: "see",
                attachments: std::slice::from_ref(&attachment),
            }],
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .attachment_access("att-b", admin_a, true)
            .await
            .unwrap(),
        None,
        "A's admin cannot download B's attachment"
    );
    let admin_b = in_b[2];
    assert!(
        store
            .attachment_access("att-b", admin_b, true)
            .await
            .unwrap()
            .is_some(),
        "B's admin can"
    );
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
