//! The store's behaviour, the same on every backend: accounts and the directory's search,
//! threads and the support service, the chat's guarantees under concurrent senders, the
//! consultation record, the audit log, revoked tokens, hub snapshots fenced by school epochs,
//! bookings of consultation hours under concurrent bookers, and which failures are transient.

mod backend;

use backend::{Kind, TestStore};
use konsult_protocol::model::{Form, Mode, Role, ThreadKind};
use konsult_protocol::{
    AttachmentId, BookingId, ClientId, RequestId, SchoolId, SessionId, ThreadId, UserId,
};
use konsult_store::anonymous::NewAnonymous;
use konsult_store::attachments::NewAttachment;
use konsult_store::bookings::{
    BookOutcome, Booking, BookingLimits, BookingRules, Cancellation, NewBooking,
};
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
    an_individual_slot_is_booked_once,
    a_group_slot_fills_to_its_limit,
    concurrent_students_get_an_individual_slot_once,
    concurrent_students_fill_a_group_slot_to_its_limit,
    a_student_holds_at_most_max_open_bookings,
    a_blocked_slot_is_refused_until_freed,
    a_cancelled_booking_frees_its_seat_once,
    a_move_keeps_the_count_and_frees_the_old_slot,
    booking_queries_keep_to_their_ranges_and_order,
    booking_rules_default_then_set,
    calendar_feed_generations_only_grow,
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

/// When the tests' bookings are made: a day before the first slot.
const NOW: i64 = 1_800_000_000_000;
/// The first slot's start, and the length of every slot (15 minutes).
const SLOT: i64 = NOW + 86_400_000;
const SLOT_MS: i64 = 900_000;

/// The `n`th slot of the tests' day.
fn at(n: i64) -> i64 {
    SLOT + n * SLOT_MS
}

fn booking(teacher: UserId, student: UserId, starts_ms: i64, form: Form) -> NewBooking<'static> {
    NewBooking {
        teacher,
        student,
        starts_ms,
        ends_ms: starts_ms + SLOT_MS,
        subject: "math",
        form,
        topic: "fractions",
    }
}

fn limits(group_limit: u32, max_open: u32) -> BookingLimits {
    BookingLimits {
        group_limit,
        max_open,
        now_ms: NOW,
    }
}

/// A school with one teacher and `students` students: (school, teacher, students).
async fn booking_school(store: &Store, students: usize) -> (SchoolId, UserId, Vec<UserId>) {
    let school = main_school(store).await;
    let mut people = vec![user("teacher", "Teacher", Role::Teacher, None)];
    people.extend(
        (0..students).map(|i| user(&format!("s{i}"), &format!("S {i}"), Role::Student, None)),
    );
    let ids = store.insert_users(school, &people).await.expect("users");
    (school, ids[0], ids[1..].to_vec())
}

/// The booking an outcome made; panics on any other.
fn booked(outcome: BookOutcome) -> Booking {
    match outcome {
        BookOutcome::Booked(booking) => booking,
        other => panic!("not booked: {other:?}"),
    }
}

/// The students of a slot's active bookings, in the order they booked.
async fn students_in(store: &Store, teacher: UserId, starts_ms: i64) -> Vec<UserId> {
    store
        .bookings_of_teacher(teacher, starts_ms, starts_ms + 1)
        .await
        .expect("teacher's bookings")
        .into_iter()
        .map(|b| b.student)
        .collect()
}

