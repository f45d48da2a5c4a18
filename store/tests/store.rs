//! The store's behaviour, the same on every backend: accounts and the directory's search,
//! threads and the support service, the chat's guarantees under concurrent senders, the
//! consultation record, the audit log, revoked tokens, hub snapshots fenced by school epochs, and
//! which failures are transient.

mod backend;

use backend::{Kind, TestStore};
use konsult_protocol::model::{Form, Mode, Role, ThreadKind};
use konsult_protocol::{AttachmentId, ClientId, RequestId, SchoolId, SessionId, ThreadId, UserId};
use konsult_store::anonymous::NewAnonymous;
use konsult_store::attachments::NewAttachment;
use konsult_store::messages::{NewMessage, Page, Refusal, SendOutcome};
use konsult_store::records::{NextIds, Record, RecordFilter, RecordKey};
use konsult_store::threads::NewThread;
use konsult_store::users::{NewUser, UserFilter};
use konsult_store::{Store, StoreError, Transient, now_ms};

on_both! {
    logins_are_unique_whatever_their_case,
    the_directory_folds_cyrillic_case_and_yo,
    concurrent_senders_get_gap_free_seqs_and_retries_find_the_original,
    a_batch_is_stored_in_one_commit,
    refused_sends_store_nothing,
    support_staff_join_the_service_and_admins_leave_it,
    a_second_write_of_a_record_key_updates_it,
    the_audit_log_is_append_only,
    revoked_tokens_are_kept_until_they_expire,
    schools_keep_their_people_apart,
    old_rows_are_purged_in_batches,
    hub_snapshots_keep_the_latest_of_each_school,
    school_epochs_only_grow_and_fence_older_saves,
    a_save_racing_a_claim_lands_before_it_or_is_refused,
    chat_writes_carry_the_epoch_and_a_stale_one_stores_nothing,
    record_writes_carry_the_epoch_and_a_stale_one_stores_nothing,
    anonymous_identities_are_sealed_unlisted_and_blocked_by_owner,
}

/// The school a test's rows belong to.
async fn main_school(store: &Store) -> SchoolId {
    store
        .create_school("main", "Main", "Europe/Moscow")
        .await
        .expect("school")
}

fn user(login: &str, name: &str, role: Role, class: Option<&str>) -> NewUser {
    NewUser {
        login: login.into(),
        name: name.into(),
        role,
        class: class.map(String::from),
        subjects: if role == Role::Teacher {
            vec!["math".into()]
        } else {
            Vec::new()
        },
        password_hash: None,
        external_id: None,
    }
}

fn thread(members: &[UserId], support_service: bool) -> NewThread {
    NewThread {
        kind: ThreadKind::Group,
        title: "t".into(),
        members: members.to_vec(),
        class: None,
        request: None,
        session: None,
        created_by: None,
        support_service,
        opening: Vec::new(),
    }
}

async fn logins_are_unique_whatever_their_case(db: TestStore) {
    let store = &db.store;
    let school = main_school(store).await;
    let ids = store
        .insert_users(school, &[user("Anna", "Анна", Role::Teacher, None)])
        .await
        .expect("insert");
    let found = store
        .user_by_login(school, "aNNA")
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(found.id, ids[0]);
    assert_eq!(found.subjects, vec!["math".to_string()]);
    let again = store
        .insert_users(school, &[user("ANNA", "Другая", Role::Student, None)])
        .await;
    assert!(again.is_err(), "a login differing only in case is refused");
    assert_eq!(
        store
            .existing_logins(school, &["anna".into(), "boris".into()])
            .await
            .expect("existing"),
        vec!["Anna".to_string()]
    );
    let created = store
        .insert_users_if_missing(
            school,
            &[
                user("anna", "Анна", Role::Teacher, None),
                user("boris", "Борис", Role::Student, Some("7А")),
            ],
        )
        .await
        .expect("if missing");
    assert_eq!(created, 1);
    assert!(!store.has_admin(school).await.expect("has admin"));
    assert_eq!(store.active_users(school).await.expect("active").len(), 2);
    db.finish().await;
}

