//! Students' cameras in a frontal session: private to the host by default, shown to the class
//! by the host's `show_cameras`, one student shown to everyone with the floor; group sessions
//! unchanged; a student may not change the rule.

use crate::*;
use konsult_protocol::SessionId;
use konsult_protocol::model::Cameras;
use konsult_signaling::MemberPolicy;

/// Teacher 1's frontal lesson of 9A with students 11 and 12 in it.
fn lesson(sim: &mut Sim, form: Form) -> SessionId {
    sim.send(
        UserId(1),
        ToHub::CreateSession {
            form,
            subject: "math".into(),
            title: "Урок".into(),
            invite: if form == Form::Frontal {
                vec![]
            } else {
                vec![UserId(11), UserId(12)]
            },
            class: (form == Form::Frontal).then(|| "9A".into()),
            from_requests: vec![],
        },
    );
    let Some(ServerMessage::SessionStarted { session }) = sim.last(UserId(1), "session_started")
    else {
        panic!("the session started")
    };
    for student in [11, 12] {
        sim.send(
            UserId(student),
            ToHub::JoinSession {
                session: session.id,
            },
        );
    }
    session.id
}

/// The policy the SFU was last given, by member.
fn last_policy(sim: &Sim, id: SessionId) -> Vec<MemberPolicy> {
    sim.media
        .iter()
        .rev()
        .find_map(|c| match c {
            MediaCommand::SetPolicy { session, policy } if *session == id => {
                Some(policy.members.clone())
            }
            _ => None,
        })
        .expect("a policy")
}

fn of(policy: &[MemberPolicy], user: i64) -> (Audience, Audience) {
    let m = policy
        .iter()
        .find(|m| m.user == UserId(user))
        .unwrap_or_else(|| panic!("no policy for {user}: {policy:?}"));
    (m.audio_to.clone(), m.video_to.clone())
}

fn cameras(sim: &mut Sim, user: i64) -> Cameras {
    match sim.last(UserId(user), "session_state") {
        Some(ServerMessage::SessionState { cameras, .. }) => cameras,
        other => panic!("no session_state for {user}: {other:?}"),
    }
}

fn show(sim: &mut Sim, user: i64, id: SessionId, to: Cameras) {
    sim.send(UserId(user), ToHub::ShowCameras { session: id, to });
}

const NOBODY: Audience = Audience::Only(Vec::new());

#[test]
fn a_frontal_students_camera_reaches_the_host_alone_and_its_voice_nobody() {
    let mut sim = school();
    let id = lesson(&mut sim, Form::Frontal);
    let policy = last_policy(&sim, id);
    assert_eq!(of(&policy, 1), (Audience::Everyone, Audience::Everyone));
    for student in [11, 12] {
        assert_eq!(
            of(&policy, student),
            (NOBODY, Audience::Only(vec![UserId(1)])),
            "student {student}"
        );
    }
    assert_eq!(cameras(&mut sim, 11), Cameras::Host);
    assert_eq!(cameras(&mut sim, 1), Cameras::Host);
}

#[test]
fn the_host_shows_the_class_to_itself_and_takes_it_back() {
    let mut sim = school();
    let id = lesson(&mut sim, Form::Frontal);
    show(&mut sim, 1, id, Cameras::Class);
    assert!(sim.last(UserId(1), "ok").is_some());
    let policy = last_policy(&sim, id);
    // Seen by everyone, still heard by nobody: a voice takes the floor.
    assert_eq!(of(&policy, 11), (NOBODY, Audience::Everyone));
    assert_eq!(of(&policy, 12), (NOBODY, Audience::Everyone));
    assert_eq!(cameras(&mut sim, 12), Cameras::Class);

    // The same rule again changes nothing: no new policy.
    let sent = sim.media.len();
    show(&mut sim, 1, id, Cameras::Class);
    assert_eq!(sim.media.len(), sent);

    show(&mut sim, 1, id, Cameras::Host);
    let policy = last_policy(&sim, id);
    assert_eq!(of(&policy, 11), (NOBODY, Audience::Only(vec![UserId(1)])));
    assert_eq!(cameras(&mut sim, 12), Cameras::Host);
}

#[test]
fn the_floor_shows_one_student_to_everyone() {
    let mut sim = school();
    let id = lesson(&mut sim, Form::Frontal);
    sim.send(
        UserId(1),
        ToHub::GrantFloor {
            session: id,
            user: UserId(12),
        },
    );
    let policy = last_policy(&sim, id);
    assert_eq!(of(&policy, 12), (Audience::Everyone, Audience::Everyone));
    assert_eq!(of(&policy, 11), (NOBODY, Audience::Only(vec![UserId(1)])));
    sim.send(UserId(1), ToHub::RevokeFloor { session: id });
    let policy = last_policy(&sim, id);
    assert_eq!(of(&policy, 12), (NOBODY, Audience::Only(vec![UserId(1)])));
}

