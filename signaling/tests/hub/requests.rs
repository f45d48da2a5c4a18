//! Help requests: offers, queues and positions, declines, deferral, take next.

use crate::*;

#[test]
fn a_request_goes_to_the_longest_idle_teacher_and_accept_starts_a_session() {
    let mut sim = school();
    sim.send(UserId(11), help("math", "Квадратные уравнения"));
    let mail = sim.take(UserId(11));
    assert_eq!(queued_position(&mail), Some(1));
    // Teacher 1 became available first: longest idle.
    let offer = sim.offer_of(UserId(1)).expect("teacher 1 gets the offer");
    assert!(sim.offer_of(UserId(2)).is_none());
    sim.send(UserId(1), ToHub::Accept { request: offer });
    let teacher_mail = sim.take(UserId(1));
    let started = teacher_mail
        .iter()
        .find_map(|m| match m {
            ServerMessage::SessionStarted { session } => Some(session.clone()),
            _ => None,
        })
        .expect("teacher gets session_started");
    assert_eq!(started.form, Form::Individual);
    assert_eq!(started.media, MediaPath::P2p);
    assert_eq!(started.host, UserId(1));
    assert!(started.thread.0 > 0);
    let student_started = sim.last(UserId(11), "session_started");
    assert!(
        student_started.is_some(),
        "the student gets session_started"
    );
    assert_eq!(sim.hub.sessions_of(UserId(11)), vec![started.id]);
    // The teacher in an individual session is busy.
    let record = sim.records.last().expect("record");
    assert_eq!(record.key, RecordKey::Request(offer));
    assert_eq!(record.outcome, Outcome::InProgress);
    sim.send(
        UserId(12),
        ToHub::ListTeachers {
            subject: Some("math".into()),
        },
    );
    let teachers = sim.last(UserId(12), "teachers").expect("teachers");
    let ServerMessage::Teachers { teachers } = teachers else {
        unreachable!()
    };
    let t1 = teachers.iter().find(|t| t.id == UserId(1)).expect("t1");
    assert_eq!(t1.status, Status::Busy);
}

#[test]
fn one_open_request_per_student() {
    let mut sim = school();
    sim.send(UserId(11), help("math", "a"));
    sim.send(UserId(11), help("physics", "b"));
    assert_eq!(error_code(&sim.take(UserId(11))), Some(ErrorCode::Conflict));
}

#[test]
fn queue_positions_move_up_on_cancel_and_accept() {
    let mut sim = school();
    // Both teachers busy with offers for the first two; three more wait.
    for id in 11..=15 {
        sim.send(UserId(id), help("math", "x"));
    }
    for id in 11..=15 {
        assert_eq!(
            queued_position(&sim.take(UserId(id))),
            Some((id - 10) as u32)
        );
    }
    let request_13 = RequestId(3);
    sim.send(
        UserId(13),
        ToHub::CancelRequest {
            request: request_13,
        },
    );
    assert!(sim.last(UserId(13), "request_cancelled").is_some());
    assert_eq!(queued_position(&sim.take(UserId(14))), Some(3));
    assert_eq!(queued_position(&sim.take(UserId(15))), Some(4));
    let offer = sim.offer_of(UserId(1)).expect("offer");
    sim.send(UserId(1), ToHub::Accept { request: offer });
    assert_eq!(queued_position(&sim.take(UserId(14))), Some(2));
    assert_eq!(queued_position(&sim.take(UserId(15))), Some(3));
    // Another student cannot cancel someone else's request.
    sim.send(
        UserId(11),
        ToHub::CancelRequest {
            request: RequestId(5),
        },
    );
    assert_eq!(error_code(&sim.take(UserId(11))), Some(ErrorCode::NotFound));
}

