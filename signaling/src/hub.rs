//! The hub: its state, the entry points, and the plumbing every part shares (replies, errors,
//! the output queue, permissions).

use crate::ids::IdMap;
use crate::io::{ConnId, Input, Now, Output, Recipients};
use crate::people::Person;
use crate::refusal::Asker;
use crate::requests::{HelpAsked, Request};
use crate::sessions::{NewSession, Session};
use crate::staff::StaffIndex;
use crate::timers::{Timer, Timers};
use konsult_protocol::{ErrorCode, RequestId, Rid, ServerMessage, SessionId, ToHub, UserId};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// The hub's limits and deadlines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubConfig {
    /// How long a teacher has to accept an offer.
    pub offer_timeout: Duration,
    /// How long a request may wait in a queue before it is deferred.
    pub max_wait: Duration,
    /// How long a dropped user keeps their queue place, and a dropped host the session.
    pub grace: Duration,
    /// How long an individual session may take to connect peer to peer.
    pub p2p_timeout: Duration,
    /// Most members (host included) of one session.
    pub session_members: usize,
    /// Least time between two queue snapshots pushed to a subject's staff.
    pub queue_push_interval: Duration,
    /// How often students further back than [`HubConfig::immediate_positions`] hear that
    /// their place changed (the latest place, once per interval).
    pub position_interval: Duration,
    /// Places at the head of a queue that hear every change at once.
    pub immediate_positions: u32,
}

impl Default for HubConfig {
    fn default() -> HubConfig {
        HubConfig {
            offer_timeout: Duration::from_secs(30),
            max_wait: Duration::from_secs(600),
            grace: Duration::from_secs(60),
            p2p_timeout: Duration::from_secs(15),
            session_members: 1_000,
            queue_push_interval: Duration::from_secs(1),
            position_interval: Duration::from_secs(1),
            immediate_positions: 10,
        }
    }
}

/// The first ids to hand out, so that ids stay unique across restarts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdSeeds {
    pub next_request: i64,
    pub next_session: i64,
}

/// One school's hub.
#[derive(Debug)]
pub struct Hub {
    pub(crate) config: HubConfig,
    /// Everyone the hub knows: accounts, their connections and presence.
    pub(crate) people: IdMap<UserId, Person>,
    /// Active staff by subject served.
    pub(crate) staff: StaffIndex,
    /// Which user each connection belongs to.
    pub(crate) conns: IdMap<ConnId, UserId>,
    /// Open help requests (queued or being offered).
    pub(crate) requests: IdMap<RequestId, Request>,
    /// One FIFO queue per subject.
    pub(crate) queues: BTreeMap<String, VecDeque<RequestId>>,
    /// Live sessions.
    pub(crate) sessions: IdMap<SessionId, Session>,
    /// Connections that asked for `list_teachers` and get `presence` updates.
    pub(crate) presence_watchers: BTreeSet<ConnId>,
    /// Subjects whose queue changed since positions were last sent.
    pub(crate) dirty_subjects: BTreeSet<String>,
    /// Subjects with a queue snapshot push pending.
    pub(crate) queue_push_pending: BTreeSet<String>,
    /// Subjects whose places behind the head are due to be sent at a timer.
    pub(crate) positions_pending: BTreeSet<String>,
    /// Subjects whose timer fired: every place is sent at the next flush.
    pub(crate) positions_due: BTreeSet<String>,
    /// Recent waits from request to session, per subject, for estimates.
    pub(crate) recent_waits: HashMap<String, VecDeque<Duration>>,
    pub(crate) timers: Timers,
    pub(crate) next_request: i64,
    pub(crate) next_session: i64,
    pub(crate) outputs: VecDeque<Output>,
    /// The time of the input being handled.
    pub(crate) now: Now,
}

impl Hub {
    /// A hub that knows no one yet; `start` is the time it starts at.
    pub fn new(config: HubConfig, seeds: IdSeeds, start: Now) -> Hub {
        Hub {
            config,
            people: IdMap::default(),
            staff: StaffIndex::default(),
            conns: IdMap::default(),
            requests: IdMap::default(),
            queues: BTreeMap::new(),
            sessions: IdMap::default(),
            presence_watchers: BTreeSet::new(),
            dirty_subjects: BTreeSet::new(),
            queue_push_pending: BTreeSet::new(),
            positions_pending: BTreeSet::new(),
            positions_due: BTreeSet::new(),
            recent_waits: HashMap::new(),
            timers: Timers::default(),
            next_request: seeds.next_request.max(1),
            next_session: seeds.next_session.max(1),
            outputs: VecDeque::new(),
            now: start,
        }
    }

    /// Handles one input at time `now`.
    pub fn handle_input(&mut self, now: Now, input: Input) {
        self.now = now;
        match input {
            Input::Connected {
                conn,
                user,
                resumed,
            } => self.on_connected(conn, user, resumed),
            Input::Disconnected { conn } => self.on_disconnected(conn),
            Input::Message { conn, rid, msg } => self.on_message(conn, rid, msg),
            Input::ThreadReady { purpose, thread } => self.on_thread_ready(purpose, thread),
            Input::Media {
                session,
                user,
                state,
            } => self.on_media_event(session, user, state),
            Input::UserChanged { user, active } => self.on_user_changed(user, active),
            Input::HoursChanged { user, hours } => self.on_hours_changed(user, hours),
        }
        self.settle();
    }

    /// Handles every deadline that has passed at `now`.
    pub fn handle_timeout(&mut self, now: Now) {
        self.now = now;
        while let Some((at, timer)) = self.timers.pop_due(now.mono) {
            self.on_timer(at, timer);
        }
        self.settle();
    }

