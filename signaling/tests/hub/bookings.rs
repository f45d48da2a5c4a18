//! Booked slots: the session each opens at its start, whom it invites and when, the queue
//! it outranks, a slot nobody attended, and a slot that survives the hub's move.

use super::*;
use konsult_protocol::SessionId;
use konsult_signaling::{BookedSlot, BookedStudent, Input};

/// A slot beginning `start_in` after `now_ms` (the sim's wall clock), 15 minutes long, booked by `students`.
fn slot(now_ms: i64, start_in: Duration, form: Form, students: &[i64]) -> BookedSlot {
    let starts_ms = now_ms + start_in.as_millis() as i64;
    BookedSlot {
        starts_ms,
        ends_ms: starts_ms + 15 * 60_000,
        subject: "physics".into(),
        form,
        students: students
            .iter()
            .map(|id| BookedStudent {
                student: UserId(*id),
                topic: format!("topic of {id}"),
            })
            .collect(),
    }
}

fn invited_to(messages: &[ServerMessage]) -> Vec<SessionId> {
    messages
        .iter()
        .filter_map(|m| match m {
            ServerMessage::SessionInvite { session, .. } => Some(session.id),
            _ => None,
        })
        .collect()
}

fn book(sim: &mut Sim, teacher: i64, slots: Vec<BookedSlot>) {
    sim.input(Input::BookingsChanged {
        teacher: UserId(teacher),
        slots,
    });
}

#[test]
fn a_booked_slot_invites_its_teacher_and_student_into_one_session_at_its_start() {
    let mut sim = school();
    let t = sim.now().unix_ms;
    book(
        &mut sim,
        1,
        vec![slot(t, Duration::from_secs(600), Form::Individual, &[11])],
    );
    sim.advance(Duration::from_secs(599));
    assert!(
        invited_to(&sim.take(UserId(1))).is_empty(),
        "not before its start"
    );
    sim.advance(Duration::from_secs(1));
    let teacher = invited_to(&sim.take(UserId(1)));
    let student = invited_to(&sim.take(UserId(11)));
    assert_eq!(teacher.len(), 1, "the teacher is invited once");
    assert_eq!(teacher, student, "both into the same session");
    let (_, thread) = sim.threads.last().expect("the session's thread");
    assert_eq!(thread.kind, konsult_protocol::model::ThreadKind::Personal);
    assert_eq!(thread.opening.len(), 1, "the thread starts with the topic");
    assert_eq!(thread.opening[0].author, UserId(11));
    let session = teacher[0];
    sim.send(UserId(11), ToHub::JoinSession { session });
    sim.send(UserId(1), ToHub::JoinSession { session });
    let started = sim.last(UserId(1), "session_started");
    assert!(started.is_some(), "the teacher joins the booked session");
    assert_eq!(sim.hub.sessions_of(UserId(1)), vec![session]);
    assert_eq!(sim.hub.session_form(session), Some(Form::Individual));
}

#[test]
fn the_students_of_a_group_slot_share_one_session() {
    let mut sim = school();
    let t = sim.now().unix_ms;
    book(
        &mut sim,
        1,
        vec![slot(t, Duration::from_secs(60), Form::Group, &[11, 12, 13])],
    );
    sim.advance(Duration::from_secs(60));
    let sessions: Vec<Vec<SessionId>> = [1, 11, 12, 13]
        .iter()
        .map(|u| invited_to(&sim.take(UserId(*u))))
        .collect();
    assert_eq!(sessions[0].len(), 1);
    assert!(sessions.iter().all(|s| *s == sessions[0]), "{sessions:?}");
    assert_eq!(sim.hub.session_form(sessions[0][0]), Some(Form::Group));
}

#[test]
fn a_cancelled_slot_opens_nothing_and_a_moved_one_opens_at_its_new_time() {
    let mut sim = school();
    let t = sim.now().unix_ms;
    book(
        &mut sim,
        1,
        vec![slot(t, Duration::from_secs(60), Form::Individual, &[11])],
    );
    book(
        &mut sim,
        1,
        vec![slot(t, Duration::from_secs(300), Form::Individual, &[11])],
    );
    sim.advance(Duration::from_secs(120));
    assert!(
        invited_to(&sim.take(UserId(11))).is_empty(),
        "the old time is gone"
    );
    sim.advance(Duration::from_secs(200));
    assert_eq!(invited_to(&sim.take(UserId(11))).len(), 1);
    book(
        &mut sim,
        2,
        vec![slot(t, Duration::from_secs(900), Form::Individual, &[12])],
    );
    book(&mut sim, 2, vec![]);
    sim.advance(Duration::from_secs(900));
    assert!(invited_to(&sim.take(UserId(12))).is_empty(), "cancelled");
}

