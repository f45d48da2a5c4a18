//! The hub's behaviour, scenario by scenario, without sockets.

use konsult_signaling::testing::sim;

use konsult_protocol::model::{
    DeferReason, EndReason, Form, MediaPath, MediaState, Mode, SetStatus, Status, TrackKind,
};
use konsult_protocol::{
    ErrorCode, RequestId, ServerMessage, SignalData, SignalPeer, ToHub, UserId,
};
use konsult_signaling::{HubConfig, MediaCommand, Outcome, RecordKey};
use sim::{Sim, error_code, student, support, teacher};
use std::time::Duration;

fn help(subject: &str, topic: &str) -> ToHub {
    ToHub::RequestHelp {
        subject: subject.into(),
        form: Form::Individual,
        mode: Mode::Online,
        topic: topic.into(),
        teacher: None,
    }
}

fn available() -> ToHub {
    ToHub::SetStatus {
        status: SetStatus::Available,
    }
}

/// Teachers 1 (math, physics) and 2 (math), both available; students 11.. in 9A.
fn school() -> Sim {
    let mut sim = Sim::new(HubConfig::default());
    sim.connect(teacher(1, &["math", "physics"]));
    sim.connect(teacher(2, &["math"]));
    sim.send(UserId(1), available());
    sim.advance(Duration::from_secs(1));
    sim.send(UserId(2), available());
    for id in 11..=15 {
        sim.connect(student(id, "9A"));
    }
    for id in [1, 2, 11, 12, 13, 14, 15] {
        sim.take(UserId(id));
    }
    sim
}

fn queued_position(messages: &[ServerMessage]) -> Option<u32> {
    messages.iter().rev().find_map(|m| match m {
        ServerMessage::RequestQueued { request } | ServerMessage::QueuePosition { request } => {
            Some(request.position)
        }
        _ => None,
    })
}

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

fn group_session(sim: &mut Sim) -> konsult_protocol::SessionId {
    sim.send(
        UserId(1),
        ToHub::CreateSession {
            form: Form::Frontal,
            subject: "math".into(),
            title: "ОГЭ".into(),
            invite: vec![],
            class: Some("9A".into()),
            from_requests: vec![],
        },
    );
    let started = sim
        .last(UserId(1), "session_started")
        .expect("host started");
    let ServerMessage::SessionStarted { session } = started else {
        unreachable!()
    };
    for id in 11..=15 {
        let invite = sim.last(UserId(id), "session_invite");
        assert!(invite.is_some(), "student {id} invited");
    }
    session.id
}

#[test]
fn frontal_session_invites_the_class_and_moderation_changes_media_policy() {
    let mut sim = school();
    let id = group_session(&mut sim);
    sim.send(UserId(11), ToHub::JoinSession { session: id });
    sim.send(UserId(12), ToHub::JoinSession { session: id });
    assert!(sim.last(UserId(11), "session_started").is_some());
    let policy = sim.media.iter().rev().find_map(|c| match c {
        MediaCommand::SetPolicy { policy, .. } => Some(policy.clone()),
        _ => None,
    });
    let policy = policy.expect("policy");
    let publishers: Vec<UserId> = policy
        .members
        .iter()
        .filter(|m| m.may_publish)
        .map(|m| m.user)
        .collect();
    assert_eq!(
        publishers,
        vec![UserId(1)],
        "frontal: only the host publishes"
    );

    sim.send(UserId(12), ToHub::RaiseHand { session: id });
    let state = sim.last(UserId(1), "session_state").expect("state");
    let ServerMessage::SessionState {
        hands, version: v1, ..
    } = state
    else {
        unreachable!()
    };
    assert_eq!(hands, vec![UserId(12)]);

    sim.send(
        UserId(11),
        ToHub::GrantFloor {
            session: id,
            user: UserId(12),
        },
    );
    assert_eq!(
        error_code(&sim.take(UserId(11))),
        Some(ErrorCode::Forbidden)
    );
    sim.send(
        UserId(1),
        ToHub::GrantFloor {
            session: id,
            user: UserId(12),
        },
    );
    let state = sim.last(UserId(11), "session_state").expect("state");
    let ServerMessage::SessionState {
        floor,
        hands,
        version: v2,
        ..
    } = state
    else {
        unreachable!()
    };
    assert_eq!(floor, Some(UserId(12)));
    assert!(hands.is_empty());
    assert!(v2 > v1);
    let MediaCommand::SetPolicy { policy, .. } = sim.media.last().expect("policy").clone() else {
        panic!("expected a policy")
    };
    assert!(
        policy
            .members
            .iter()
            .any(|m| m.user == UserId(12) && m.may_publish)
    );

    sim.send(
        UserId(1),
        ToHub::Mute {
            session: id,
            user: UserId(12),
            kind: TrackKind::Video,
        },
    );
    let MediaCommand::SetPolicy { policy, .. } = sim.media.last().expect("policy").clone() else {
        panic!("expected a policy")
    };
    let m12 = policy
        .members
        .iter()
        .find(|m| m.user == UserId(12))
        .expect("member");
    assert_eq!(m12.muted, vec![TrackKind::Video]);

    sim.send(
        UserId(1),
        ToHub::RemoveMember {
            session: id,
            user: UserId(12),
        },
    );
    let ended = sim.last(UserId(12), "session_ended").expect("removed");
    assert!(matches!(
        ended,
        ServerMessage::SessionEnded {
            reason: EndReason::Removed,
            ..
        }
    ));
    sim.send(UserId(12), ToHub::JoinSession { session: id });
    assert_eq!(
        error_code(&sim.take(UserId(12))),
        Some(ErrorCode::Forbidden)
    );

    // Strangers cannot join.
    sim.connect(student(30, "10B"));
    sim.send(UserId(30), ToHub::JoinSession { session: id });
    assert_eq!(
        error_code(&sim.take(UserId(30))),
        Some(ErrorCode::Forbidden)
    );

    sim.send(UserId(11), ToHub::EndSession { session: id });
    assert_eq!(
        error_code(&sim.take(UserId(11))),
        Some(ErrorCode::Forbidden)
    );
    sim.send(UserId(1), ToHub::EndSession { session: id });
    assert!(sim.last(UserId(11), "session_ended").is_some());
    assert!(
        sim.last(UserId(13), "session_ended").is_some(),
        "invitees hear too"
    );
    assert_eq!(sim.records.last().map(|r| r.outcome), Some(Outcome::Held));
}

