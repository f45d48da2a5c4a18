//! Drives a hub with a sequence of operations read from arbitrary bytes: every message type,
//! from every kind of user, with ids that may or may not exist, raw frames decoded from the
//! bytes, disconnects and time passing. Used by the fuzz target and by a property test; the
//! hub must never panic and its invariants must hold after every step.

use super::sim::{Sim, student, support, teacher};
use crate::{HubConfig, Input};
use konsult_protocol::model::{Cameras, Form, MediaState, Mode, PollKind, SetStatus, TrackKind};
use konsult_protocol::{
    ClientMessage, Envelope, RequestId, SdpType, SessionId, SignalData, SignalPeer, ToHub, UserId,
    decode_client_frame,
};
use std::time::Duration;

/// Reads bytes one at a time, with zeros past the end.
struct Bytes<'a> {
    data: &'a [u8],
    at: usize,
}

impl Bytes<'_> {
    fn next(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    fn done(&self) -> bool {
        self.at >= self.data.len()
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.next() as usize % items.len()]
    }
}

/// The ids of the school's users: three teachers, a psychologist, five students.
pub const USERS: [i64; 9] = [1, 2, 3, 7, 11, 12, 13, 14, 15];

/// The hub's limits in the driven school.
pub fn config() -> HubConfig {
    HubConfig {
        session_members: 6,
        // Places behind the head are throttled from the second on.
        immediate_positions: 1,
        ..HubConfig::default()
    }
}

/// Who user `id` of [`USERS`] is.
pub fn info(id: i64) -> konsult_protocol::model::UserInfo {
    match id {
        1 => teacher(1, &["math", "physics"]),
        2 => teacher(2, &["math"]),
        3 => teacher(3, &["physics"]),
        7 => support(7),
        n if n < 14 => student(n, "9A"),
        n => student(n, "9B"),
    }
}

/// The driven school with everyone connected.
pub fn school() -> Sim {
    let mut sim = Sim::new(config());
    for id in USERS {
        sim.connect(info(id));
    }
    sim
}

/// Runs the operations the bytes describe.
pub fn run(data: &[u8]) {
    let mut sim = school();
    run_on(&mut sim, data, |sim| {
        for id in USERS {
            sim.take(UserId(id));
        }
    });
}

/// Runs the operations the bytes describe on `sim`, checking the invariants and calling
/// `after` after each.
pub fn run_on(sim: &mut Sim, data: &[u8], mut after: impl FnMut(&mut Sim)) {
    let mut bytes = Bytes { data, at: 0 };
    let mut steps = 0;
    while !bytes.done() && steps < 2_000 {
        steps += 1;
        step(sim, &mut bytes);
        check(sim);
        after(sim);
    }
}

fn small_request(bytes: &mut Bytes<'_>) -> RequestId {
    RequestId(i64::from(bytes.next() % 12))
}

fn small_session(bytes: &mut Bytes<'_>) -> SessionId {
    SessionId(i64::from(bytes.next() % 8))
}

