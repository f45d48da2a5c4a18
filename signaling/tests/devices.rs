//! One user on several devices, without sockets: which connection a session's media signals
//! reach (docs/protocol.md, One user, several devices).

use konsult_signaling::testing::sim;

use konsult_protocol::model::{Form, MediaState, Mode, SetStatus};
use konsult_protocol::{ServerMessage, SessionId, SignalData, SignalPeer, ToHub, UserId};
use konsult_signaling::{ConnId, HubConfig};
use sim::{Sim, student, teacher};

const TEACHER: UserId = UserId(1);
const STUDENT: UserId = UserId(11);

fn signal(session: SessionId, to: UserId) -> ToHub {
    ToHub::Signal {
        session,
        to: SignalPeer::User(to),
        data: SignalData::Candidate {
            candidate: "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: None,
            username_fragment: None,
        },
    }
}

fn got_signal(sim: &mut Sim, conn: ConnId) -> bool {
    sim.take_conn(conn)
        .iter()
        .any(|(m, _)| matches!(m, ServerMessage::Signal { .. }))
}

/// The teacher on a desk and a laptop; the laptop accepts the student's request.
fn call_on_the_laptop() -> (Sim, ConnId, ConnId, SessionId) {
    let mut sim = Sim::new(HubConfig::default());
    let desk = sim.connect(teacher(1, &["math"]));
    let laptop = sim.connect(teacher(1, &["math"]));
    sim.send_on(
        desk,
        ToHub::SetStatus {
            status: SetStatus::Available,
        },
    );
    sim.connect(student(11, "9A"));
    sim.send(
        STUDENT,
        ToHub::RequestHelp {
            subject: "math".into(),
            form: Form::Individual,
            mode: Mode::Online,
            topic: "x".into(),
            teacher: None,
            anonymous: false,
        },
    );
    let request = sim.offer_of(TEACHER).expect("offer");
    sim.send_on(laptop, ToHub::Accept { request });
    let Some(ServerMessage::SessionStarted { session }) = sim.last(STUDENT, "session_started")
    else {
        panic!("no session");
    };
    sim.take(TEACHER);
    (sim, desk, laptop, session.id)
}

#[test]
fn the_call_reaches_the_device_that_accepted_then_the_one_that_joined() {
    let (mut sim, desk, laptop, session) = call_on_the_laptop();
    sim.send(STUDENT, signal(session, TEACHER));
    assert!(got_signal(&mut sim, laptop));
    assert!(!got_signal(&mut sim, desk));
    sim.send_on(desk, ToHub::JoinSession { session });
    sim.take(TEACHER);
    sim.send(STUDENT, signal(session, TEACHER));
    assert!(got_signal(&mut sim, desk));
    assert!(!got_signal(&mut sim, laptop));
}

#[test]
fn a_closed_media_device_hands_the_call_to_the_others() {
    let (mut sim, desk, laptop, session) = call_on_the_laptop();
    sim.send(STUDENT, signal(session, TEACHER));
    assert!(got_signal(&mut sim, laptop));
    sim.send(
        TEACHER,
        ToHub::MediaState {
            session,
            state: Some(MediaState::Connected),
            off: None,
        },
    );
    sim.take(STUDENT);
    sim.disconnect(laptop);
    // The teacher's media went with the laptop: the student sees it connecting again.
    let Some(ServerMessage::SessionState { members, .. }) = sim.last(STUDENT, "session_state")
    else {
        panic!("no session_state after the laptop closed");
    };
    let teacher = members.iter().find(|m| m.user.id == TEACHER).expect("host");
    assert_eq!(teacher.media, MediaState::Connecting);
    sim.send(STUDENT, signal(session, TEACHER));
    assert!(got_signal(&mut sim, desk));
}
