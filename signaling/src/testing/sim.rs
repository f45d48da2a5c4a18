//! A simulated school around one hub: people, connections, a clock, and mailboxes that the
//! hub's outputs are delivered to. Threads are "created" at once with fresh ids.

use crate::{
    ConnId, ConsultationRecord, Hub, HubConfig, HubSnapshot, IdSeeds, Input, MediaCommand, Now,
    Output, Recipients,
};
use konsult_protocol::model::{Role, UserInfo};
use konsult_protocol::{RequestId, Rid, ServerMessage, ThreadId, ToHub, UserId};
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Sim {
    pub hub: Hub,
    pub start: Instant,
    pub elapsed: Duration,
    next_conn: u64,
    next_thread: i64,
    /// Each connection's user.
    pub conn_user: HashMap<ConnId, UserId>,
    /// Each user's first connection.
    pub conn_of: HashMap<UserId, ConnId>,
    /// Messages delivered, per connection, with their `re`.
    pub mail: HashMap<ConnId, Vec<(ServerMessage, Option<Rid>)>>,
    pub records: Vec<ConsultationRecord>,
    pub media: Vec<MediaCommand>,
    pub threads: Vec<(ThreadId, crate::ThreadSpec)>,
    /// Messages the hub posted into threads.
    pub posts: Vec<(ThreadId, crate::OpeningMessage)>,
    pub people: HashMap<UserId, UserInfo>,
    /// The resume token each connection was given, as the server's `welcome` does.
    pub resume: HashMap<ConnId, String>,
}

pub fn student(id: i64, class: &str) -> UserInfo {
    UserInfo {
        id: UserId(id),
        login: format!("student{id}"),
        name: format!("Student {id}"),
        role: Role::Student,
        class: Some(class.into()),
        subjects: vec![],
        anonymous: false,
    }
}

pub fn teacher(id: i64, subjects: &[&str]) -> UserInfo {
    UserInfo {
        id: UserId(id),
        login: format!("teacher{id}"),
        name: format!("Teacher {id}"),
        role: Role::Teacher,
        class: None,
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        anonymous: false,
    }
}

pub fn support(id: i64) -> UserInfo {
    UserInfo {
        id: UserId(id),
        login: format!("psychologist{id}"),
        name: format!("Support {id}"),
        role: Role::Support,
        class: None,
        subjects: vec![],
        anonymous: false,
    }
}

impl Sim {
    pub fn new(config: HubConfig) -> Sim {
        let start = Instant::now();
        let now = Now {
            mono: start,
            unix_ms: 1_800_000_000_000,
            utc_offset_secs: 4 * 3600,
        };
        Sim {
            hub: Hub::new(
                config,
                IdSeeds {
                    next_request: 1,
                    next_session: 1,
                },
                now,
            ),
            start,
            elapsed: Duration::ZERO,
            next_conn: 1,
            next_thread: 100,
            conn_user: HashMap::new(),
            conn_of: HashMap::new(),
            mail: HashMap::new(),
            records: Vec::new(),
            media: Vec::new(),
            threads: Vec::new(),
            posts: Vec::new(),
            people: HashMap::new(),
            resume: HashMap::new(),
        }
    }

    /// The same school on another node: a hub restored from `snapshot` at this sim's time,
    /// with the same clients (their connections to the old node gone), clock and id sources,
    /// and empty mailboxes.
    pub fn restored(&self, config: HubConfig, snapshot: HubSnapshot) -> Sim {
        let mut sim = Sim {
            hub: Hub::restore(config, snapshot, self.now()),
            start: self.start,
            elapsed: self.elapsed,
            next_conn: self.next_conn,
            next_thread: self.next_thread,
            conn_user: self.conn_user.clone(),
            conn_of: self.conn_of.clone(),
            mail: HashMap::new(),
            records: Vec::new(),
            media: Vec::new(),
            threads: Vec::new(),
            posts: Vec::new(),
            people: self.people.clone(),
            resume: self.resume.clone(),
        };
        sim.drain();
        sim
    }

    /// Every client reconnects as one whose server went away does: a new connection with the
    /// resume token of its old one, then the old connection ends (the restored hub never knew
    /// it). Returns, per user, whether the hub knew the token (the `welcome`'s `resumed`).
    pub fn reconnect_all(&mut self) -> Vec<(UserId, bool)> {
        self.reconnect_all_replaying(true)
    }

    /// [`Sim::reconnect_all`]; `replayed`: whether the server has the messages the old
    /// connections missed, so that a client whose token the hub knows resumes. Without them
    /// (`false`), the hub is told the connection did not resume and tells each client where
    /// it stands, as a restored hub does.
    pub fn reconnect_all_replaying(&mut self, replayed: bool) -> Vec<(UserId, bool)> {
        let mut old: Vec<(ConnId, UserId)> = self.conn_user.iter().map(|(c, u)| (*c, *u)).collect();
        old.sort();
        let users: BTreeSet<UserId> = old.iter().map(|(_, u)| *u).collect();
        let mut resumed = Vec::new();
        for user in users {
            let token = old
                .iter()
                .filter(|(_, u)| *u == user)
                .find_map(|(c, _)| self.resume.get(c).cloned());
            let known = token
                .as_deref()
                .and_then(|t| self.hub.resume_of(t))
                .is_some_and(|u| u == user);
            resumed.push((user, known));
            let info = self.people[&user].clone();
            self.connect_as(info, known && replayed);
        }
        for (conn, _) in old {
            self.disconnect(conn);
        }
        resumed
    }

    pub fn now(&self) -> Now {
        Now {
            mono: self.start + self.elapsed,
            unix_ms: 1_800_000_000_000 + self.elapsed.as_millis() as i64,
            utc_offset_secs: 4 * 3600,
        }
    }

