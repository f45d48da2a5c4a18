//! Consultation hours: a named teacher outside them, and the reminder when they begin.

use crate::*;

fn slot(weekday: u8, start: &str, end: &str) -> konsult_protocol::model::HoursSlot {
    konsult_protocol::model::HoursSlot {
        subject: "math".into(),
        weekday,
        start: start.into(),
        end: end.into(),
        mode: Mode::Online,
    }
}

// The simulated clock starts on Friday 2027-01-15 at 12:00 local time (+04:00).
#[test]
fn a_named_teacher_outside_their_hours_gets_a_thread_with_when_they_are_back() {
    let mut sim = school();
    sim.input(konsult_signaling::Input::HoursChanged {
        user: UserId(2),
        hours: vec![slot(5, "11:00", "12:30"), slot(1, "15:00", "16:00")],
    });
    let named = |teacher| ToHub::RequestHelp {
        subject: "math".into(),
        form: Form::Individual,
        mode: Mode::Online,
        topic: "x".into(),
        teacher: Some(UserId(teacher)),
        anonymous: false,
    };
    sim.send(UserId(11), named(2));
    assert!(
        sim.offer_of(UserId(2)).is_some(),
        "within Friday 11:00-12:30"
    );
    sim.advance(Duration::from_secs(3600));
    sim.send(UserId(12), named(2));
    let m = sim.last(UserId(12), "request_deferred").expect("deferred");
    let ServerMessage::RequestDeferred {
        reason,
        next_available,
        ..
    } = m
    else {
        unreachable!()
    };
    assert_eq!(reason, DeferReason::OutsideHours);
    assert_eq!(next_available.as_deref(), Some("2027-01-18T15:00:00+04:00"));
    // Teacher 1 has no hours: always reachable.
    sim.send(UserId(13), named(1));
    assert!(sim.offer_of(UserId(1)).is_some());
}

#[test]
fn staff_are_reminded_when_their_hours_begin() {
    let mut sim = school();
    sim.send(
        UserId(2),
        ToHub::SetStatus {
            status: SetStatus::Away,
        },
    );
    sim.input(konsult_signaling::Input::HoursChanged {
        user: UserId(2),
        hours: vec![slot(5, "12:30", "13:00")],
    });
    sim.take(UserId(2));
    sim.advance(Duration::from_secs(29 * 60));
    assert!(sim.last(UserId(2), "hours_reminder").is_none(), "not yet");
    sim.advance(Duration::from_secs(2 * 60));
    let reminder = sim
        .last(UserId(2), "hours_reminder")
        .expect("reminded at 12:30");
    assert!(matches!(reminder, ServerMessage::HoursReminder { slot } if slot.start == "12:30"));
    // An available teacher is not reminded: next week's slot, while available.
    sim.send(UserId(2), available());
    sim.advance(Duration::from_secs(7 * 24 * 3600));
    assert!(sim.last(UserId(2), "hours_reminder").is_none());
}