#[test]
fn whoever_was_offline_at_the_start_is_invited_when_they_connect() {
    let mut sim = school();
    let t = sim.now().unix_ms;
    let late = student(20, "9B");
    sim.know(late.clone());
    book(
        &mut sim,
        1,
        vec![slot(t, Duration::from_secs(60), Form::Individual, &[20])],
    );
    sim.advance(Duration::from_secs(120));
    let teacher = invited_to(&sim.take(UserId(1)));
    assert_eq!(teacher.len(), 1);
    sim.connect(late);
    assert_eq!(invited_to(&sim.take(UserId(20))), teacher);
}

#[test]
fn a_booking_outranks_the_queue_while_its_slot_lasts() {
    let mut sim = school();
    let t = sim.now().unix_ms;
    // Teacher 2 has a booked slot of two minutes; teacher 1 is away.
    let mut short = slot(t, Duration::from_secs(60), Form::Individual, &[15]);
    short.ends_ms = short.starts_ms + 120_000;
    book(&mut sim, 2, vec![short]);
    sim.advance(Duration::from_secs(60));
    sim.send(
        UserId(1),
        ToHub::SetStatus {
            status: SetStatus::Away,
        },
    );
    sim.send(UserId(11), help("math", "fractions"));
    sim.advance(Duration::from_secs(5));
    assert!(
        sim.offer_of(UserId(2)).is_none(),
        "no offer during the booked slot"
    );
    // The slot ends unattended: teacher 2 is offered the queue's request again.
    sim.advance(Duration::from_secs(120));
    assert!(
        sim.offer_of(UserId(2)).is_some(),
        "offers resume after the slot"
    );
}

#[test]
fn a_slot_nobody_attended_ends_as_missed_and_its_thread_stays() {
    let mut sim = school();
    let t = sim.now().unix_ms;
    book(
        &mut sim,
        1,
        vec![slot(t, Duration::from_secs(60), Form::Individual, &[11])],
    );
    sim.advance(Duration::from_secs(60));
    let session = invited_to(&sim.take(UserId(11)))[0];
    // The student comes; the teacher never does.
    sim.send(UserId(11), ToHub::JoinSession { session });
    sim.advance(Duration::from_secs(15 * 60));
    let ended = sim.last(UserId(11), "session_ended");
    assert_eq!(
        ended,
        Some(ServerMessage::SessionEnded {
            session,
            reason: EndReason::Missed
        })
    );
    let record = sim.records.last().expect("a record");
    assert_eq!(record.outcome, Outcome::Deferred);
    assert_eq!(record.students, vec![UserId(11)]);
}

#[test]
fn a_slot_the_teacher_and_student_met_in_goes_on_past_its_end() {
    let mut sim = school();
    let t = sim.now().unix_ms;
    book(
        &mut sim,
        1,
        vec![slot(t, Duration::from_secs(60), Form::Individual, &[11])],
    );
    sim.advance(Duration::from_secs(60));
    let session = invited_to(&sim.take(UserId(11)))[0];
    sim.send(UserId(11), ToHub::JoinSession { session });
    sim.send(UserId(1), ToHub::JoinSession { session });
    sim.advance(Duration::from_secs(20 * 60));
    assert!(sim.last(UserId(11), "session_ended").is_none());
    assert_eq!(sim.hub.session_form(session), Some(Form::Individual));
}

#[test]
fn booked_slots_ahead_and_under_way_survive_the_hub_s_move() {
    let mut sim = school();
    let t = sim.now().unix_ms;
    let slots = vec![
        slot(t, Duration::from_secs(60), Form::Individual, &[11]),
        slot(t, Duration::from_secs(3600), Form::Individual, &[12]),
    ];
    book(&mut sim, 1, slots.clone());
    sim.advance(Duration::from_secs(90));
    let first = invited_to(&sim.take(UserId(11)));
    assert_eq!(first.len(), 1);
    let mut moved = sim.restored(HubConfig::default(), sim.hub.snapshot());
    moved.reconnect_all();
    // The same slots again, as the server tells a starting hub: nothing opens twice.
    book(&mut moved, 1, slots);
    moved.send(
        UserId(2),
        ToHub::SetStatus {
            status: SetStatus::Away,
        },
    );
    moved.send(UserId(13), help("physics", "optics"));
    moved.advance(Duration::from_secs(5));
    assert!(
        moved.offer_of(UserId(1)).is_none(),
        "still in its booked slot"
    );
    moved.advance(Duration::from_secs(3600));
    let second = invited_to(&moved.take(UserId(12)));
    assert_eq!(second.len(), 1, "the slot ahead opens on the new node");
    assert_ne!(second, first);
}