async fn the_directory_folds_cyrillic_case_and_yo(db: TestStore) {
    let store = &db.store;
    let school = main_school(store).await;
    store
        .insert_users(
            school,
            &[
                user("s1", "Ёлкина Мария", Role::Student, Some("7А")),
                user("s2", "Елисеев Пётр", Role::Student, Some("7Б")),
                user("s3", "Смирнов Иван", Role::Student, Some("7А")),
                user("t1", "Ёжиков Олег", Role::Teacher, None),
            ],
        )
        .await
        .expect("insert");
    let names = |found: Vec<konsult_store::users::DirectoryStudent>| {
        found.into_iter().map(|s| s.name).collect::<Vec<_>>()
    };
    let (found, more) = store
        .student_directory(school, None, Some("ЕЛК"), 10)
        .await
        .expect("search");
    assert_eq!(names(found), vec!["Ёлкина Мария"]);
    assert!(!more);
    let (found, _) = store
        .student_directory(school, None, Some("петр"), 10)
        .await
        .expect("search");
    assert_eq!(
        names(found),
        vec!["Елисеев Пётр"],
        "ё in a name matches е typed"
    );
    let (found, more) = store
        .student_directory(school, Some("7А"), None, 1)
        .await
        .expect("class");
    assert_eq!(names(found), vec!["Ёлкина Мария"]);
    assert!(more, "a second student of 7А is left over");
    let listed = store
        .list_users(
            school,
            &UserFilter {
                q: Some("ИВАН".into()),
                ..UserFilter::default()
            },
            10,
        )
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        store.classes(school).await.expect("classes"),
        vec![("7А".to_string(), 2), ("7Б".to_string(), 1)]
    );
    db.finish().await;
}

/// Every sender's sends, each on a writer of its own, all at once into one thread.
async fn concurrent_senders_get_gap_free_seqs_and_retries_find_the_original(db: TestStore) {
    const SENDERS: usize = 8;
    const EACH: usize = 25;
    let store = &db.store;
    let school = main_school(store).await;
    let people: Vec<NewUser> = (0..SENDERS)
        .map(|i| user(&format!("u{i}"), &format!("User {i}"), Role::Student, None))
        .collect();
    let ids = store.insert_users(school, &people).await.expect("users");
    let (thread_id, _) = store
        .create_thread(school, &thread(&ids, false))
        .await
        .expect("thread");

    let mut tasks = Vec::new();
    for (i, sender) in ids.iter().copied().enumerate() {
        let store: Store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut writer = store.message_writer();
            let mut stored = Vec::new();
            for n in 0..EACH {
                let client_id = ClientId(format!("c{i}-{n}"));
                let text = format!("{i}:{n}");
                let send = NewMessage {
                    sender,
                    answers_requests: false,
                    thread: thread_id,
                    client_id: &client_id,
                    text: &text,
                    attachments: &[],
                };
                // Every fifth send goes twice in one batch: the second is the first's retry.
                let batch = if n % 5 == 0 {
                    vec![send, send]
                } else {
                    vec![send]
                };
                let outcomes = writer.write(&batch, &[]).await.expect("write");
                let SendOutcome::Stored { message, .. } = &outcomes[0] else {
                    panic!("first send not stored: {outcomes:?}");
                };
                if let Some(SendOutcome::Duplicate(original)) = outcomes.get(1) {
                    assert_eq!(original.id, message.id, "a retry returns the original");
                } else if batch.len() == 2 {
                    panic!("the retry in the same batch was not a duplicate: {outcomes:?}");
                }
                stored.push(message.clone());
                // A retry in a later batch finds the original too.
                let again = writer.write(&[send], &[]).await.expect("retry");
                match &again[0] {
                    SendOutcome::Duplicate(original) => {
                        assert_eq!(original.id, message.id);
                        assert_eq!(original.seq, message.seq);
                    }
                    other => panic!("a retry was stored again: {other:?}"),
                }
            }
            stored
        }));
    }
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.extend(task.await.expect("sender").into_iter().map(|m| m.seq));
    }
    seqs.sort_unstable();
    let expected: Vec<i64> = (1..=(SENDERS * EACH) as i64).collect();
    assert_eq!(seqs, expected, "seqs are gap-free from 1 and never repeat");
    let (history, more) = store
        .history(thread_id, Page::Latest, 1_000)
        .await
        .expect("history");
    assert!(!more);
    assert_eq!(history.len(), SENDERS * EACH, "each send stored once");
    let summary = store
        .summary(ids[0], thread_id)
        .await
        .expect("summary")
        .expect("member");
    assert_eq!(summary.last_seq, (SENDERS * EACH) as i64);
    db.finish().await;
}