fn step(sim: &mut Sim, bytes: &mut Bytes<'_>) {
    let user = UserId(bytes.pick(&USERS));
    let other = UserId(bytes.pick(&USERS));
    let subject = bytes
        .pick(&["math", "physics", "support", "history"])
        .to_string();
    let msg = match bytes.next() % 30 {
        0..=3 => ToHub::RequestHelp {
            subject,
            form: bytes.pick(&[Form::Individual, Form::Group, Form::Frontal]),
            mode: bytes.pick(&[Mode::Online, Mode::Online, Mode::Offline]),
            topic: bytes.pick(&["", "x", "Дроби"]).to_string(),
            teacher: (bytes.next().is_multiple_of(3)).then_some(other),
            anonymous: false,
        },
        4 => ToHub::CancelRequest {
            request: small_request(bytes),
        },
        5..=7 => ToHub::Accept {
            request: small_request(bytes),
        },
        8 => ToHub::Decline {
            request: small_request(bytes),
        },
        9 => ToHub::TakeNext {
            subject: (bytes.next().is_multiple_of(2)).then_some(subject),
        },
        10 | 11 => ToHub::SetStatus {
            status: bytes.pick(&[SetStatus::Available, SetStatus::Busy, SetStatus::Away]),
        },
        12 => ToHub::CreateSession {
            form: bytes.pick(&[Form::Group, Form::Frontal, Form::Individual]),
            subject,
            title: "t".into(),
            invite: (0..bytes.next() % 4)
                .map(|_| UserId(bytes.pick(&USERS)))
                .collect(),
            class: bytes
                .pick(&[None, Some("9A"), Some("9B"), Some("1Z")])
                .map(String::from),
            from_requests: (0..bytes.next() % 3)
                .map(|_| small_request(bytes))
                .collect(),
        },
        13 | 14 => ToHub::JoinSession {
            session: small_session(bytes),
        },
        15 => ToHub::LeaveSession {
            session: small_session(bytes),
        },
        16 => ToHub::EndSession {
            session: small_session(bytes),
        },
        17 => ToHub::RaiseHand {
            session: small_session(bytes),
        },
        18 => ToHub::LowerHand {
            session: small_session(bytes),
            user: (bytes.next().is_multiple_of(2)).then_some(other),
        },
        19 => ToHub::GrantFloor {
            session: small_session(bytes),
            user: other,
        },
        20 => ToHub::RevokeFloor {
            session: small_session(bytes),
        },
        21 => ToHub::Mute {
            session: small_session(bytes),
            user: other,
            kind: bytes.pick(&[TrackKind::Audio, TrackKind::Video, TrackKind::Screen]),
        },
        22 => {
            let session = small_session(bytes);
            match bytes.next() % 6 {
                0 => ToHub::RemoveMember {
                    session,
                    user: other,
                },
                1 => ToHub::SetCohost {
                    session,
                    user: other,
                    cohost: bytes.next().is_multiple_of(2),
                },
                2 => ToHub::CreatePoll {
                    session,
                    question: bytes.pick(&["", "?", "Понятно?"]).to_string(),
                    kind: bytes.pick(&[PollKind::Single, PollKind::Multiple, PollKind::YesNo]),
                    options: (0..bytes.next() % 12)
                        .map(|n| bytes.pick(&["", "a", "б"]).repeat(usize::from(n % 2) + 1))
                        .collect(),
                    anonymous: bytes.next().is_multiple_of(2),
                },
                3 => ToHub::Vote {
                    session,
                    poll: u32::from(bytes.next() % 4),
                    choices: (0..bytes.next() % 4)
                        .map(|_| u32::from(bytes.next() % 12))
                        .collect(),
                },
                4 => ToHub::ClosePoll {
                    session,
                    poll: u32::from(bytes.next() % 4),
                    publish: bytes.next().is_multiple_of(2),
                },
                _ => ToHub::ShowCameras {
                    session,
                    to: bytes.pick(&[Cameras::Host, Cameras::Class]),
                },
            }
        }
        23 => ToHub::Signal {
            session: small_session(bytes),
            to: if bytes.next().is_multiple_of(2) {
                SignalPeer::Sfu
            } else {
                SignalPeer::User(other)
            },
            data: SignalData::Description {
                kind: SdpType::Offer,
                sdp: "v=0".into(),
            },
        },
        24 => ToHub::MediaState {
            session: small_session(bytes),
            state: bytes.pick(&[
                Some(MediaState::Connected),
                Some(MediaState::Failed),
                Some(MediaState::AudioOnly),
                None,
            ]),
            off: match bytes.pick(&[0u8, 1, 2, 3]) {
                0 => None,
                1 => Some(Vec::new()),
                2 => Some(vec![TrackKind::Audio]),
                _ => Some(vec![TrackKind::Video, TrackKind::Audio, TrackKind::Video]),
            },
        },
        25 => match bytes.next() % 3 {
            0 => ToHub::MediaFailed {
                session: small_session(bytes),
            },
            1 => ToHub::MediaView {
                session: small_session(bytes),
                video: None,
            },
            _ => ToHub::MediaView {
                session: small_session(bytes),
                video: Some(
                    (0..bytes.next() % 4)
                        .map(|_| UserId(bytes.pick(&USERS)))
                        .collect(),
                ),
            },
        },
        26 => {
            // Connections come and go.
            match sim.conn_of.get(&user).copied() {
                Some(conn) if bytes.next().is_multiple_of(2) => sim.disconnect(conn),
                _ => {
                    sim.connect(info(user.0));
                }
            }
            return;
        }
        27 => {
            sim.advance(Duration::from_secs(u64::from(bytes.next())));
            return;
        }
        28 => {
            let session = small_session(bytes);
            let state = bytes.pick(&[MediaState::Connected, MediaState::Failed]);
            sim.input(Input::Media {
                session,
                user,
                state,
            });
            return;
        }
        _ => {
            // A raw frame: whatever decodes into a message for the hub goes to it.
            let len = usize::from(bytes.next());
            let raw: Vec<u8> = (0..len).map(|_| bytes.next()).collect();
            let Ok(text) = std::str::from_utf8(&raw) else {
                return;
            };
            match decode_client_frame(text) {
                Ok(Envelope {
                    msg: ClientMessage::Hub(msg),
                    ..
                }) => msg,
                _ => return,
            }
        }
    };
    if sim.conn_of.contains_key(&user) {
        sim.send(user, msg);
    }
}

/// Invariants that hold after every step.
fn check(sim: &Sim) {
    for id in USERS {
        let individual = sim
            .hub
            .sessions_of(UserId(id))
            .into_iter()
            .filter(|s| sim.hub.session_form(*s) == Some(Form::Individual))
            .count();
        let is_student = id >= 11;
        assert!(
            !is_student || individual <= 1,
            "invariant: a student is in at most one individual session ({id} is in {individual})"
        );
    }
    for subject in ["math", "physics", "support", "history"] {
        let queue = sim.hub.queued(subject);
        assert!(
            queue.windows(2).all(|w| w[0] < w[1]),
            "invariant: queues are FIFO ({subject}: {queue:?})"
        );
    }
}