#[test]
fn queued_requests_can_be_pulled_into_a_group_session() {
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
    sim.send(UserId(11), help("math", "a"));
    sim.send(UserId(12), help("math", "b"));
    sim.send(UserId(13), help("math", "c"));
    sim.send(
        UserId(1),
        ToHub::CreateSession {
            form: Form::Group,
            subject: "math".into(),
            title: "Разбор".into(),
            invite: vec![],
            class: None,
            from_requests: vec![RequestId(1), RequestId(2)],
        },
    );
    assert!(sim.last(UserId(11), "session_invite").is_some());
    assert!(sim.last(UserId(12), "session_invite").is_some());
    assert_eq!(sim.hub.queued("math"), vec![RequestId(3)]);
    assert_eq!(queued_position(&sim.take(UserId(13))), Some(1));
}

#[test]
fn signal_is_relayed_between_the_two_members_only() {
    let mut sim = school();
    sim.send(UserId(11), help("math", "x"));
    let offer = sim.offer_of(UserId(1)).expect("offer");
    sim.send(UserId(1), ToHub::Accept { request: offer });
    let ServerMessage::SessionStarted { session } =
        sim.last(UserId(11), "session_started").expect("started")
    else {
        unreachable!()
    };
    let data = SignalData::Description {
        kind: konsult_protocol::SdpType::Offer,
        sdp: "v=0".into(),
    };
    sim.send(
        UserId(11),
        ToHub::Signal {
            session: session.id,
            to: SignalPeer::User(UserId(1)),
            data: data.clone(),
        },
    );
    let got = sim.last(UserId(1), "signal").expect("relayed");
    assert!(matches!(
        got,
        ServerMessage::Signal {
            from: SignalPeer::User(UserId(11)),
            ..
        }
    ));
    // Not to a stranger, not from a stranger.
    sim.send(
        UserId(11),
        ToHub::Signal {
            session: session.id,
            to: SignalPeer::User(UserId(12)),
            data: data.clone(),
        },
    );
    assert_eq!(error_code(&sim.take(UserId(11))), Some(ErrorCode::NotFound));
    sim.send(
        UserId(12),
        ToHub::Signal {
            session: session.id,
            to: SignalPeer::User(UserId(1)),
            data: data.clone(),
        },
    );
    assert_eq!(error_code(&sim.take(UserId(12))), Some(ErrorCode::NotFound));
    assert!(sim.last(UserId(12), "signal").is_none());
    // P2P sessions do not talk to the SFU until they fall back.
    sim.send(
        UserId(11),
        ToHub::Signal {
            session: session.id,
            to: SignalPeer::Sfu,
            data: data.clone(),
        },
    );
    assert_eq!(error_code(&sim.take(UserId(11))), Some(ErrorCode::Conflict));
    sim.send(
        UserId(11),
        ToHub::MediaFailed {
            session: session.id,
        },
    );
    let state = sim.last(UserId(1), "session_state").expect("state");
    assert!(matches!(
        state,
        ServerMessage::SessionState {
            media: MediaPath::Sfu,
            ..
        }
    ));
    sim.send(
        UserId(11),
        ToHub::Signal {
            session: session.id,
            to: SignalPeer::Sfu,
            data,
        },
    );
    assert!(sim.media.iter().any(|c| matches!(
        c,
        MediaCommand::Signal {
            user: UserId(11),
            ..
        }
    )));
}