async fn a_batch_is_stored_in_one_commit(db: TestStore) {
    let store = &db.store;
    let school = main_school(store).await;
    let ids = store
        .insert_users(
            school,
            &[
                user("a", "A", Role::Student, None),
                user("b", "B", Role::Teacher, None),
            ],
        )
        .await
        .expect("users");
    let (first, _) = store
        .create_thread(school, &thread(&ids, false))
        .await
        .expect("thread");
    let (second, _) = store
        .create_thread(school, &thread(&ids, false))
        .await
        .expect("thread");
    let client_ids: Vec<ClientId> = (0..40).map(|n| ClientId(format!("b{n}"))).collect();
    let batch: Vec<NewMessage> = client_ids
        .iter()
        .enumerate()
        .map(|(n, client_id)| NewMessage {
            sender: ids[n % 2],
            answers_requests: n % 2 == 1,
            thread: if n % 3 == 0 { first } else { second },
            client_id,
            text: "hello",
            attachments: &[],
        })
        .collect();
    let outcomes = store
        .message_writer()
        .write(&batch, &[])
        .await
        .expect("write");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, SendOutcome::Stored { .. }))
    );
    for thread in [first, second] {
        let seqs: Vec<i64> = outcomes
            .iter()
            .filter_map(|o| match o {
                SendOutcome::Stored { message, .. } if message.thread == thread => {
                    Some(message.seq)
                }
                _ => None,
            })
            .collect();
        let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
        assert_eq!(seqs, expected, "in batch order, gap-free");
    }
    if db.kind == Kind::Postgres {
        // Every row of the batch was written by one transaction: one commit for all senders.
        let transactions = db
            .scalar_raw("SELECT count(DISTINCT xmin::TEXT) FROM messages")
            .await;
        assert_eq!(transactions, 1);
    }
    assert_eq!(db.scalar_raw("SELECT count(*) FROM messages").await, 40);
    db.finish().await;
}

async fn refused_sends_store_nothing(db: TestStore) {
    let store = &db.store;
    let school = main_school(store).await;
    let ids = store
        .insert_users(
            school,
            &[
                user("a", "A", Role::Student, None),
                user("b", "B", Role::Student, None),
                user("c", "C", Role::Student, None),
            ],
        )
        .await
        .expect("users");
    let (first, _) = store
        .create_thread(school, &thread(&ids[..2], false))
        .await
        .expect("thread");
    let (second, _) = store
        .create_thread(school, &thread(&ids[..2], false))
        .await
        .expect("thread");
    let reused = ClientId("same".into());
    let outsider = ClientId("outsider".into());
    let mut writer = store.message_writer();
    let send = |thread: ThreadId, sender: UserId, client_id| NewMessage {
        sender,
        answers_requests: false,
        thread,
        client_id,
        text: "x",
        attachments: &[],
    };
    let outcomes = writer
        .write(
            &[send(first, ids[0], &reused), send(first, ids[2], &outsider)],
            &[],
        )
        .await
        .expect("write");
    assert!(matches!(outcomes[0], SendOutcome::Stored { .. }));
    assert!(matches!(&outcomes[1], SendOutcome::Refused(Refusal::NoThread(t)) if *t == first));
    let outcomes = writer
        .write(&[send(second, ids[0], &reused)], &[])
        .await
        .expect("write");
    assert!(matches!(
        &outcomes[0],
        SendOutcome::Refused(Refusal::ClientIdReused)
    ));
    assert_eq!(db.scalar_raw("SELECT count(*) FROM messages").await, 1);
    db.finish().await;
}

async fn support_staff_join_the_service_and_admins_leave_it(db: TestStore) {
    let store = &db.store;
    let school = main_school(store).await;
    let ids = store
        .insert_users(
            school,
            &[
                user("student", "S", Role::Student, None),
                user("psych", "P", Role::Support, None),
            ],
        )
        .await
        .expect("users");
    let (service, _) = store
        .create_thread(school, &thread(&ids[..1], true))
        .await
        .expect("thread");
    assert_eq!(store.members(service).await.expect("members"), ids);
    let later = store
        .insert_users(school, &[user("psych2", "P2", Role::Support, None)])
        .await
        .expect("later")[0];
    let standing = store
        .standing(service, later)
        .await
        .expect("standing")
        .expect("thread");
    assert!(
        standing.member,
        "support staff created later joins the service"
    );
    assert!(standing.confidential && standing.support_service);
    assert!(!standing.may_read(Role::Admin));
    db.execute_raw(&format!(
        "UPDATE users SET role = 'admin' WHERE id = {}",
        later.0
    ))
    .await
    .expect("make admin");
    let standing = store
        .standing(service, later)
        .await
        .expect("standing")
        .expect("thread");
    assert!(
        !standing.member,
        "an administrator leaves the service's threads"
    );
    db.finish().await;
}

