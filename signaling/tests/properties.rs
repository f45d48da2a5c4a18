//! Property tests of the hub's invariants over random sequences of what students and teachers
//! do: every request ends in exactly one of matched, deferred, cancelled; no student is in two
//! individual sessions; each subject's queue is FIFO; positions told are 1..n without gaps.

use konsult_signaling::testing::sim;

use konsult_protocol::model::{Form, Mode, SetStatus};
use konsult_protocol::{RequestId, ServerMessage, ToHub, UserId};
use konsult_signaling::{HubConfig, Outcome, RecordKey};
use proptest::prelude::*;
use sim::{Sim, student, teacher};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const STUDENTS: i64 = 6;
const TEACHERS: i64 = 3;
const SUBJECTS: [&str; 2] = ["math", "physics"];

#[derive(Clone, Debug)]
enum Step {
    Ask {
        student: i64,
        subject: usize,
        offline: bool,
    },
    Cancel {
        student: i64,
    },
    Accept {
        teacher: i64,
    },
    Decline {
        teacher: i64,
    },
    TakeNext {
        teacher: i64,
    },
    Status {
        teacher: i64,
        status: u8,
    },
    Drop {
        who: i64,
    },
    Return {
        who: i64,
    },
    EndSessions {
        teacher: i64,
    },
    Wait {
        secs: u64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1..=STUDENTS, 0..SUBJECTS.len(), prop::bool::weighted(0.1))
            .prop_map(|(student, subject, offline)| Step::Ask { student, subject, offline }),
        1 => (1..=STUDENTS).prop_map(|student| Step::Cancel { student }),
        3 => (1..=TEACHERS).prop_map(|teacher| Step::Accept { teacher }),
        1 => (1..=TEACHERS).prop_map(|teacher| Step::Decline { teacher }),
        1 => (1..=TEACHERS).prop_map(|teacher| Step::TakeNext { teacher }),
        2 => (1..=TEACHERS, 0..3u8).prop_map(|(teacher, status)| Step::Status { teacher, status }),
        1 => (1..=STUDENTS + TEACHERS).prop_map(|who| Step::Drop { who }),
        1 => (1..=STUDENTS + TEACHERS).prop_map(|who| Step::Return { who }),
        2 => (1..=TEACHERS).prop_map(|teacher| Step::EndSessions { teacher }),
        2 => (1..90u64).prop_map(|secs| Step::Wait { secs }),
    ]
}

fn teacher_id(n: i64) -> UserId {
    UserId(100 + n)
}

fn teacher_info(n: i64) -> konsult_protocol::model::UserInfo {
    // Teacher 1 does both subjects, the others one each.
    let subjects: &[&str] = match n {
        1 => &["math", "physics"],
        2 => &["math"],
        _ => &["physics"],
    };
    teacher(100 + n, subjects)
}

struct World {
    sim: Sim,
    /// The offer each teacher holds, as last seen.
    offers: BTreeMap<UserId, RequestId>,
    /// Sessions each teacher hosts.
    hosted: BTreeMap<UserId, BTreeSet<konsult_protocol::SessionId>>,
    /// The last position each student was told, per request.
    told: BTreeMap<RequestId, (UserId, u32)>,
    /// Requests created.
    created: BTreeSet<RequestId>,
    online: BTreeSet<UserId>,
}

impl World {
    fn new() -> World {
        let mut sim = Sim::new(HubConfig::default());
        let mut online = BTreeSet::new();
        for n in 1..=TEACHERS {
            sim.connect(teacher_info(n));
            online.insert(teacher_id(n));
        }
        for n in 1..=STUDENTS {
            sim.connect(student(n, "9A"));
            online.insert(UserId(n));
        }
        World {
            sim,
            offers: BTreeMap::new(),
            hosted: BTreeMap::new(),
            told: BTreeMap::new(),
            created: BTreeSet::new(),
            online,
        }
    }

    /// Reads every mailbox: offers, sessions, positions, new requests.
    fn observe(&mut self) {
        let users: Vec<UserId> = self.online.iter().copied().collect();
        for user in users {
            for msg in self.sim.take(user) {
                match msg {
                    ServerMessage::HelpOffer { request, .. } => {
                        self.offers.insert(user, request.id);
                    }
                    ServerMessage::OfferWithdrawn { request }
                        if self.offers.get(&user) == Some(&request) =>
                    {
                        self.offers.remove(&user);
                    }
                    ServerMessage::SessionStarted { session } if session.host == user => {
                        self.hosted.entry(user).or_default().insert(session.id);
                        self.offers.remove(&user);
                    }
                    ServerMessage::SessionEnded { session, .. } => {
                        if let Some(s) = self.hosted.get_mut(&user) {
                            s.remove(&session);
                        }
                    }
                    ServerMessage::RequestQueued { request }
                    | ServerMessage::QueuePosition { request } => {
                        self.created.insert(request.id);
                        self.told.insert(request.id, (user, request.position));
                    }
                    ServerMessage::RequestDeferred { request, .. } => {
                        self.created.insert(request.id);
                        self.told.remove(&request.id);
                    }
                    ServerMessage::RequestCancelled { request } => {
                        self.told.remove(&request);
                    }
                    _ => {}
                }
            }
        }
    }