#[test]
fn a_session_that_does_not_connect_moves_to_the_sfu() {
    let mut sim = school();
    sim.send(UserId(11), help("math", "x"));
    let offer = sim.offer_of(UserId(1)).expect("offer");
    sim.send(UserId(1), ToHub::Accept { request: offer });
    let ServerMessage::SessionStarted { session } =
        sim.last(UserId(11), "session_started").expect("started")
    else {
        unreachable!()
    };
    sim.send(
        UserId(11),
        ToHub::MediaState {
            session: session.id,
            state: MediaState::Connected,
        },
    );
    sim.advance(Duration::from_secs(16));
    let state = sim.last(UserId(1), "session_state").expect("state");
    assert!(matches!(
        state,
        ServerMessage::SessionState {
            media: MediaPath::Sfu,
            ..
        }
    ));
}

#[test]
fn a_student_who_drops_keeps_the_place_for_the_grace_period() {
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
    sim.send(UserId(11), help("math", "a"));
    sim.send(UserId(12), help("math", "b"));
    let conn = sim.conn_of[&UserId(11)];
    sim.disconnect(conn);
    sim.advance(Duration::from_secs(30));
    sim.connect(student(11, "9A"));
    assert_eq!(
        queued_position(&sim.take(UserId(11))),
        Some(1),
        "still first"
    );
    let conn = sim.conn_of[&UserId(11)];
    sim.disconnect(conn);
    sim.advance(Duration::from_secs(61));
    assert_eq!(sim.hub.queued("math"), vec![RequestId(2)]);
    assert_eq!(queued_position(&sim.take(UserId(12))), Some(1));
    assert!(
        sim.records
            .iter()
            .any(|r| r.key == RecordKey::Request(RequestId(1)) && r.outcome == Outcome::Cancelled)
    );
}

#[test]
fn a_host_who_does_not_return_ends_the_session() {
    let mut sim = school();
    let id = group_session(&mut sim);
    sim.send(UserId(11), ToHub::JoinSession { session: id });
    let conn = sim.conn_of[&UserId(1)];
    sim.disconnect(conn);
    sim.advance(Duration::from_secs(30));
    sim.connect(teacher(1, &["math", "physics"]));
    let mail = sim.take(UserId(1));
    assert!(
        mail.iter()
            .any(|m| matches!(m, ServerMessage::SessionStarted { .. })),
        "rejoined"
    );
    sim.send(UserId(1), ToHub::RaiseHand { session: id });
    assert_eq!(
        error_code(&sim.take(UserId(1))),
        Some(ErrorCode::BadRequest),
        "still the host"
    );
    let conn = sim.conn_of[&UserId(1)];
    sim.disconnect(conn);
    sim.advance(Duration::from_secs(61));
    let ended = sim.last(UserId(11), "session_ended").expect("ended");
    assert!(matches!(
        ended,
        ServerMessage::SessionEnded {
            reason: EndReason::HostLeft,
            ..
        }
    ));
}

#[test]
fn presence_reaches_the_teachers_other_devices_and_waiting_students() {
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
    let second = sim.connect(teacher(1, &["math", "physics"]));
    sim.take(UserId(1));
    sim.send(
        UserId(1),
        ToHub::SetStatus {
            status: SetStatus::Away,
        },
    );
    let mail = sim.take_conn(second);
    assert!(mail.iter().any(|(m, _)| matches!(
        m,
        ServerMessage::Presence {
            status: Status::Away,
            ..
        }
    )));
    let student_mail = sim.take(UserId(11));
    assert!(student_mail.iter().any(|m| matches!(
        m,
        ServerMessage::Presence {
            user: UserId(1),
            status: Status::Away
        }
    )));
    assert!(
        !sim.take(UserId(12))
            .iter()
            .any(|m| matches!(m, ServerMessage::Presence { .. })),
        "not waiting on physics"
    );
}

#[test]
fn support_consultations_are_confidential() {
    let mut sim = school();
    sim.connect(support(7));
    sim.send(UserId(7), available());
    sim.send(UserId(11), help("support", "Трудно с одноклассниками"));
    let offer = sim.offer_of(UserId(7)).expect("the psychologist gets it");
    assert!(sim.offer_of(UserId(1)).is_none());
    sim.send(
        UserId(1),
        ToHub::ListQueue {
            subject: Some("support".into()),
        },
    );
    assert_eq!(error_code(&sim.take(UserId(1))), Some(ErrorCode::Forbidden));
    sim.send(UserId(7), ToHub::Accept { request: offer });
    assert!(sim.records.last().expect("record").confidential);
}

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