fn record(key: RecordKey, outcome: &'static str) -> Record {
    Record {
        key,
        form: Form::Individual,
        mode: Mode::Online,
        subject: "math".into(),
        topic: "fractions".into(),
        staff: None,
        students: Vec::new(),
        session: None,
        thread: None,
        requested_at_ms: None,
        started_at_ms: None,
        ended_at_ms: None,
        wait_secs: None,
        outcome,
        confidential: false,
    }
}

async fn a_second_write_of_a_record_key_updates_it(db: TestStore) {
    let store = &db.store;
    let school = main_school(store).await;
    let request = RecordKey::Request(RequestId(4));
    let session = RecordKey::Session(SessionId(9));
    let asked = Record {
        requested_at_ms: Some(1_000),
        session: Some(SessionId(7)),
        ..record(request, "in_progress")
    };
    let held = Record {
        started_at_ms: Some(2_000),
        ended_at_ms: Some(5_000),
        ..record(request, "held")
    };
    let started = Record {
        session: Some(SessionId(9)),
        started_at_ms: Some(3_000),
        ..record(session, "in_progress")
    };
    let ended = Record {
        session: Some(SessionId(9)),
        ended_at_ms: Some(4_000),
        ..record(session, "held")
    };
    store
        .write_records(school, None, &[asked, started])
        .await
        .expect("write");
    store
        .write_records(school, None, &[held, ended])
        .await
        .expect("write");
    let rows = store
        .records(school, &RecordFilter::default(), 10)
        .await
        .expect("records");
    assert_eq!(rows.len(), 2, "one record per key: {rows:?}");
    assert_eq!(rows[0].requested_at, Some(1_000));
    assert_eq!(rows[0].started_at, Some(2_000));
    assert_eq!(rows[0].ended_at, Some(5_000));
    assert_eq!(rows[0].outcome, "held");
    assert_eq!(rows[1].started_at, Some(3_000));
    assert_eq!(rows[1].ended_at, Some(4_000));
    assert_eq!(
        store.next_ids(school).await.expect("next ids"),
        NextIds {
            request: 5,
            session: 10
        }
    );
    db.finish().await;
}

async fn the_audit_log_is_append_only(db: TestStore) {
    let store = &db.store;
    let school = main_school(store).await;
    store
        .audit(
            school,
            None,
            "user.create",
            Some("anna"),
            serde_json::json!({"role": "teacher"}),
        )
        .await
        .expect("audit");
    let log = store.audit_log(school, None, 10).await.expect("log");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].details["role"], "teacher");
    let update = db
        .execute_raw("UPDATE audit_log SET action = 'forged'")
        .await;
    assert!(update.is_err(), "an audit entry cannot be changed");
    let delete = db.execute_raw("DELETE FROM audit_log").await;
    assert!(delete.is_err(), "an audit entry cannot be deleted");
    assert_eq!(
        store.audit_log(school, None, 10).await.expect("log")[0].action,
        "user.create"
    );
    db.finish().await;
}

async fn revoked_tokens_are_kept_until_they_expire(db: TestStore) {
    let store = &db.store;
    store.revoke_token("old", 100, 50).await.expect("revoke");
    store.revoke_token("new", 1_000, 50).await.expect("revoke");
    store
        .revoke_token("new", 2_000, 50)
        .await
        .expect("revoke again");
    // Revoking at 500 sweeps what expired before it.
    store
        .revoke_token("third", 3_000, 500)
        .await
        .expect("revoke");
    let mut kept = store.revoked_tokens(500).await.expect("kept");
    kept.sort();
    assert_eq!(
        kept,
        vec![("new".to_string(), 2_000), ("third".to_string(), 3_000)]
    );
    db.finish().await;
}

