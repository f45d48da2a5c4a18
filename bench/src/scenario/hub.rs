//! Row e, the hub alone: the same pairing storm driven straight into one
//! `konsult_signaling::Hub` on one thread, with no sockets, no encoding and no storage: the
//! messages per second one core's hub handles. Threads are "created" at once, as a store that
//! answers instantly would.

use crate::stats::Summary;
use konsult_protocol::model::{Form, Mode, Role, SetStatus, UserInfo};
use konsult_protocol::{Rid, ServerMessage, ThreadId, ToHub, UserId};
use konsult_signaling::{ConnId, Hub, HubConfig, IdSeeds, Input, Now, Output, Recipients};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, clap::Args)]
pub struct HubArgs {
    #[arg(long, default_value_t = 2_000)]
    pub students: usize,
    #[arg(long, default_value_t = 100)]
    pub teachers: usize,
    #[arg(long, default_value_t = 4)]
    pub subjects: usize,
    /// Storms are repeated, each on a fresh hub, for at least this long.
    #[arg(long, default_value_t = 5)]
    pub secs: u64,
    /// Advance the hub's clock by this many nanoseconds per input instead of reading the wall
    /// clock: every storm then does exactly the same work, so instruction counts
    /// (`valgrind --tool=callgrind`) compare builds on a noisy machine.
    #[arg(long)]
    pub tick_ns: Option<u64>,
}

const SUBJECTS: [&str; 8] = [
    "math",
    "physics",
    "russian",
    "chemistry",
    "biology",
    "history",
    "english",
    "literature",
];

/// Counts of one storm.
#[derive(Debug, Default)]
struct Counts {
    inputs: u64,
    outputs: u64,
    /// Messages to connections: one per connection a `Send` reaches.
    deliveries: u64,
    sessions: u64,
    /// Offers of a subject made out of request order (requests are numbered as they queue).
    order_violations: u64,
}

fn user(id: i64, role: Role, class: Option<&str>, subjects: Vec<String>) -> UserInfo {
    UserInfo {
        id: UserId(id),
        login: format!("u{id}"),
        name: format!("User {id}"),
        role,
        class: class.map(str::to_string),
        subjects,
        anonymous: false,
    }
}

