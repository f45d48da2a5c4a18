//! Live sessions: group and frontal, moderation, signals, the fallback to the SFU, members who
//! drop, presence, confidentiality.

use crate::*;

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
        .filter(|m| m.audio_to == Audience::Everyone && m.video_to == Audience::Everyone)
        .map(|m| m.user)
        .collect();
    assert_eq!(
        publishers,
        vec![UserId(1)],
        "frontal: only the host reaches everyone"
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
    assert!(policy.members.iter().any(|m| m.user == UserId(12)
        && m.audio_to == Audience::Everyone
        && m.video_to == Audience::Everyone));

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
            state: Some(MediaState::Connected),
            off: None,
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
fn a_member_who_switches_the_microphone_off_is_shown_so_to_the_others() {
    let mut sim = school();
    sim.send(UserId(11), help("math", "x"));
    let offer = sim.offer_of(UserId(1)).expect("offer");
    sim.send(UserId(1), ToHub::Accept { request: offer });
    let ServerMessage::SessionStarted { session } =
        sim.last(UserId(11), "session_started").expect("started")
    else {
        unreachable!()
    };
    let off_of = |sim: &mut Sim, user: UserId| {
        sim.advance(Duration::from_millis(300));
        let Some(ServerMessage::SessionState { members, .. }) =
            sim.last(UserId(1), "session_state")
        else {
            panic!("no session_state");
        };
        members
            .iter()
            .find(|m| m.user.id == user)
            .expect("member")
            .off
            .clone()
    };
    let report = |off: Option<Vec<TrackKind>>| ToHub::MediaState {
        session: session.id,
        state: Some(MediaState::Connected),
        off,
    };
    sim.send(
        UserId(11),
        report(Some(vec![
            TrackKind::Video,
            TrackKind::Audio,
            TrackKind::Audio,
        ])),
    );
    assert_eq!(
        off_of(&mut sim, UserId(11)),
        vec![TrackKind::Audio, TrackKind::Video]
    );
    // A report without `off` leaves it as it was (nothing new to tell); an empty one clears it.
    sim.send(UserId(11), report(None));
    sim.advance(Duration::from_millis(300));
    assert!(sim.last(UserId(1), "session_state").is_none());
    sim.send(UserId(11), report(Some(Vec::new())));
    assert_eq!(off_of(&mut sim, UserId(11)), Vec::<TrackKind>::new());
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

/// The statuses of `teacher` pushed to a user in `presence`, in order (consuming the mailbox).
fn presence_of(sim: &mut Sim, user: UserId, teacher: UserId) -> Vec<Status> {
    sim.take(user)
        .into_iter()
        .filter_map(|m| match m {
            ServerMessage::Presence { user, status } if user == teacher => Some(status),
            _ => None,
        })
        .collect()
}

/// `teacher`'s status in the `teachers` list a user asks for now.
fn listed_status(sim: &mut Sim, user: UserId, teacher: UserId) -> Status {
    sim.send(user, ToHub::ListTeachers { subject: None });
    let Some(ServerMessage::Teachers { teachers }) = sim.last(user, "teachers") else {
        panic!("no teachers list for {user}");
    };
    teachers
        .iter()
        .find(|t| t.id == teacher)
        .map(|t| t.status)
        .expect("the teacher is listed")
}

#[test]
fn a_teacher_in_a_consultation_is_busy_to_students_until_it_ends() {
    let mut sim = school();
    let laptop = sim.conn_of[&UserId(1)];
    let phone = sim.connect(teacher(1, &["math", "physics"]));
    // Student 12 watches the teacher list; student 13 will wait in the physics queue.
    assert_eq!(
        listed_status(&mut sim, UserId(12), UserId(1)),
        Status::Available
    );
    sim.send(UserId(11), help("physics", "Рычаг"));
    let offer = sim
        .offer_of(UserId(1))
        .expect("the physics teacher gets it");
    sim.send(UserId(13), help("physics", "Блок"));
    for id in [1, 12, 13] {
        sim.take(UserId(id));
    }

    sim.send_on(laptop, ToHub::Accept { request: offer });
    let ServerMessage::SessionStarted { session } =
        sim.last(UserId(11), "session_started").expect("started")
    else {
        unreachable!()
    };
    assert_eq!(session.form, Form::Individual);
    for user in [UserId(12), UserId(13)] {
        assert_eq!(
            presence_of(&mut sim, user, UserId(1)),
            vec![Status::Busy],
            "{user} hears that the teacher is in a consultation"
        );
    }
    assert!(
        sim.take_conn(phone).iter().any(|(m, _)| matches!(
            m,
            ServerMessage::Presence {
                status: Status::Busy,
                ..
            }
        )),
        "the teacher's other device hears it too"
    );
    // A student who opens the list now sees the same.
    assert_eq!(listed_status(&mut sim, UserId(14), UserId(1)), Status::Busy);

    sim.send_on(
        laptop,
        ToHub::LeaveSession {
            session: session.id,
        },
    );
    assert_eq!(
        presence_of(&mut sim, UserId(12), UserId(1)),
        vec![Status::Available],
        "free again once the consultation ends"
    );
    assert_eq!(
        listed_status(&mut sim, UserId(14), UserId(1)),
        Status::Available
    );
    // Free, the teacher is offered student 13's request at once.
    assert!(sim.offer_of(UserId(1)).is_some());
}

#[test]
fn a_teacher_who_takes_the_next_request_is_busy_to_students() {
    let mut sim = school();
    sim.send(
        UserId(1),
        ToHub::SetStatus {
            status: SetStatus::Away,
        },
    );
    sim.send(UserId(11), help("physics", "Рычаг"));
    assert_eq!(listed_status(&mut sim, UserId(12), UserId(1)), Status::Away);
    sim.take(UserId(12));
    sim.send(UserId(1), ToHub::TakeNext { subject: None });
    assert!(sim.last(UserId(11), "session_started").is_some());
    assert_eq!(
        presence_of(&mut sim, UserId(12), UserId(1)),
        vec![Status::Busy]
    );
}

#[test]
fn the_host_of_a_frontal_session_keeps_the_status_they_set() {
    let mut sim = school();
    assert_eq!(
        listed_status(&mut sim, UserId(15), UserId(1)),
        Status::Available
    );
    sim.take(UserId(15));
    let id = group_session(&mut sim);
    assert_eq!(presence_of(&mut sim, UserId(15), UserId(1)), vec![]);
    assert_eq!(
        listed_status(&mut sim, UserId(15), UserId(1)),
        Status::Available
    );
    sim.send(UserId(1), ToHub::EndSession { session: id });
    assert_eq!(presence_of(&mut sim, UserId(15), UserId(1)), vec![]);
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