async fn schools_keep_their_people_apart(db: TestStore) {
    let store = &db.store;
    let north = main_school(store).await;
    let south = store
        .create_school("South", "South", "Asia/Yekaterinburg")
        .await
        .expect("school");
    assert!(
        store.create_school("MAIN", "Again", "UTC").await.is_err(),
        "a code is taken whatever its case"
    );
    assert_eq!(
        store
            .school_by_code("SOUTH")
            .await
            .expect("by code")
            .map(|s| s.id),
        Some(south)
    );
    let schools: Vec<String> = store
        .schools()
        .await
        .expect("schools")
        .into_iter()
        .map(|s| s.code)
        .collect();
    assert_eq!(schools, vec!["main".to_string(), "south".to_string()]);
    let north_people = store
        .insert_users(
            north,
            &[
                user("anna", "Анна", Role::Student, Some("7А")),
                user("admin", "Админ", Role::Admin, None),
            ],
        )
        .await
        .expect("north");
    // The same login in another school is another account.
    let south_people = store
        .insert_users(
            south,
            &[
                user("anna", "Анна Юг", Role::Student, Some("7А")),
                user("psych", "Психолог", Role::Support, None),
                user("admin", "Админ Юг", Role::Admin, None),
            ],
        )
        .await
        .expect("south");
    let found = store
        .user_by_login(south, "ANNA")
        .await
        .expect("login")
        .expect("found");
    assert_eq!((found.id, found.school), (south_people[0], south));
    assert_eq!(
        store.class_students(north, "7А").await.expect("class"),
        vec![north_people[0]]
    );
    assert_eq!(store.help_links(south).await.expect("links").len(), 2);
    let (north_thread, _) = store
        .create_thread(north, &thread(&north_people[..1], true))
        .await
        .expect("thread");
    assert_eq!(
        store.members(north_thread).await.expect("members"),
        vec![north_people[0]],
        "the other school's support staff is not in this school's service"
    );
    let (open_thread, _) = store
        .create_thread(north, &thread(&north_people[..1], false))
        .await
        .expect("thread");
    let north_admin = store
        .standing(open_thread, north_people[1])
        .await
        .expect("standing")
        .expect("seen");
    assert!(north_admin.may_read(Role::Admin));
    assert_eq!(
        store
            .standing(open_thread, south_people[2])
            .await
            .expect("standing"),
        None,
        "another school's admin does not see the thread"
    );
    store
        .audit(north, None, "north.only", None, serde_json::json!({}))
        .await
        .expect("audit");
    assert!(
        store
            .audit_log(south, None, 10)
            .await
            .expect("log")
            .is_empty()
    );
    assert_eq!(store.next_ids(south).await.expect("ids").request, 1);
    db.finish().await;
}

/// The failures PostgreSQL reports for a transaction given up for another's sake are
/// transient (the write is tried again); a constraint violation is not.
#[tokio::test]
async fn postgres_serialization_failures_and_deadlocks_are_transient() {
    let db = TestStore::open(Kind::Postgres).await;
    let raise = |sqlstate: &str| {
        format!("DO $$ BEGIN RAISE EXCEPTION 'test' USING ERRCODE = '{sqlstate}'; END $$")
    };
    for (sqlstate, transient) in [
        ("40001", true),
        ("40P01", true),
        ("57P01", true),
        ("23505", false),
        ("42601", false),
    ] {
        let e = db.execute_raw(&raise(sqlstate)).await.expect_err("raised");
        assert_eq!(
            StoreError::Db(e).is_transient(),
            transient,
            "SQLSTATE {sqlstate}"
        );
    }
    let unreachable = Store::open_url("postgres://postgres@127.0.0.1:1/none").await;
    match unreachable {
        Err(e) => assert!(e.is_transient(), "a refused connection is transient: {e}"),
        Ok(_) => panic!("connected to port 1"),
    }
    assert!(matches!(
        Store::open_url("mysql://x@y/z").await,
        Err(StoreError::Invalid(_))
    ));
    db.finish().await;
}

async fn old_rows_are_purged_in_batches(db: TestStore) {
    let store = &db.store;
    let school = main_school(store).await;
    let ids = store
        .insert_users(school, &[user("t", "T", Role::Teacher, None)])
        .await
        .expect("users");
    let (thread_id, _) = store
        .create_thread(school, &thread(&ids, false))
        .await
        .expect("thread");
    // Two uploads of the same content share a file; a third has its own.
    let uploads: Vec<(AttachmentId, &str)> = vec![
        (AttachmentId("a1".into()), "same"),
        (AttachmentId("a2".into()), "same"),
        (AttachmentId("a3".into()), "other"),
    ];
    for (id, sha256) in &uploads {
        store
            .insert_attachment(&NewAttachment {
                id,
                sha256,
                name: "f.pdf",
                content_type: "application/pdf",
                size: 1,
                uploader: ids[0],
            })
            .await
            .expect("attachment");
    }
    let client_ids: Vec<ClientId> = (0..25).map(|n| ClientId(format!("p{n}"))).collect();
    let first = [uploads[0].0.clone()];
    let batch: Vec<NewMessage> = client_ids
        .iter()
        .enumerate()
        .map(|(n, client_id)| NewMessage {
            sender: ids[0],
            answers_requests: false,
            thread: thread_id,
            client_id,
            text: "old",
            attachments: if n == 0 { &first[..] } else { &[] },
        })
        .collect();
    store
        .message_writer()
        .write(&batch, &[])
        .await
        .expect("write");

    let past = now_ms() - 60_000;
    assert_eq!(store.old_messages(past).await.expect("count"), 0);
    assert_eq!(store.purge_messages(past, 10).await.expect("purge"), 0);
    let cutoff = now_ms() + 1_000;
    assert_eq!(store.old_messages(cutoff).await.expect("count"), 25);
    assert_eq!(
        store.unreferenced_attachments(cutoff).await.expect("count"),
        2,
        "a1 is still sent"
    );
    let mut batches = Vec::new();
    loop {
        let deleted = store.purge_messages(cutoff, 10).await.expect("purge");
        if deleted == 0 {
            break;
        }
        batches.push(deleted);
    }
    assert_eq!(batches, [10, 10, 5]);
    assert_eq!(store.old_messages(cutoff).await.expect("count"), 0);
    assert_eq!(
        store.unreferenced_attachments(cutoff).await.expect("count"),
        3
    );
    let mut deleted = Vec::new();
    let mut orphaned = Vec::new();
    loop {
        let rows = store.purge_attachments(cutoff, 2).await.expect("purge");
        if rows.attachments == 0 {
            break;
        }
        deleted.push(rows.attachments);
        orphaned.extend(rows.orphaned);
    }
    assert_eq!(deleted, [2, 1]);
    orphaned.sort();
    assert_eq!(
        orphaned,
        ["other", "same"],
        "each file once, when its last row went"
    );
    for (id, _) in &uploads {
        assert!(store.attachment(&id.0).await.expect("read").is_none());
    }
    db.finish().await;
}