    /// When the hub next needs [`Hub::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// The next thing to do, until `None`.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// After every input: offer waiting requests to free teachers, then tell students whose
    /// place changed.
    fn settle(&mut self) {
        self.match_requests();
        self.flush_positions();
        self.flush_snapshots();
    }

    fn on_timer(&mut self, at: Instant, timer: Timer) {
        match timer {
            Timer::Offer(request, teacher) => self.on_offer_expired(request, teacher, at),
            Timer::WaitLimit(request) => self.on_wait_limit(request),
            Timer::Grace(user) => self.on_grace_over(user),
            Timer::P2p(session) => self.on_p2p_timeout(session),
            Timer::QueueBroadcast(subject) => self.push_queue_snapshot(&subject),
            Timer::Positions(subject) => {
                self.positions_pending.remove(&subject);
                self.mark_dirty(&subject);
                self.positions_due.insert(subject);
            }
            Timer::Snapshot(session) => self.on_snapshot_timer(session),
            Timer::Hours(user) => self.on_hours_timer(user),
        }
    }

    fn on_message(&mut self, conn: ConnId, rid: Option<Rid>, msg: ToHub) {
        let Some(&user) = self.conns.get(&conn) else {
            self.push(Output::Send {
                to: Recipients::Conn(conn),
                msg: ServerMessage::error(ErrorCode::Unauthorized, "not connected to the hub"),
                re: rid,
            });
            return;
        };
        let asker = Asker { user, conn, rid };
        let result = match msg {
            ToHub::SetStatus { status } => self.set_status(&asker, status),
            ToHub::ListTeachers { subject } => self.list_teachers(&asker, subject),
            ToHub::RequestHelp {
                subject,
                form,
                mode,
                topic,
                teacher,
            } => self.request_help(
                &asker,
                HelpAsked {
                    subject,
                    form,
                    mode,
                    topic,
                    teacher,
                },
            ),
            ToHub::CancelRequest { request } => self.cancel_request(&asker, request),
            ToHub::Accept { request } => self.accept(&asker, request),
            ToHub::Decline { request } => self.decline(&asker, request),
            ToHub::TakeNext { subject } => self.take_next(&asker, subject),
            ToHub::ListQueue { subject } => self.list_queue(&asker, subject),
            ToHub::CreateSession {
                form,
                subject,
                title,
                invite,
                class,
                from_requests,
            } => self.create_session(
                &asker,
                NewSession {
                    form,
                    subject,
                    title,
                    invite,
                    class,
                    from_requests,
                },
            ),
            ToHub::JoinSession { session } => self.join_session(&asker, session),
            ToHub::LeaveSession { session } => self.leave_session(&asker, session),
            ToHub::EndSession { session } => self.end_session(&asker, session),
            ToHub::RaiseHand { session } => self.raise_hand(&asker, session),
            ToHub::LowerHand {
                session,
                user: target,
            } => self.lower_hand(&asker, session, target),
            ToHub::GrantFloor {
                session,
                user: target,
            } => self.grant_floor(&asker, session, target),
            ToHub::RevokeFloor { session } => self.revoke_floor(&asker, session),
            ToHub::Mute {
                session,
                user: target,
                kind,
            } => self.set_mute(&asker, session, target, kind, true),
            ToHub::Unmute {
                session,
                user: target,
                kind,
            } => self.set_mute(&asker, session, target, kind, false),
            ToHub::RemoveMember {
                session,
                user: target,
            } => self.remove_member(&asker, session, target),
            ToHub::Signal { session, to, data } => self.signal(&asker, session, to, data),
            ToHub::MediaState { session, state } => self.media_state(&asker, session, state),
            ToHub::MediaFailed { session } => self.media_failed(&asker, session),
        };
        if let Err(refusal) = result {
            self.push(Output::Send {
                to: Recipients::Conn(conn),
                msg: ServerMessage::error(refusal.code, refusal.message),
                re: asker.rid,
            });
        }
    }

    pub(crate) fn push(&mut self, output: Output) {
        self.outputs.push_back(output);
    }

    /// Sends a message to one connection, answering `re`.
    pub(crate) fn reply(&mut self, conn: ConnId, re: Option<&Rid>, msg: ServerMessage) {
        self.push(Output::Send {
            to: Recipients::Conn(conn),
            msg,
            re: re.cloned(),
        });
    }

    /// Answers the asker on the connection they asked on.
    pub(crate) fn answer(&mut self, asker: &Asker, msg: ServerMessage) {
        self.reply(asker.conn, asker.re(), msg);
    }

    /// Answers the asker with `ok` when the request carried a `rid`.
    pub(crate) fn ok(&mut self, asker: &Asker) {
        if asker.rid.is_some() {
            self.answer(asker, ServerMessage::Ok {});
        }
    }

    pub(crate) fn send_user(&mut self, user: UserId, msg: ServerMessage) {
        self.push(Output::Send {
            to: Recipients::User(user),
            msg,
            re: None,
        });
    }

    pub(crate) fn send_users(&mut self, users: Vec<UserId>, msg: ServerMessage) {
        if users.is_empty() {
            return;
        }
        self.push(Output::Send {
            to: Recipients::Users(users),
            msg,
            re: None,
        });
    }

    /// Outputs waiting to be drained (for tests and benchmarks).
    pub fn pending_outputs(&self) -> usize {
        self.outputs.len()
    }

    /// Open help requests.
    pub fn open_requests(&self) -> usize {
        self.requests.len()
    }

    /// Live sessions.
    pub fn live_sessions(&self) -> usize {
        self.sessions.len()
    }
}