#[test]
fn far_back_in_a_long_queue_positions_come_at_most_once_per_interval() {
    let mut sim = Sim::new(HubConfig::default());
    sim.connect(teacher(1, &["math"]));
    sim.send(UserId(1), available());
    for id in 11..=24 {
        sim.connect(student(id, "9A"));
        sim.send(UserId(id), help("math", "x"));
    }
    for id in 11..=24 {
        assert_eq!(
            queued_position(&sim.take(UserId(id))),
            Some((id - 10) as u32)
        );
    }
    // The head is taken: the first ten places hear at once, the places behind wait.
    let offer = sim.offer_of(UserId(1)).expect("offer");
    sim.send(UserId(1), ToHub::Accept { request: offer });
    for id in 12..=21 {
        assert_eq!(
            queued_position(&sim.take(UserId(id))),
            Some((id - 11) as u32)
        );
    }
    for id in 22..=24 {
        assert_eq!(queued_position(&sim.take(UserId(id))), None, "{id}");
    }
    // Another change within the interval: student 22 reaches the tenth place and hears it.
    sim.send(
        UserId(12),
        ToHub::CancelRequest {
            request: RequestId(2),
        },
    );
    for id in 13..=22 {
        assert_eq!(
            queued_position(&sim.take(UserId(id))),
            Some((id - 12) as u32)
        );
    }
    assert_eq!(queued_position(&sim.take(UserId(23))), None);
    // Once the interval is up, the ones held back get their latest place, once.
    sim.advance(Duration::from_secs(1));
    for id in [23, 24] {
        let positions: Vec<u32> = sim
            .of_type(UserId(id), "queue_position")
            .iter()
            .filter_map(|m| queued_position(std::slice::from_ref(m)))
            .collect();
        assert_eq!(positions, [(id - 12) as u32], "student {id}");
    }
    sim.advance(Duration::from_secs(5));
    for id in 13..=24 {
        let mail = sim.take(UserId(id));
        assert_eq!(queued_position(&mail), None, "{id}: {mail:?}");
    }
    // Every place told matches the queue.
    assert_eq!(sim.hub.queued("math").len(), 12);
}

#[test]
fn decline_passes_the_offer_on_and_all_declined_defers() {
    let mut sim = school();
    sim.send(UserId(11), help("math", "x"));
    let offer = sim.offer_of(UserId(1)).expect("offer to 1");
    sim.send(UserId(1), ToHub::Decline { request: offer });
    let again = sim.offer_of(UserId(2)).expect("offer to 2");
    assert_eq!(again, offer);
    sim.send(UserId(2), ToHub::Decline { request: offer });
    let deferred = sim.last(UserId(11), "request_deferred").expect("deferred");
    let ServerMessage::RequestDeferred { reason, thread, .. } = deferred else {
        unreachable!()
    };
    assert_eq!(reason, DeferReason::AllDeclined);
    let (_, spec) = sim
        .threads
        .iter()
        .find(|(t, _)| *t == thread)
        .expect("thread");
    assert!(spec.members.contains(&UserId(1)) && spec.members.contains(&UserId(2)));
    assert_eq!(spec.request, Some(offer));
    assert_eq!(
        sim.records.last().map(|r| r.outcome),
        Some(Outcome::Deferred)
    );
}

#[test]
fn an_unanswered_offer_moves_on_and_sets_the_teacher_away() {
    let mut sim = school();
    sim.send(UserId(11), help("math", "x"));
    let offer = sim.offer_of(UserId(1)).expect("offer");
    sim.advance(Duration::from_secs(31));
    assert_eq!(sim.offer_of(UserId(2)), Some(offer));
    let mail = sim.take(UserId(1));
    assert!(
        mail.iter()
            .any(|m| matches!(m, ServerMessage::OfferWithdrawn { .. }))
    );
    assert!(mail.iter().any(|m| matches!(
        m,
        ServerMessage::Presence {
            status: Status::Away,
            ..
        }
    )));
    sim.send(UserId(1), ToHub::Accept { request: offer });
    assert_eq!(error_code(&sim.take(UserId(1))), Some(ErrorCode::Conflict));
}

#[test]
fn requests_defer_when_nobody_is_online_offline_asked_or_the_wait_runs_out() {
    let mut sim = Sim::new(HubConfig::default());
    sim.know(teacher(3, &["russian"]));
    sim.connect(student(11, "9A"));
    sim.send(UserId(11), help("russian", "Причастия"));
    let m = sim.last(UserId(11), "request_deferred").expect("deferred");
    assert!(matches!(
        m,
        ServerMessage::RequestDeferred {
            reason: DeferReason::NoTeacher,
            ..
        }
    ));

    sim.connect(teacher(3, &["russian"]));
    sim.connect(student(12, "9A"));
    sim.send(
        UserId(12),
        ToHub::RequestHelp {
            subject: "russian".into(),
            form: Form::Individual,
            mode: Mode::Offline,
            topic: "Сочинение".into(),
            teacher: None,
            anonymous: false,
        },
    );
    let m = sim.last(UserId(12), "request_deferred").expect("deferred");
    assert!(matches!(
        m,
        ServerMessage::RequestDeferred {
            reason: DeferReason::Offline,
            ..
        }
    ));

    // Teacher 3 is online but away: the request waits, then hits the limit.
    sim.connect(student(13, "9A"));
    sim.send(UserId(13), help("russian", "Запятые"));
    assert_eq!(queued_position(&sim.take(UserId(13))), Some(1));
    sim.advance(Duration::from_secs(601));
    let m = sim.last(UserId(13), "request_deferred").expect("deferred");
    assert!(matches!(
        m,
        ServerMessage::RequestDeferred {
            reason: DeferReason::WaitLimit,
            ..
        }
    ));
}