    fn apply(&mut self, step: &Step) {
        match *step {
            Step::Ask {
                student,
                subject,
                offline,
            } => {
                if self.online.contains(&UserId(student)) {
                    self.sim.send(
                        UserId(student),
                        ToHub::RequestHelp {
                            subject: SUBJECTS[subject].into(),
                            form: Form::Individual,
                            mode: if offline { Mode::Offline } else { Mode::Online },
                            topic: "t".into(),
                            teacher: None,
                            anonymous: false,
                        },
                    );
                }
            }
            Step::Cancel { student } => {
                if self.online.contains(&UserId(student)) {
                    let open: Vec<RequestId> = self.told.keys().copied().collect();
                    for request in open {
                        self.sim
                            .send(UserId(student), ToHub::CancelRequest { request });
                    }
                }
            }
            Step::Accept { teacher } | Step::Decline { teacher } => {
                let id = teacher_id(teacher);
                if let (true, Some(request)) =
                    (self.online.contains(&id), self.offers.get(&id).copied())
                {
                    let msg = if matches!(step, Step::Accept { .. }) {
                        ToHub::Accept { request }
                    } else {
                        ToHub::Decline { request }
                    };
                    self.offers.remove(&id);
                    self.sim.send(id, msg);
                }
            }
            Step::TakeNext { teacher } => {
                let id = teacher_id(teacher);
                if self.online.contains(&id) {
                    self.sim.send(id, ToHub::TakeNext { subject: None });
                }
            }
            Step::Status { teacher, status } => {
                let id = teacher_id(teacher);
                if self.online.contains(&id) {
                    let status =
                        [SetStatus::Available, SetStatus::Busy, SetStatus::Away][status as usize];
                    self.sim.send(id, ToHub::SetStatus { status });
                }
            }
            Step::Drop { who } => {
                let id = if who > STUDENTS {
                    teacher_id(who - STUDENTS)
                } else {
                    UserId(who)
                };
                if self.online.remove(&id) {
                    let conn = self.sim.conn_of[&id];
                    self.sim.take(id);
                    self.sim.disconnect(conn);
                }
            }
            Step::Return { who } => {
                let (id, info) = if who > STUDENTS {
                    (teacher_id(who - STUDENTS), teacher_info(who - STUDENTS))
                } else {
                    (UserId(who), student(who, "9A"))
                };
                if self.online.insert(id) {
                    self.sim.connect(info);
                }
            }
            Step::EndSessions { teacher } => {
                let id = teacher_id(teacher);
                if self.online.contains(&id) {
                    let sessions: Vec<_> = self
                        .hosted
                        .get(&id)
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .collect();
                    for session in sessions {
                        self.sim.send(id, ToHub::EndSession { session });
                    }
                }
            }
            Step::Wait { secs } => self.sim.advance(Duration::from_secs(secs)),
        }
        self.observe();
    }

    fn check(&self) {
        // No student is in two individual sessions.
        for n in 1..=STUDENTS {
            let individual = self
                .sim
                .hub
                .sessions_of(UserId(n))
                .into_iter()
                .filter(|s| self.sim.hub.session_form(*s) == Some(Form::Individual))
                .count();
            assert!(
                individual <= 1,
                "student {n} is in {individual} individual sessions"
            );
        }
        for subject in SUBJECTS {
            let queue = self.sim.hub.queued(subject);
            // FIFO: requests are numbered in the order they were made.
            assert!(
                queue.windows(2).all(|w| w[0] < w[1]),
                "{subject} queue out of order: {queue:?}"
            );
            // Every online student in the queue was told their exact position.
            for (i, request) in queue.iter().enumerate() {
                // Messages to a student who dropped are lost; they hear again on return.
                if let Some((student, told)) = self.told.get(request)
                    && self.online.contains(student)
                {
                    assert_eq!(
                        *told,
                        i as u32 + 1,
                        "request {request} told {told}, is at {}",
                        i + 1
                    );
                }
            }
        }
    }

    /// Terminal outcomes per request from the record.
    fn outcomes(&self) -> BTreeMap<RequestId, Vec<Outcome>> {
        let mut out: BTreeMap<RequestId, Vec<Outcome>> = BTreeMap::new();
        for record in &self.sim.records {
            if let RecordKey::Request(id) = record.key {
                let terminal = match record.outcome {
                    Outcome::InProgress => Some(Outcome::InProgress),
                    Outcome::Deferred => Some(Outcome::Deferred),
                    Outcome::Cancelled => Some(Outcome::Cancelled),
                    Outcome::Held => None,
                };
                if let Some(t) = terminal {
                    let entry = out.entry(id).or_default();
                    if !entry.contains(&t) {
                        entry.push(t);
                    }
                }
            }
        }
        out
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn invariants_hold_over_random_days(steps in prop::collection::vec(step(), 1..120)) {
        let mut world = World::new();
        for step in &steps {
            world.apply(step);
            world.check();
        }
        // Let every deadline pass: waits, offers, grace periods.
        world.sim.advance(Duration::from_secs(3600));
        world.observe();
        world.check();
        prop_assert_eq!(world.sim.hub.open_requests(), 0, "every request ended");
        let outcomes = world.outcomes();
        let ids: Vec<i64> = outcomes.keys().map(|r| r.0).collect();
        for (id, ends) in &outcomes {
            prop_assert_eq!(ends.len(), 1, "request {} ended as {:?}", id, ends);
        }
        // Request ids are dense: every request made has an outcome.
        if let Some(max) = ids.iter().max() {
            prop_assert_eq!(ids.len() as i64, *max, "a request has no outcome: {:?}", ids);
        }
    }
}