/// Whether `result` is the refusal of a stale epoch, naming the epoch that holds the school.
fn stale_against(result: Result<(), StoreError>, held: i64) -> bool {
    matches!(result, Err(StoreError::Stale { current, .. }) if current == held)
}

async fn hub_snapshots_keep_the_latest_of_each_school(db: TestStore) {
    let store = &db.store;
    let north = main_school(store).await;
    let south = store
        .create_school("south", "South", "UTC")
        .await
        .expect("school");
    assert_eq!(store.hub_snapshot(north).await.expect("read"), None);
    // Nobody claimed the school: no save.
    assert!(stale_against(
        store.save_hub_snapshot(north, 1, b"first").await,
        0
    ));
    assert_eq!(store.hub_snapshot(north).await.expect("read"), None);

    let epoch = store.claim_next_epoch(north).await.expect("claim");
    assert_eq!(epoch, 1);
    let before = konsult_store::now_ms();
    store
        .save_hub_snapshot(north, epoch, b"first")
        .await
        .expect("save");
    store
        .save_hub_snapshot(north, epoch, b"\x00second\xff")
        .await
        .expect("save again");
    let saved = store
        .hub_snapshot(north)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(saved.snapshot, b"\x00second\xff".to_vec());
    assert_eq!(saved.epoch, 1);
    assert!(saved.written_at >= before && saved.written_at <= konsult_store::now_ms());

    // Each school has its own epochs and its own row.
    assert_eq!(store.claim_next_epoch(south).await.expect("claim"), 1);
    assert_eq!(store.hub_snapshot(south).await.expect("read"), None);
    store
        .save_hub_snapshot(south, 1, b"south")
        .await
        .expect("save");
    assert_eq!(
        store
            .hub_snapshot(north)
            .await
            .expect("read")
            .expect("kept")
            .snapshot,
        b"\x00second\xff".to_vec()
    );
    db.finish().await;
}

async fn school_epochs_only_grow_and_fence_older_saves(db: TestStore) {
    let store = &db.store;
    let school = main_school(store).await;
    store.claim_school(school, 5).await.expect("claim 5");
    store
        .save_hub_snapshot(school, 5, b"by five")
        .await
        .expect("save");
    // The same epoch, or a smaller one, never claims again.
    assert!(stale_against(store.claim_school(school, 5).await, 5));
    assert!(stale_against(store.claim_school(school, 3).await, 5));
    // A newer owner claims: the old one's saves are refused and change nothing.
    store.claim_school(school, 7).await.expect("claim 7");
    assert!(stale_against(
        store.save_hub_snapshot(school, 5, b"late").await,
        7
    ));
    // A save from an epoch that never claimed is refused as well.
    assert!(stale_against(
        store.save_hub_snapshot(school, 9, b"future").await,
        7
    ));
    let saved = store
        .hub_snapshot(school)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(
        (saved.snapshot.as_slice(), saved.epoch),
        (&b"by five"[..], 5)
    );
    store
        .save_hub_snapshot(school, 7, b"by seven")
        .await
        .expect("save");
    // One node alone claims the next epoch after the largest.
    assert_eq!(store.claim_next_epoch(school).await.expect("claim"), 8);
    assert!(stale_against(
        store.save_hub_snapshot(school, 7, b"late").await,
        8
    ));
    let saved = store
        .hub_snapshot(school)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(
        (saved.snapshot.as_slice(), saved.epoch),
        (&b"by seven"[..], 7)
    );
    db.finish().await;
}