/// One pairing storm on a fresh hub.
fn storm(args: &HubArgs, start: Instant) -> Counts {
    let subjects = &SUBJECTS[..args.subjects.clamp(1, SUBJECTS.len())];
    let storm_start = Instant::now();
    let ticks = std::cell::Cell::new(0u64);
    let clock = || match args.tick_ns {
        Some(tick) => storm_start + Duration::from_nanos(ticks.get() * tick),
        None => Instant::now(),
    };
    let now = || {
        ticks.set(ticks.get() + 1);
        let mono = clock();
        Now {
            mono,
            unix_ms: 1_800_000_000_000 + (mono - start).as_millis() as i64,
            utc_offset_secs: 4 * 3600,
        }
    };
    let mut hub = Hub::new(
        HubConfig::default(),
        IdSeeds {
            next_request: 1,
            next_session: 1,
        },
        now(),
    );
    let mut counts = Counts::default();
    let mut queue: VecDeque<Input> = VecDeque::new();
    let mut conn_of: HashMap<UserId, ConnId> = HashMap::new();
    let teachers = args.teachers as i64;
    for t in 1..=teachers {
        let subject = subjects[(t as usize - 1) % subjects.len()].to_string();
        let info = user(t, Role::Teacher, None, vec![subject]);
        conn_of.insert(info.id, ConnId(t as u64));
        queue.push_back(Input::Connected {
            conn: ConnId(t as u64),
            user: info,
            resumed: false,
        });
        queue.push_back(Input::Message {
            conn: ConnId(t as u64),
            rid: None,
            msg: ToHub::SetStatus {
                status: SetStatus::Available,
            },
        });
    }
    for s in 0..args.students as i64 {
        let id = teachers + 1 + s;
        let info = user(id, Role::Student, Some("B1"), Vec::new());
        conn_of.insert(info.id, ConnId(id as u64));
        queue.push_back(Input::Connected {
            conn: ConnId(id as u64),
            user: info,
            resumed: false,
        });
    }
    for s in 0..args.students as i64 {
        let id = teachers + 1 + s;
        queue.push_back(Input::Message {
            conn: ConnId(id as u64),
            rid: Some(Rid::Num(1)),
            msg: ToHub::RequestHelp {
                subject: subjects[s as usize % subjects.len()].to_string(),
                form: Form::Individual,
                mode: Mode::Online,
                topic: "bench".into(),
                teacher: None,
                anonymous: false,
            },
        });
    }
    let mut next_thread = 1i64;
    let mut last_offered: HashMap<String, i64> = HashMap::new();
    while let Some(input) = queue.pop_front() {
        counts.inputs += 1;
        hub.handle_input(now(), input);
        if hub.poll_timeout().is_some_and(|at| at <= clock()) {
            hub.handle_timeout(now());
        }
        while let Some(output) = hub.poll_output() {
            counts.outputs += 1;
            match output {
                Output::Send { to, msg, re } => {
                    let reached = match &to {
                        Recipients::Conn(_) | Recipients::User(_) => 1,
                        Recipients::UserExcept { .. } => 0,
                        Recipients::Users(users) => users.len() as u64,
                        Recipients::Conns(conns) => conns.len() as u64,
                    };
                    counts.deliveries += reached;
                    let teacher_conn = match to {
                        Recipients::Conn(c) if c.0 <= teachers as u64 => Some(c),
                        Recipients::User(u) if u.0 <= teachers => conn_of.get(&u).copied(),
                        _ => None,
                    };
                    let Some(conn) = teacher_conn else { continue };
                    match msg {
                        ServerMessage::HelpOffer { request, .. } => {
                            let before = last_offered.insert(request.subject.clone(), request.id.0);
                            if before.is_some_and(|b| b > request.id.0) {
                                counts.order_violations += 1;
                            }
                            queue.push_back(Input::Message {
                                conn,
                                rid: Some(Rid::Num(2)),
                                msg: ToHub::Accept {
                                    request: request.id,
                                },
                            })
                        }
                        ServerMessage::SessionStarted { session } if re.is_some() => {
                            counts.sessions += 1;
                            queue.push_back(Input::Message {
                                conn,
                                rid: Some(Rid::Num(3)),
                                msg: ToHub::EndSession {
                                    session: session.id,
                                },
                            })
                        }
                        _ => {}
                    }
                }
                Output::CreateThread { purpose, .. } => {
                    queue.push_back(Input::ThreadReady {
                        purpose,
                        thread: Ok(ThreadId(next_thread)),
                    });
                    next_thread += 1;
                }
                Output::Record(_) | Output::Media(_) | Output::Post { .. } => {}
            }
        }
    }
    counts
}

pub fn run(args: &HubArgs) -> Summary {
    let start = Instant::now();
    let mut total = Counts::default();
    let mut storms = 0u64;
    let mut busy = Duration::ZERO;
    let mut matched_every_time = true;
    while start.elapsed() < Duration::from_secs(args.secs) || storms == 0 {
        let t = Instant::now();
        let c = storm(args, start);
        busy += t.elapsed();
        storms += 1;
        matched_every_time &= c.sessions == args.students as u64;
        total.inputs += c.inputs;
        total.outputs += c.outputs;
        total.deliveries += c.deliveries;
        total.sessions += c.sessions;
        total.order_violations += c.order_violations;
    }
    let secs = busy.as_secs_f64();
    let mut s = Summary::new("hub", "in-process");
    s.param("students", args.students)
        .param("teachers", args.teachers)
        .param("subjects", args.subjects)
        .param("storms", storms)
        .param("threads", 1);
    s.figure("inputs_per_sec", total.inputs as f64 / secs, "msg/s")
        .figure("outputs_per_sec", total.outputs as f64 / secs, "out/s")
        .figure(
            "deliveries_per_sec",
            total.deliveries as f64 / secs,
            "msg/s",
        )
        .figure("storm_ms", secs * 1e3 / storms as f64, "ms")
        .figure("inputs_per_storm", (total.inputs / storms) as f64, "inputs")
        .figure(
            "offers_out_of_queue_order",
            total.order_violations as f64,
            "offers",
        )
        .figure(
            "sessions_per_storm",
            (total.sessions / storms) as f64,
            "sessions",
        );
    if !matched_every_time {
        s.note("some storm did not match every request");
    }
    s
}