#[test]
fn a_named_teacher_gets_the_offer_or_the_thread() {
    let mut sim = school();
    sim.send(
        UserId(11),
        ToHub::RequestHelp {
            subject: "math".into(),
            form: Form::Individual,
            mode: Mode::Online,
            topic: "x".into(),
            teacher: Some(UserId(2)),
            anonymous: false,
        },
    );
    assert!(
        sim.offer_of(UserId(1)).is_none(),
        "teacher 1 is idle longer but not named"
    );
    assert!(sim.offer_of(UserId(2)).is_some());

    sim.know(teacher(4, &["math"]));
    sim.send(
        UserId(12),
        ToHub::RequestHelp {
            subject: "math".into(),
            form: Form::Individual,
            mode: Mode::Online,
            topic: "y".into(),
            teacher: Some(UserId(4)),
            anonymous: false,
        },
    );
    let m = sim.last(UserId(12), "request_deferred").expect("deferred");
    let ServerMessage::RequestDeferred { thread, reason, .. } = m else {
        unreachable!()
    };
    assert_eq!(reason, DeferReason::NoTeacher);
    let (_, spec) = sim
        .threads
        .iter()
        .find(|(t, _)| *t == thread)
        .expect("thread");
    assert_eq!(spec.members, vec![UserId(12), UserId(4)]);
}

#[test]
fn take_next_takes_the_oldest_request_of_ones_subjects() {
    let mut sim = school();
    sim.send(
        UserId(1),
        ToHub::SetStatus {
            status: SetStatus::Busy,
        },
    );
    sim.send(
        UserId(2),
        ToHub::SetStatus {
            status: SetStatus::Busy,
        },
    );
    sim.send(UserId(11), help("physics", "p"));
    sim.advance(Duration::from_secs(1));
    sim.send(UserId(12), help("math", "m"));
    sim.send(UserId(2), ToHub::TakeNext { subject: None });
    let started = sim.last(UserId(12), "session_started");
    assert!(
        started.is_some(),
        "teacher 2 (math only) takes the math request"
    );
    sim.send(UserId(1), ToHub::TakeNext { subject: None });
    assert!(sim.last(UserId(11), "session_started").is_some());
    sim.send(
        UserId(2),
        ToHub::TakeNext {
            subject: Some("math".into()),
        },
    );
    assert_eq!(
        error_code(&sim.take(UserId(2))),
        Some(ErrorCode::Conflict),
        "busy in a session"
    );
    sim.connect(teacher(5, &["chemistry"]));
    sim.send(UserId(5), ToHub::TakeNext { subject: None });
    assert_eq!(error_code(&sim.take(UserId(5))), Some(ErrorCode::NotFound));
}

#[test]
fn students_cannot_act_as_staff() {
    let mut sim = school();
    sim.send(UserId(12), help("math", "x"));
    let offer = sim.offer_of(UserId(1)).expect("offer");
    for msg in [
        ToHub::Accept { request: offer },
        ToHub::Decline { request: offer },
        ToHub::TakeNext { subject: None },
        ToHub::ListQueue { subject: None },
        ToHub::SetStatus {
            status: SetStatus::Available,
        },
        ToHub::CreateSession {
            form: Form::Group,
            subject: "math".into(),
            title: "t".into(),
            invite: vec![UserId(12)],
            class: None,
            from_requests: vec![],
        },
    ] {
        sim.send(UserId(11), msg.clone());
        assert_eq!(
            error_code(&sim.take(UserId(11))),
            Some(ErrorCode::Forbidden),
            "{msg:?}"
        );
    }
    // Teachers cannot ask for help.
    sim.send(UserId(1), help("math", "x"));
    assert!(error_code(&sim.take(UserId(1))).is_some());
}

#[test]
fn a_support_request_deferred_with_no_support_staff_left_is_still_confidential() {
    let mut sim = Sim::new(HubConfig::default());
    let psychologist = support(5);
    sim.connect(psychologist.clone());
    sim.send(UserId(5), available());
    sim.connect(student(11, "9A"));
    sim.send(UserId(11), help("support", "Мне тревожно"));
    assert!(sim.offer_of(UserId(5)).is_some());
    sim.input(konsult_signaling::Input::UserChanged {
        user: psychologist,
        active: false,
    });
    sim.advance(Duration::from_secs(601));
    let deferred = sim.last(UserId(11), "request_deferred").expect("deferred");
    let ServerMessage::RequestDeferred { thread, .. } = deferred else {
        unreachable!()
    };
    let (_, spec) = sim
        .threads
        .iter()
        .find(|(t, _)| *t == thread)
        .expect("thread");
    assert_eq!(spec.members, vec![UserId(11)]);
    assert!(spec.confidential, "{spec:?}");
    assert!(sim.records.last().expect("record").confidential);
}