async fn a_save_racing_a_claim_lands_before_it_or_is_refused(db: TestStore) {
    let store = db.store.clone();
    let school = main_school(&store).await;
    store.claim_school(school, 1).await.expect("claim");
    let mut saves = Vec::new();
    for i in 0..16u8 {
        let store = store.clone();
        saves.push(tokio::spawn(async move {
            let result = store.save_hub_snapshot(school, 1, &[i]).await;
            (i, result)
        }));
    }
    store.claim_school(school, 2).await.expect("claim 2");
    // Once the claim is in, the old epoch writes nothing more.
    let kept = store.hub_snapshot(school).await.expect("read");
    let mut accepted = Vec::new();
    for save in saves {
        let (i, result) = save.await.expect("task");
        match result {
            Ok(()) => accepted.push(i),
            Err(e) => assert!(
                matches!(e, StoreError::Stale { current: 2, .. }),
                "save {i}: {e}"
            ),
        }
    }
    assert_eq!(store.hub_snapshot(school).await.expect("read"), kept);
    if let Some(kept) = kept {
        assert_eq!(kept.epoch, 1);
        assert!(accepted.contains(&kept.snapshot[0]));
    }
    assert!(stale_against(
        store.save_hub_snapshot(school, 1, b"late").await,
        2
    ));
    db.finish().await;
}

async fn chat_writes_carry_the_epoch_and_a_stale_one_stores_nothing(db: TestStore) {
    let store = &db.store;
    let school = main_school(store).await;
    let ids = store
        .insert_users(
            school,
            &[
                user("a", "A", Role::Student, None),
                user("b", "B", Role::Student, None),
            ],
        )
        .await
        .expect("users");
    let (thread_id, _) = store
        .create_thread(school, &thread(&ids, false))
        .await
        .expect("thread");
    let mut writer = store.message_writer();
    let ids_of = [
        ClientId("c1".into()),
        ClientId("c2".into()),
        ClientId("c3".into()),
    ];
    let send = |client_id| NewMessage {
        sender: ids[0],
        answers_requests: false,
        thread: thread_id,
        client_id,
        text: "x",
        attachments: &[],
    };
    // Never claimed: a fenced write is refused.
    let refused = writer.write(&[send(&ids_of[0])], &[(school, 1)]).await;
    assert!(
        matches!(refused, Err(StoreError::Stale { current: 0, .. })),
        "{refused:?}"
    );
    store.claim_school(school, 4).await.expect("claim 4");
    let stored = writer
        .write(&[send(&ids_of[1])], &[(school, 4)])
        .await
        .expect("the owner's write");
    assert!(matches!(stored[0], SendOutcome::Stored { .. }));
    // A newer owner claims: the old owner's write is refused and stores nothing.
    store.claim_school(school, 5).await.expect("claim 5");
    let refused = writer.write(&[send(&ids_of[2])], &[(school, 4)]).await;
    assert!(
        matches!(
            refused,
            Err(StoreError::Stale {
                epoch: 4,
                current: 5,
                ..
            })
        ),
        "{refused:?}"
    );
    let (messages, _) = store
        .history(thread_id, Page::Latest, 10)
        .await
        .expect("history");
    let kept: Vec<_> = messages.iter().map(|m| m.client_id.clone()).collect();
    assert_eq!(
        kept,
        vec![ids_of[1].clone()],
        "only the owner's write is kept"
    );
    // The writer's connection is still good after a refusal.
    let stored = writer
        .write(&[send(&ids_of[2])], &[(school, 5)])
        .await
        .expect("the new owner's write");
    assert!(matches!(stored[0], SendOutcome::Stored { .. }));
    db.finish().await;
}

async fn record_writes_carry_the_epoch_and_a_stale_one_stores_nothing(db: TestStore) {
    let store = &db.store;
    let school = main_school(store).await;
    let first = record(RecordKey::Request(RequestId(1)), "in_progress");
    let second = record(RecordKey::Request(RequestId(2)), "in_progress");
    let third = record(RecordKey::Request(RequestId(3)), "in_progress");
    // Never claimed: a fenced write is refused.
    assert!(stale_against(
        store
            .write_records(school, Some(1), std::slice::from_ref(&first))
            .await,
        0
    ));
    store.claim_school(school, 3).await.expect("claim 3");
    store
        .write_records(school, Some(3), &[second])
        .await
        .expect("the owner's write");
    // A newer owner claims: the old owner's records are refused and change nothing.
    store.claim_school(school, 4).await.expect("claim 4");
    assert!(stale_against(
        store.write_records(school, Some(3), &[first, third]).await,
        4
    ));
    let rows = store
        .records(school, &RecordFilter::default(), 10)
        .await
        .expect("records");
    assert_eq!(rows.len(), 1, "only the owner's record is kept: {rows:?}");
    db.finish().await;
}