async fn an_individual_slot_is_booked_once(db: TestStore) {
    let store = &db.store;
    let (school, teacher, s) = booking_school(store, 3).await;
    let first = booked(
        store
            .book_slot(
                school,
                &booking(teacher, s[0], at(0), Form::Individual),
                limits(5, 5),
            )
            .await
            .expect("book"),
    );
    assert_eq!(first.school, school);
    assert_eq!(first.teacher, teacher);
    assert_eq!(first.student, s[0]);
    assert_eq!((first.starts_ms, first.ends_ms), (at(0), at(1)));
    assert_eq!(first.form, Form::Individual);
    assert_eq!(
        (first.subject.as_str(), first.topic.as_str()),
        ("math", "fractions")
    );
    assert_eq!(first.created_ms, NOW);
    assert_eq!(first.cancelled, None);
    assert_eq!(
        store.booking(first.id).await.expect("read back"),
        Some(first.clone())
    );
    for form in [Form::Individual, Form::Group] {
        assert_eq!(
            store
                .book_slot(school, &booking(teacher, s[1], at(0), form), limits(5, 5))
                .await
                .expect("second"),
            BookOutcome::SlotTaken,
            "a {form:?} booking into an individual slot"
        );
    }
    assert_eq!(
        store
            .book_slot(
                school,
                &booking(teacher, s[0], at(0), Form::Individual),
                limits(5, 5)
            )
            .await
            .expect("again"),
        BookOutcome::AlreadyBooked
    );

    // A group booking holds its slot against an individual one, but not against another group one.
    booked(
        store
            .book_slot(
                school,
                &booking(teacher, s[1], at(1), Form::Group),
                limits(5, 5),
            )
            .await
            .expect("group"),
    );
    assert_eq!(
        store
            .book_slot(
                school,
                &booking(teacher, s[2], at(1), Form::Individual),
                limits(5, 5)
            )
            .await
            .expect("individual into group"),
        BookOutcome::SlotTaken
    );
    booked(
        store
            .book_slot(
                school,
                &booking(teacher, s[2], at(1), Form::Group),
                limits(5, 5),
            )
            .await
            .expect("second of the group"),
    );
    assert_eq!(students_in(store, teacher, at(0)).await, vec![s[0]]);
    assert_eq!(students_in(store, teacher, at(1)).await, vec![s[1], s[2]]);

    // What no slot holds is refused before anything is looked at.
    let mut frontal = booking(teacher, s[2], at(5), Form::Frontal);
    assert!(matches!(
        store.book_slot(school, &frontal, limits(5, 5)).await,
        Err(StoreError::Invalid(_))
    ));
    frontal.form = Form::Individual;
    frontal.ends_ms = frontal.starts_ms;
    assert!(matches!(
        store.book_slot(school, &frontal, limits(5, 5)).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(students_in(store, teacher, at(5)).await.is_empty());
    db.finish().await;
}

async fn a_group_slot_fills_to_its_limit(db: TestStore) {
    let store = &db.store;
    let (school, teacher, s) = booking_school(store, 4).await;
    for student in &s[..3] {
        booked(
            store
                .book_slot(
                    school,
                    &booking(teacher, *student, at(0), Form::Group),
                    limits(3, 5),
                )
                .await
                .expect("book"),
        );
    }
    assert_eq!(
        store
            .book_slot(
                school,
                &booking(teacher, s[3], at(0), Form::Group),
                limits(3, 5)
            )
            .await
            .expect("fourth"),
        BookOutcome::SlotTaken
    );
    assert_eq!(
        store
            .book_slot(
                school,
                &booking(teacher, s[0], at(0), Form::Group),
                limits(3, 5)
            )
            .await
            .expect("again"),
        BookOutcome::AlreadyBooked
    );
    // A higher limit (the teacher changed their rules) lets the fourth in.
    booked(
        store
            .book_slot(
                school,
                &booking(teacher, s[3], at(0), Form::Group),
                limits(4, 5),
            )
            .await
            .expect("fourth with room"),
    );
    assert_eq!(students_in(store, teacher, at(0)).await, s);
    db.finish().await;
}

/// 16 students, each on a task of its own, book one slot at once.
async fn race_for_one_slot(
    store: &Store,
    school: SchoolId,
    teacher: UserId,
    students: &[UserId],
    form: Form,
    limits: BookingLimits,
) -> Vec<BookOutcome> {
    let tasks: Vec<_> = students
        .iter()
        .map(|student| {
            let store = store.clone();
            let new = booking(teacher, *student, at(0), form);
            tokio::spawn(async move { store.book_slot(school, &new, limits).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("booker").expect("no booker fails"));
    }
    outcomes
}

async fn concurrent_students_get_an_individual_slot_once(db: TestStore) {
    let store = &db.store;
    let (school, teacher, s) = booking_school(store, 16).await;
    let outcomes =
        race_for_one_slot(store, school, teacher, &s, Form::Individual, limits(5, 5)).await;
    let winners: Vec<Booking> = outcomes
        .iter()
        .filter_map(|o| match o {
            BookOutcome::Booked(b) => Some(b.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == BookOutcome::SlotTaken)
            .count(),
        15,
        "{outcomes:?}"
    );
    assert_eq!(
        students_in(store, teacher, at(0)).await,
        vec![winners[0].student]
    );
    db.finish().await;
}

async fn concurrent_students_fill_a_group_slot_to_its_limit(db: TestStore) {
    let store = &db.store;
    let (school, teacher, s) = booking_school(store, 16).await;
    let outcomes = race_for_one_slot(store, school, teacher, &s, Form::Group, limits(5, 5)).await;
    let mut winners: Vec<UserId> = outcomes
        .iter()
        .filter_map(|o| match o {
            BookOutcome::Booked(b) => Some(b.student),
            _ => None,
        })
        .collect();
    assert_eq!(winners.len(), 5, "{outcomes:?}");
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == BookOutcome::SlotTaken)
            .count(),
        11,
        "{outcomes:?}"
    );
    winners.sort();
    let mut held = students_in(store, teacher, at(0)).await;
    held.sort();
    assert_eq!(held, winners);
    let seats = db
        .scalar_raw(&format!(
            "SELECT count(DISTINCT seat) FROM bookings \
             WHERE teacher_id = {} AND cancelled_at IS NULL AND seat BETWEEN 0 AND 4",
            teacher.0
        ))
        .await;
    assert_eq!(seats, 5, "the five hold seats 0 to 4, one each");
    db.finish().await;
}

async fn a_student_holds_at_most_max_open_bookings(db: TestStore) {
    let store = &db.store;
    let (school, teacher, s) = booking_school(store, 2).await;
    // A booking that has started is no longer open: made when it was still ahead.
    let earlier = BookingLimits {
        now_ms: NOW - 2 * 86_400_000,
        ..limits(5, 2)
    };
    let mut past = booking(teacher, s[0], NOW - 86_400_000, Form::Individual);
    past.ends_ms = past.starts_ms + SLOT_MS;
    booked(store.book_slot(school, &past, earlier).await.expect("past"));
    let first = booked(
        store
            .book_slot(
                school,
                &booking(teacher, s[0], at(0), Form::Individual),
                limits(5, 2),
            )
            .await
            .expect("first"),
    );
    booked(
        store
            .book_slot(
                school,
                &booking(teacher, s[0], at(1), Form::Group),
                limits(5, 2),
            )
            .await
            .expect("second"),
    );
    assert_eq!(
        store
            .book_slot(
                school,
                &booking(teacher, s[0], at(2), Form::Individual),
                limits(5, 2)
            )
            .await
            .expect("third"),
        BookOutcome::TooMany
    );
    assert!(students_in(store, teacher, at(2)).await.is_empty());
    // Another student's count is their own.
    booked(
        store
            .book_slot(
                school,
                &booking(teacher, s[1], at(2), Form::Individual),
                limits(5, 2),
            )
            .await
            .expect("other student"),
    );
    // A cancelled booking is not open.
    store
        .cancel_booking(first.id, s[0], None, NOW)
        .await
        .expect("cancel")
        .expect("was open");
    booked(
        store
            .book_slot(
                school,
                &booking(teacher, s[0], at(3), Form::Individual),
                limits(5, 2),
            )
            .await
            .expect("after a cancel"),
    );

    // One student booking eight slots at once gets exactly as many as are left to them.
    let tasks: Vec<_> = (10..18)
        .map(|n| {
            let store = store.clone();
            let new = booking(teacher, s[1], at(n), Form::Individual);
            tokio::spawn(async move { store.book_slot(school, &new, limits(5, 4)).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("booker").expect("no booker fails"));
    }
    let won = outcomes
        .iter()
        .filter(|o| matches!(o, BookOutcome::Booked(_)))
        .count();
    assert_eq!(won, 3, "s1 held 1 of 4: {outcomes:?}");
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == BookOutcome::TooMany)
            .count(),
        5,
        "{outcomes:?}"
    );
    assert_eq!(
        store
            .bookings_of_student(s[1], NOW)
            .await
            .expect("s1")
            .len(),
        4
    );
    db.finish().await;
}

async fn a_blocked_slot_is_refused_until_freed(db: TestStore) {
    let store = &db.store;
    let (school, teacher, s) = booking_school(store, 1).await;
    let other_teacher = store
        .insert_users(school, &[user("t2", "T2", Role::Teacher, None)])
        .await
        .expect("teacher")[0];
    for n in [3, 1, 5] {
        store
            .set_slot_blocked(teacher, at(n), true)
            .await
            .expect("block");
    }
    store
        .set_slot_blocked(teacher, at(1), true)
        .await
        .expect("block twice");
    store
        .set_slot_blocked(other_teacher, at(2), true)
        .await
        .expect("block another's");
    assert_eq!(
        store
            .blocked_slots(teacher, at(0), at(10))
            .await
            .expect("blocked"),
        vec![at(1), at(3), at(5)]
    );
    assert_eq!(
        store
            .blocked_slots(teacher, at(1), at(5))
            .await
            .expect("range"),
        vec![at(1), at(3)],
        "from inclusive, to exclusive"
    );
    for form in [Form::Individual, Form::Group] {
        assert_eq!(
            store
                .book_slot(school, &booking(teacher, s[0], at(1), form), limits(5, 5))
                .await
                .expect("blocked"),
            BookOutcome::SlotBlocked
        );
    }
    // Blocked over everything else: even a student at max_open hears it is blocked.
    assert_eq!(
        store
            .book_slot(
                school,
                &booking(teacher, s[0], at(1), Form::Group),
                limits(5, 0)
            )
            .await
            .expect("blocked first"),
        BookOutcome::SlotBlocked
    );
    booked(
        store
            .book_slot(
                school,
                &booking(other_teacher, s[0], at(1), Form::Group),
                limits(5, 5),
            )
            .await
            .expect("another teacher's slot"),
    );
    store
        .set_slot_blocked(teacher, at(1), false)
        .await
        .expect("free");
    store
        .set_slot_blocked(teacher, at(7), false)
        .await
        .expect("free one never blocked");
    assert_eq!(
        store
            .blocked_slots(teacher, at(0), at(10))
            .await
            .expect("blocked"),
        vec![at(3), at(5)]
    );
    booked(
        store
            .book_slot(
                school,
                &booking(teacher, s[0], at(1), Form::Group),
                limits(5, 5),
            )
            .await
            .expect("freed"),
    );
    db.finish().await;
}

async fn a_cancelled_booking_frees_its_seat_once(db: TestStore) {
    let store = &db.store;
    let (school, teacher, s) = booking_school(store, 3).await;
    let first = booked(
        store
            .book_slot(
                school,
                &booking(teacher, s[0], at(0), Form::Group),
                limits(2, 5),
            )
            .await
            .expect("first"),
    );
    booked(
        store
            .book_slot(
                school,
                &booking(teacher, s[1], at(0), Form::Group),
                limits(2, 5),
            )
            .await
            .expect("second"),
    );
    assert_eq!(
        store
            .book_slot(
                school,
                &booking(teacher, s[2], at(0), Form::Group),
                limits(2, 5)
            )
            .await
            .expect("full"),
        BookOutcome::SlotTaken
    );
    let cancelled = store
        .cancel_booking(first.id, teacher, Some("ill"), NOW + 5)
        .await
        .expect("cancel")
        .expect("it was open");
    let cancellation = Cancellation {
        at_ms: NOW + 5,
        by: teacher,
        reason: Some("ill".into()),
    };
    assert_eq!(cancelled.id, first.id);
    assert_eq!(cancelled.cancelled, Some(cancellation.clone()));
    assert_eq!(
        store.booking(first.id).await.expect("read").expect("kept"),
        cancelled
    );
    assert_eq!(
        store
            .cancel_booking(first.id, s[0], None, NOW + 6)
            .await
            .expect("again"),
        None,
        "a second cancel finds nothing to cancel"
    );
    assert_eq!(
        store
            .booking(first.id)
            .await
            .expect("read")
            .expect("kept")
            .cancelled,
        Some(cancellation),
        "and changes nothing"
    );
    assert_eq!(
        store
            .cancel_booking(BookingId(first.id.0 + 1_000), teacher, None, NOW)
            .await
            .expect("none"),
        None
    );
    assert_eq!(
        store
            .booking(BookingId(first.id.0 + 1_000))
            .await
            .expect("none"),
        None
    );
    // The freed seat is taken again, and the student who cancelled may book again.
    booked(
        store
            .book_slot(
                school,
                &booking(teacher, s[2], at(0), Form::Group),
                limits(2, 5),
            )
            .await
            .expect("into the freed seat"),
    );
    let seat = db
        .scalar_raw(&format!(
            "SELECT seat FROM bookings WHERE student_id = {} AND cancelled_at IS NULL",
            s[2].0
        ))
        .await;
    assert_eq!(seat, 0, "the lowest free seat");
    assert_eq!(
        store
            .book_slot(
                school,
                &booking(teacher, s[0], at(0), Form::Group),
                limits(2, 5)
            )
            .await
            .expect("full again"),
        BookOutcome::SlotTaken
    );
    db.finish().await;
}

async fn a_move_keeps_the_count_and_frees_the_old_slot(db: TestStore) {
    let store = &db.store;
    let (school, teacher, s) = booking_school(store, 3).await;
    let old = booked(
        store
            .book_slot(
                school,
                &booking(teacher, s[0], at(0), Form::Individual),
                limits(5, 1),
            )
            .await
            .expect("book"),
    );
    booked(
        store
            .book_slot(
                school,
                &booking(teacher, s[1], at(2), Form::Individual),
                limits(5, 1),
            )
            .await
            .expect("another's"),
    );
    // At max_open (1), the move is still allowed: the booking it replaces does not count.
    let later = BookingLimits {
        now_ms: NOW + 10,
        ..limits(5, 1)
    };
    let moved = booked(
        store
            .move_booking(
                old.id,
                &booking(teacher, s[0], at(1), Form::Individual),
                later,
            )
            .await
            .expect("move"),
    );
    assert_ne!(moved.id, old.id);
    assert_eq!(
        (moved.student, moved.starts_ms, moved.school),
        (s[0], at(1), school)
    );
    assert_eq!(
        store
            .booking(old.id)
            .await
            .expect("old")
            .expect("kept")
            .cancelled,
        Some(Cancellation {
            at_ms: NOW + 10,
            by: s[0],
            reason: None
        })
    );
    let mine = store.bookings_of_student(s[0], NOW).await.expect("mine");
    assert_eq!(mine, vec![moved.clone()]);
    // The old slot is free for another student.
    booked(
        store
            .book_slot(
                school,
                &booking(teacher, s[2], at(0), Form::Individual),
                limits(5, 1),
            )
            .await
            .expect("old slot"),
    );

    // A move into a taken or blocked slot changes nothing.
    assert_eq!(
        store
            .move_booking(
                moved.id,
                &booking(teacher, s[0], at(2), Form::Individual),
                limits(5, 1)
            )
            .await
            .expect("into a taken slot"),
        BookOutcome::SlotTaken
    );
    store
        .set_slot_blocked(teacher, at(4), true)
        .await
        .expect("block");
    assert_eq!(
        store
            .move_booking(
                moved.id,
                &booking(teacher, s[0], at(4), Form::Group),
                limits(5, 1)
            )
            .await
            .expect("into a blocked slot"),
        BookOutcome::SlotBlocked
    );
    assert_eq!(
        store
            .booking(moved.id)
            .await
            .expect("read")
            .expect("kept")
            .cancelled,
        None
    );
    assert_eq!(
        store.bookings_of_student(s[0], NOW).await.expect("mine"),
        vec![moved.clone()]
    );
    assert_eq!(students_in(store, teacher, at(2)).await, vec![s[1]]);

    // Within its own slot (another form, another topic): the old booking is not AlreadyBooked.
    let mut regroup = booking(teacher, s[0], at(1), Form::Group);
    regroup.topic = "decimals";
    let regrouped = booked(
        store
            .move_booking(moved.id, &regroup, limits(5, 1))
            .await
            .expect("within its slot"),
    );
    assert_eq!(regrouped.topic, "decimals");
    assert_eq!(students_in(store, teacher, at(1)).await, vec![s[0]]);

    // Only an open booking of the student moves.
    assert!(matches!(
        store
            .move_booking(
                moved.id,
                &booking(teacher, s[0], at(6), Form::Group),
                limits(5, 1)
            )
            .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store
            .move_booking(
                regrouped.id,
                &booking(teacher, s[1], at(6), Form::Group),
                limits(5, 5)
            )
            .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(students_in(store, teacher, at(6)).await.is_empty());
    assert_eq!(
        store
            .booking(regrouped.id)
            .await
            .expect("read")
            .expect("kept")
            .cancelled,
        None
    );
    db.finish().await;
}

async fn booking_queries_keep_to_their_ranges_and_order(db: TestStore) {
    let store = &db.store;
    let (school, teacher, s) = booking_school(store, 3).await;
    let t2 = store
        .insert_users(school, &[user("t2", "T2", Role::Teacher, None)])
        .await
        .expect("teacher")[0];
    let other = store
        .create_school("other", "Other", "Europe/Moscow")
        .await
        .expect("school");
    let o = store
        .insert_users(
            other,
            &[
                user("ot", "OT", Role::Teacher, None),
                user("os", "OS", Role::Student, None),
            ],
        )
        .await
        .expect("other's people");
    let book = |teacher, student, n, form| {
        let new = booking(teacher, student, at(n), form);
        async move { store.book_slot(school, &new, limits(5, 10)).await }
    };
    // Booked out of order, so that ids and starts disagree.
    let b3 = booked(book(teacher, s[0], 3, Form::Individual).await.expect("b3"));
    let b1a = booked(book(teacher, s[1], 1, Form::Group).await.expect("b1a"));
    let b1b = booked(book(teacher, s[0], 1, Form::Group).await.expect("b1b"));
    let b0 = booked(book(t2, s[0], 0, Form::Individual).await.expect("b0"));
    let b2 = booked(book(teacher, s[2], 2, Form::Individual).await.expect("b2"));
    let gone = booked(
        book(teacher, s[0], 4, Form::Individual)
            .await
            .expect("gone"),
    );
    store
        .cancel_booking(gone.id, s[0], None, NOW)
        .await
        .expect("cancel")
        .expect("open");
    let theirs = booked(
        store
            .book_slot(
                other,
                &booking(o[0], o[1], at(1), Form::Individual),
                limits(5, 10),
            )
            .await
            .expect("other school's"),
    );

    let ids = |bookings: Vec<Booking>| bookings.into_iter().map(|b| b.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.bookings_of_student(s[0], NOW).await.expect("s0")),
        vec![b0.id, b1b.id, b3.id],
        "by start, cancelled left out"
    );
    // Ends after from_ms: the booking ending exactly at it is over.
    assert_eq!(
        ids(store
            .bookings_of_student(s[0], at(2))
            .await
            .expect("s0 later")),
        vec![b3.id]
    );
    assert_eq!(
        ids(store
            .bookings_of_student(s[0], at(2) - 1)
            .await
            .expect("s0 just before")),
        vec![b1b.id, b3.id]
    );
    assert_eq!(
        ids(store
            .bookings_of_teacher(teacher, at(0), at(10))
            .await
            .expect("teacher")),
        vec![b1a.id, b1b.id, b2.id, b3.id],
        "by start then id"
    );
    assert_eq!(
        ids(store
            .bookings_of_teacher(teacher, at(1), at(3))
            .await
            .expect("range")),
        vec![b1a.id, b1b.id, b2.id],
        "from inclusive, to exclusive"
    );
    assert!(
        store
            .bookings_of_teacher(t2, at(1), at(10))
            .await
            .expect("t2")
            .is_empty()
    );
    assert_eq!(
        ids(store.bookings_of_school(school, NOW).await.expect("school")),
        vec![b0.id, b1a.id, b1b.id, b2.id, b3.id]
    );
    assert_eq!(
        ids(store
            .bookings_of_school(school, at(2))
            .await
            .expect("school later")),
        vec![b2.id, b3.id]
    );
    assert_eq!(
        store.bookings_of_school(other, NOW).await.expect("other"),
        vec![theirs]
    );
    db.finish().await;
}

async fn booking_rules_default_then_set(db: TestStore) {
    let store = &db.store;
    let (school, teacher, _) = booking_school(store, 0).await;
    let t2 = store
        .insert_users(school, &[user("t2", "T2", Role::Teacher, None)])
        .await
        .expect("teacher")[0];
    assert_eq!(
        store.booking_rules(teacher).await.expect("default"),
        BookingRules {
            slot_minutes: 15,
            group_limit: 5
        }
    );
    let rules = BookingRules {
        slot_minutes: 20,
        group_limit: 3,
    };
    store.set_booking_rules(teacher, rules).await.expect("set");
    assert_eq!(store.booking_rules(teacher).await.expect("set"), rules);
    let again = BookingRules {
        slot_minutes: 30,
        group_limit: 8,
    };
    store
        .set_booking_rules(teacher, again)
        .await
        .expect("set again");
    assert_eq!(store.booking_rules(teacher).await.expect("replaced"), again);
    assert_eq!(
        store.booking_rules(t2).await.expect("another's"),
        BookingRules::default()
    );
    for bad in [
        BookingRules {
            slot_minutes: 0,
            group_limit: 3,
        },
        BookingRules {
            slot_minutes: 15,
            group_limit: 0,
        },
    ] {
        assert!(matches!(
            store.set_booking_rules(teacher, bad).await,
            Err(StoreError::Invalid(_))
        ));
    }
    assert_eq!(store.booking_rules(teacher).await.expect("kept"), again);
    db.finish().await;
}

async fn calendar_feed_generations_only_grow(db: TestStore) {
    let store = &db.store;
    let (_, teacher, s) = booking_school(store, 1).await;
    assert_eq!(store.calendar_feed(teacher).await.expect("none"), None);
    store
        .revoke_calendar_feed(teacher)
        .await
        .expect("revoke what is not there");
    assert_eq!(store.calendar_feed(teacher).await.expect("none"), None);
    assert_eq!(store.renew_calendar_feed(teacher).await.expect("first"), 1);
    assert_eq!(store.calendar_feed(teacher).await.expect("feed"), Some(1));
    assert_eq!(store.renew_calendar_feed(teacher).await.expect("renew"), 2);
    assert_eq!(store.calendar_feed(teacher).await.expect("feed"), Some(2));
    store.revoke_calendar_feed(teacher).await.expect("revoke");
    assert_eq!(store.calendar_feed(teacher).await.expect("revoked"), None);
    store
        .revoke_calendar_feed(teacher)
        .await
        .expect("revoke twice");
    assert_eq!(
        store
            .renew_calendar_feed(teacher)
            .await
            .expect("after revoke"),
        3,
        "never a generation used before"
    );
    assert_eq!(store.calendar_feed(teacher).await.expect("feed"), Some(3));
    // Each user counts their own.
    assert_eq!(store.calendar_feed(s[0]).await.expect("none"), None);
    assert_eq!(store.renew_calendar_feed(s[0]).await.expect("first"), 1);
    assert_eq!(store.calendar_feed(teacher).await.expect("feed"), Some(3));
    db.finish().await;
}

/// A booking written without the store's locks (as a second writer that skipped them would)
/// and committed while the store's insert waits on it: the unique indexes refuse the store's
/// row, PostgreSQL aborts its transaction, and the booker gets an outcome, not an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_seat_lost_at_the_unique_index_is_an_outcome() {
    let db = TestStore::open(Kind::Postgres).await;
    let store = &db.store;
    let (school, teacher, s) = booking_school(store, 3).await;
    let mut watcher = db.postgres_connection().await;
    for (student, seat, booker, expected) in [
        // s[1] takes seat 0 outside: the store's s[0], seeing nobody, wants seat 0 too.
        (s[1], 0, s[0], BookOutcome::SlotTaken),
        // s[2] takes seat 4 outside: the store's s[2], seeing only s[1], wants seat 1; it is
        // the student index that refuses it.
        (s[2], 4, s[2], BookOutcome::AlreadyBooked),
    ] {
        let mut outside = db.postgres_connection().await;
        sqlx::query("BEGIN")
            .execute(&mut outside)
            .await
            .expect("begin");
        sqlx::query(
            "INSERT INTO bookings (school_id, teacher_id, student_id, starts_ms, ends_ms, \
             subject, form, topic, seat, created_ms) \
             VALUES ($1, $2, $3, $4, $5, 'math', 'group', '', $6, $7)",
        )
        .bind(school.0)
        .bind(teacher.0)
        .bind(student.0)
        .bind(at(0))
        .bind(at(1))
        .bind(seat)
        .bind(NOW)
        .execute(&mut outside)
        .await
        .expect("insert outside");
        let task = {
            let store = store.clone();
            let new = booking(teacher, booker, at(0), Form::Group);
            tokio::spawn(async move { store.book_slot(school, &new, limits(5, 5)).await })
        };
        // The store's insert waits for the transaction outside to end.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock' \
                 AND query LIKE 'INSERT INTO bookings%'",
            )
            .fetch_one(&mut watcher)
            .await
            .expect("watch");
            if waiting > 0 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the store's insert never waited"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        sqlx::query("COMMIT")
            .execute(&mut outside)
            .await
            .expect("commit");
        assert_eq!(
            task.await
                .expect("booker")
                .expect("an outcome, not an error"),
            expected
        );
    }
    // The store's connections came back clean: it books on as before.
    let held = booked(
        store
            .book_slot(
                school,
                &booking(teacher, s[0], at(0), Form::Group),
                limits(5, 5),
            )
            .await
            .expect("book after"),
    );
    assert_eq!(held.student, s[0]);
    let mut in_slot = students_in(store, teacher, at(0)).await;
    in_slot.sort();
    assert_eq!(in_slot, s);
    db.finish().await;
}