    /// Makes the hub know a user without connecting them.
    pub fn know(&mut self, user: UserInfo) {
        self.people.insert(user.id, user.clone());
        self.input(Input::UserChanged { user, active: true });
    }

    /// Connects a user (a new connection each call).
    pub fn connect(&mut self, user: UserInfo) -> ConnId {
        self.connect_as(user, false)
    }

    /// Connects a user; `resumed`: the server found the client's resume token.
    pub fn connect_as(&mut self, user: UserInfo, resumed: bool) -> ConnId {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.conn_user.insert(conn, user.id);
        self.conn_of.entry(user.id).or_insert(conn);
        self.people.insert(user.id, user.clone());
        self.input(Input::Connected {
            conn,
            user,
            resumed,
        });
        let token = format!("resume-{}", conn.0);
        self.resume.insert(conn, token.clone());
        self.input(Input::ResumeIssued { conn, token });
        conn
    }

    pub fn disconnect(&mut self, conn: ConnId) {
        let user = self.conn_user.remove(&conn);
        if let Some(user) = user
            && self.conn_of.get(&user) == Some(&conn)
        {
            self.conn_of.remove(&user);
            if let Some((c, _)) = self.conn_user.iter().find(|(_, u)| **u == user) {
                self.conn_of.insert(user, *c);
            }
        }
        self.input(Input::Disconnected { conn });
    }

    pub fn input(&mut self, input: Input) {
        let now = self.now();
        self.hub.handle_input(now, input);
        self.drain();
    }

    /// Sends a message from a user's first connection, with a rid.
    pub fn send(&mut self, user: UserId, msg: ToHub) {
        let conn = self.conn_of[&user];
        self.send_on(conn, msg);
    }

    pub fn send_on(&mut self, conn: ConnId, msg: ToHub) {
        self.input(Input::Message {
            conn,
            rid: Some(Rid::Num(1)),
            msg,
        });
    }

    pub fn advance(&mut self, by: Duration) {
        let target = self.elapsed + by;
        while let Some(at) = self.hub.poll_timeout() {
            let at = at.saturating_duration_since(self.start);
            if at > target {
                break;
            }
            self.elapsed = self.elapsed.max(at);
            let now = self.now();
            self.hub.handle_timeout(now);
            self.drain();
        }
        self.elapsed = target;
        let now = self.now();
        self.hub.handle_timeout(now);
        self.drain();
    }

    fn deliver(&mut self, to: Recipients, msg: ServerMessage, re: Option<Rid>) {
        let conns: Vec<ConnId> = match to {
            Recipients::Conn(c) => vec![c],
            Recipients::User(u) => self.conns_of(u),
            Recipients::UserExcept { user, except } => self
                .conns_of(user)
                .into_iter()
                .filter(|c| *c != except)
                .collect(),
            Recipients::Users(users) => users.iter().flat_map(|u| self.conns_of(*u)).collect(),
            Recipients::Conns(conns) => conns,
        };
        for conn in conns {
            self.mail
                .entry(conn)
                .or_default()
                .push((msg.clone(), re.clone()));
        }
    }

    fn conns_of(&self, user: UserId) -> Vec<ConnId> {
        let mut conns: Vec<ConnId> = self
            .conn_user
            .iter()
            .filter(|(_, u)| **u == user)
            .map(|(c, _)| *c)
            .collect();
        conns.sort();
        conns
    }

    fn drain(&mut self) {
        while let Some(output) = self.hub.poll_output() {
            match output {
                Output::Send { to, msg, re } => self.deliver(to, msg, re),
                Output::CreateThread { purpose, spec } => {
                    let thread = ThreadId(self.next_thread);
                    self.next_thread += 1;
                    self.threads.push((thread, spec));
                    let now = self.now();
                    self.hub.handle_input(
                        now,
                        Input::ThreadReady {
                            purpose,
                            thread: Ok(thread),
                        },
                    );
                }
                Output::Record(record) => self.records.push(record),
                Output::Post { thread, message } => self.posts.push((thread, message)),
                Output::Media(cmd) => self.media.push(cmd),
            }
        }
    }

    /// Takes every message delivered to the user's connections so far.
    pub fn take(&mut self, user: UserId) -> Vec<ServerMessage> {
        let conns = self.conns_of(user);
        let mut out = Vec::new();
        for conn in conns {
            out.extend(
                self.mail
                    .remove(&conn)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(m, _)| m),
            );
        }
        out
    }

    /// Takes the messages delivered to one connection, with their `re`.
    pub fn take_conn(&mut self, conn: ConnId) -> Vec<(ServerMessage, Option<Rid>)> {
        self.mail.remove(&conn).unwrap_or_default()
    }

    /// The last message of a type the user got (consuming the mailbox).
    pub fn last(&mut self, user: UserId, ty: &str) -> Option<ServerMessage> {
        self.take(user)
            .into_iter()
            .rev()
            .find(|m| m.type_name() == ty)
    }

    /// The user's messages of one type (consuming the mailbox).
    pub fn of_type(&mut self, user: UserId, ty: &str) -> Vec<ServerMessage> {
        self.take(user)
            .into_iter()
            .filter(|m| m.type_name() == ty)
            .collect()
    }

    /// The request id of the offer a teacher got last.
    pub fn offer_of(&mut self, teacher: UserId) -> Option<RequestId> {
        match self.last(teacher, "help_offer")? {
            ServerMessage::HelpOffer { request, .. } => Some(request.id),
            _ => None,
        }
    }
}

/// The error code a user's last error carried.
pub fn error_code(messages: &[ServerMessage]) -> Option<konsult_protocol::ErrorCode> {
    messages.iter().rev().find_map(|m| match m {
        ServerMessage::Error { code, .. } => Some(*code),
        _ => None,
    })
}