async fn anonymous_identities_are_sealed_unlisted_and_blocked_by_owner(db: TestStore) {
    let store = &db.store;
    let school = main_school(store).await;
    let ids = store
        .insert_users(school, &[user("ivan", "Иван", Role::Student, Some("9А"))])
        .await
        .expect("insert");
    let ivan = ids[0];
    assert!(
        store
            .anonymous_identity(school, "digest-ivan")
            .await
            .expect("lookup")
            .is_none()
    );
    let new = NewAnonymous {
        owner_digest: "digest-ivan",
        login: "~anonymous-1",
        name: "Анонимно",
        class: Some("9А"),
    };
    let identity = store
        .create_anonymous_identity(school, &new)
        .await
        .expect("create");
    assert!(identity.anonymous);
    assert_eq!(identity.role, Role::Student);
    assert_eq!(identity.class.as_deref(), Some("9А"));
    assert!(identity.password_hash.is_none(), "nobody signs in as it");
    assert!(
        !store
            .user_by_id(ivan)
            .await
            .expect("ivan")
            .expect("ivan")
            .anonymous
    );
    let again = store
        .anonymous_identity(school, "digest-ivan")
        .await
        .expect("lookup")
        .expect("in use");
    assert_eq!(again.id, identity.id);
    assert_eq!(
        store
            .anonymous_owner(identity.id)
            .await
            .expect("owner")
            .as_deref(),
        Some("digest-ivan")
    );
    assert_eq!(store.anonymous_owner(ivan).await.expect("owner"), None);

    // Never listed where people are found, never counted in a class.
    let all = store
        .list_users(school, &UserFilter::default(), 100)
        .await
        .expect("list");
    assert_eq!(all.iter().map(|u| u.id).collect::<Vec<_>>(), vec![ivan]);
    let (directory, _) = store
        .student_directory(school, None, None, 100)
        .await
        .expect("directory");
    assert_eq!(
        directory.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![ivan]
    );
    assert_eq!(
        store.classes(school).await.expect("classes"),
        vec![("9А".to_string(), 1)]
    );
    assert_eq!(
        store.class_students(school, "9А").await.expect("class"),
        vec![ivan]
    );

    // Its threads say a student in them is anonymous, to everyone in them.
    let (with_identity, _) = store
        .create_thread(school, &thread(&[identity.id], true))
        .await
        .expect("thread");
    let (without, _) = store
        .create_thread(school, &thread(&[ivan], true))
        .await
        .expect("thread");
    let listed = store.threads(identity.id, 10).await.expect("threads");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, with_identity);
    assert!(listed[0].anonymous);
    let listed = store.threads(ivan, 10).await.expect("threads");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, without);
    assert!(!listed[0].anonymous);

    store
        .set_anonymous_class(identity.id, None)
        .await
        .expect("hide class");
    let hidden = store
        .user_by_id(identity.id)
        .await
        .expect("get")
        .expect("identity");
    assert_eq!(hidden.class, None);

    // A revealed identity is not handed out again.
    store
        .reveal_anonymous_identity(identity.id, now_ms())
        .await
        .expect("reveal");
    assert!(
        store
            .anonymous_identity(school, "digest-ivan")
            .await
            .expect("lookup")
            .is_none()
    );

    // Blocks are by owner and end; a later block wins.
    let now = now_ms();
    assert_eq!(
        store
            .anonymous_blocked_until(school, "digest-ivan", now)
            .await
            .expect("blocked"),
        None
    );
    store
        .block_anonymous(school, "digest-ivan", now + 1_000)
        .await
        .expect("block");
    store
        .block_anonymous(school, "digest-ivan", now + 500)
        .await
        .expect("block again");
    assert_eq!(
        store
            .anonymous_blocked_until(school, "digest-ivan", now)
            .await
            .expect("blocked"),
        Some(now + 1_000)
    );
    assert_eq!(
        store
            .anonymous_blocked_until(school, "digest-ivan", now + 1_000)
            .await
            .expect("over"),
        None
    );
    assert_eq!(
        store
            .anonymous_blocked_until(school, "digest-other", now)
            .await
            .expect("other"),
        None
    );
}