#[test]
fn with_the_host_away_a_students_camera_reaches_nobody() {
    let mut sim = school();
    let id = lesson(&mut sim, Form::Frontal);
    sim.send(UserId(1), ToHub::LeaveSession { session: id });
    let policy = last_policy(&sim, id);
    assert_eq!(of(&policy, 11), (NOBODY, NOBODY));
    sim.send(UserId(1), ToHub::JoinSession { session: id });
    let policy = last_policy(&sim, id);
    assert_eq!(of(&policy, 11), (NOBODY, Audience::Only(vec![UserId(1)])));
}

#[test]
fn only_the_host_of_a_frontal_session_changes_the_rule() {
    let mut sim = school();
    let id = lesson(&mut sim, Form::Frontal);
    let sent = sim.media.len();
    let version = |sim: &mut Sim| match sim.last(UserId(1), "session_state") {
        Some(ServerMessage::SessionState { version, .. }) => version,
        other => panic!("{other:?}"),
    };
    let before = version(&mut sim);
    show(&mut sim, 11, id, Cameras::Class);
    assert_eq!(
        error_code(&sim.take(UserId(11))),
        Some(ErrorCode::Forbidden)
    );
    // A teacher outside the session does not learn it exists.
    show(&mut sim, 2, id, Cameras::Class);
    assert_eq!(error_code(&sim.take(UserId(2))), Some(ErrorCode::NotFound));
    show(&mut sim, 1, SessionId(9999), Cameras::Class);
    assert_eq!(error_code(&sim.take(UserId(1))), Some(ErrorCode::NotFound));
    sim.advance(Duration::from_secs(1));
    assert_eq!(sim.media.len(), sent, "no policy change");
    assert!(
        sim.last(UserId(1), "session_state").is_none_or(
            |s| matches!(s, ServerMessage::SessionState { version, .. } if version == before)
        ),
        "no new state"
    );
    assert_eq!(
        of(&last_policy(&sim, id), 11).1,
        Audience::Only(vec![UserId(1)])
    );
}

#[test]
fn a_group_session_shows_every_camera_and_refuses_the_rule() {
    let mut sim = school();
    let id = lesson(&mut sim, Form::Group);
    let policy = last_policy(&sim, id);
    for user in [1, 11, 12] {
        assert_eq!(of(&policy, user), (Audience::Everyone, Audience::Everyone));
    }
    assert_eq!(cameras(&mut sim, 11), Cameras::Class);
    show(&mut sim, 1, id, Cameras::Host);
    assert_eq!(error_code(&sim.take(UserId(1))), Some(ErrorCode::Conflict));
    assert_eq!(
        of(&last_policy(&sim, id), 11),
        (Audience::Everyone, Audience::Everyone)
    );
}

#[test]
fn the_rule_survives_a_move_to_another_owner() {
    let mut sim = school();
    let id = lesson(&mut sim, Form::Frontal);
    show(&mut sim, 1, id, Cameras::Class);
    let mut moved = sim.restored(HubConfig::default(), sim.hub.snapshot());
    moved.reconnect_all();
    assert_eq!(
        of(&last_policy(&moved, id), 11),
        (NOBODY, Audience::Everyone)
    );
    assert_eq!(cameras(&mut moved, 11), Cameras::Class);
}

#[test]
fn a_co_host_sees_every_camera_and_may_show_the_class_to_itself() {
    let mut sim = school();
    let id = lesson(&mut sim, Form::Frontal);
    let cohost = |sim: &mut Sim, on: bool| {
        sim.send(
            UserId(1),
            ToHub::SetCohost {
                session: id,
                user: UserId(11),
                cohost: on,
            },
        );
    };
    cohost(&mut sim, true);
    let policy = last_policy(&sim, id);
    assert_eq!(
        of(&policy, 12),
        (NOBODY, Audience::Only(vec![UserId(1), UserId(11)]))
    );
    show(&mut sim, 12, id, Cameras::Class);
    assert!(
        sim.last(UserId(12), "error").is_some(),
        "a student showed the class"
    );
    show(&mut sim, 11, id, Cameras::Class);
    assert!(sim.last(UserId(11), "ok").is_some());
    assert_eq!(of(&last_policy(&sim, id), 12), (NOBODY, Audience::Everyone));
    show(&mut sim, 11, id, Cameras::Host);
    cohost(&mut sim, false);
    assert_eq!(
        of(&last_policy(&sim, id), 12),
        (NOBODY, Audience::Only(vec![UserId(1)]))
    );
}
