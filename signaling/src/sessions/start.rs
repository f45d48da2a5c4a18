//! Starting sessions: from a request a teacher took, or as a group or frontal session a
//! teacher creates; announcing them once their chat exists; and their records.

use super::{ROSTER_LIMIT, Session, SessionMember, Sessions};
use crate::ctx::Ctx;
use crate::io::{
    BookedSlot, BookedStudent, OpeningMessage, OpeningText, ThreadPurpose, ThreadSpec,
};
use crate::io::{ConnId, ConsultationRecord, Outcome, Output, Recipients, RecordKey};
use crate::people::People;
use crate::refusal::{Asker, Refusal};
use crate::requests::TakenRequest;
use crate::timers::Timer;
use konsult_protocol::limits::{MAX_INVITES, MAX_TOPIC_CHARS};
use konsult_protocol::model::{
    EndReason, Form, MediaPath, MediaState, Mode, SessionInfo, SessionRole, ThreadKind,
};
use konsult_protocol::{ErrorCode, RequestId, Rid, ServerMessage, SessionId, ThreadId, UserId};
use std::collections::{BTreeMap, BTreeSet};

/// A session a teacher asks for with `create_session`.
#[derive(Debug)]
pub(crate) struct NewSession {
    pub form: Form,
    pub subject: String,
    pub title: String,
    pub invite: Vec<UserId>,
    /// A class whose students are all invited.
    pub class: Option<String>,
    /// Queued requests whose students are invited, taking them out of their queue.
    pub from_requests: Vec<RequestId>,
}

/// A group or frontal session checked and ready to open, once the requests it pulls in are.
#[derive(Debug)]
pub(crate) struct GroupPlan {
    form: Form,
    subject: String,
    title: String,
    class: Option<String>,
    invitees: BTreeSet<UserId>,
    from_requests: Vec<RequestId>,
}

impl GroupPlan {
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The queued requests the session takes in.
    pub fn pulled_requests(&self) -> &[RequestId] {
        &self.from_requests
    }
}

/// What a session opens with, besides its host.
#[derive(Debug)]
struct SessionSpec {
    form: Form,
    mode: Mode,
    subject: String,
    title: String,
    class: Option<String>,
    /// The record the session updates: its request's, or (`None`) one of its own.
    record: Option<RecordKey>,
}

impl Sessions {
    fn new_session_id(&mut self) -> SessionId {
        let id = SessionId(self.next_session);
        self.next_session += 1;
        id
    }

    /// A session of `host` as `spec` describes it, not yet live: the host is its member, not in
    /// it yet, and nobody else is invited.
    fn new_session(&mut self, host: UserId, spec: SessionSpec, cx: &Ctx) -> Session {
        let SessionSpec {
            form,
            mode,
            subject,
            title,
            class,
            record,
        } = spec;
        let id = self.new_session_id();
        let media = if form == Form::Individual {
            MediaPath::P2p
        } else {
            MediaPath::Sfu
        };
        let mut members = BTreeMap::new();
        members.insert(
            host,
            SessionMember {
                role: SessionRole::Host,
                present: false,
                media: MediaState::Connecting,
                muted: Vec::new(),
                off: Vec::new(),
                media_conn: None,
            },
        );
        Session {
            id,
            form,
            mode,
            subject,
            title,
            host,
            class,
            media,
            thread: None,
            started: cx.now.mono,
            started_ms: cx.now.unix_ms,
            members,
            invited: BTreeSet::new(),
            removed: BTreeSet::new(),
            participants: BTreeSet::new(),
            floor: None,
            hands: Vec::new(),
            cohosts: BTreeSet::new(),
            polls: Default::default(),
            version: 0,
            record: record.unwrap_or(RecordKey::Session(id)),
            requests: Vec::new(),
            pulled: Vec::new(),
            answer: None,
            dirty: false,
            snapshot_scheduled: false,
            last_policy: None,
            class_sees_cameras: false,
        }
    }

    /// Opens a session hosted by the asker, who is in it at once and hears of it once its
    /// thread exists.
    fn open_session(
        &mut self,
        asker: &Asker,
        spec: SessionSpec,
        people: &mut People,
        cx: &Ctx,
    ) -> SessionId {
        let host = asker.user;
        let mut session = self.new_session(host, spec, cx);
        if let Some(member) = session.members.get_mut(&host) {
            member.present = true;
            member.media_conn = Some(asker.conn);
        }
        session.participants.insert(host);
        session.answer = Some((asker.conn, asker.rid.clone()));
        let (id, form) = (session.id, session.form);
        self.sessions.insert(id, session);
        people.enter_session(host, id, form);
        id
    }

    /// Adds a present member.
    pub(super) fn seat(
        &mut self,
        session: SessionId,
        user: UserId,
        conn: Option<ConnId>,
        people: &mut People,
    ) {
        let Some(s) = self.sessions.get_mut(&session) else {
            return;
        };
        let member = s.members.entry(user).or_insert(SessionMember {
            role: SessionRole::Member,
            present: true,
            media: MediaState::Connecting,
            muted: Vec::new(),
            off: Vec::new(),
            media_conn: None,
        });
        member.present = true;
        if conn.is_some() {
            member.media_conn = conn;
        }
        s.participants.insert(user);
        s.invited.insert(user);
        s.dirty = true;
        people.enter_session(user, session, s.form);
    }

    /// A teacher took a request: an individual (or small group) session with its student.
    pub fn start_for_request(
        &mut self,
        asker: &Asker,
        request: &TakenRequest,
        people: &mut People,
        cx: &mut Ctx,
    ) -> SessionId {
        let teacher = asker.user;
        let id = self.open_session(
            asker,
            SessionSpec {
                form: request.form,
                mode: request.mode,
                subject: request.subject.clone(),
                title: request.topic.clone(),
                class: None,
                record: Some(RecordKey::Request(request.id)),
            },
            people,
            cx,
        );
        self.seat(id, request.student, None, people);
        let session = self.sessions.get_mut(&id).expect("just opened");
        session.requests.push(request.id);
        if session.media == MediaPath::P2p {
            cx.after(cx.config.p2p_timeout, Timer::P2p(id));
        }
        cx.out.push(Output::CreateThread {
            purpose: ThreadPurpose::Session(id),
            spec: ThreadSpec {
                kind: if request.form == Form::Individual {
                    ThreadKind::Personal
                } else {
                    ThreadKind::Group
                },
                title: format!("{}: {}", request.subject, request.topic),
                members: vec![teacher, request.student],
                class: None,
                request: Some(request.id),
                session: Some(id),
                opening: Vec::new(),
                confidential: people.confidential(&request.subject, Some(teacher)),
            },
        });
        id
    }

    /// Opens the session of a booked slot as it begins: hosted by its staff member, who is
    /// invited as its students are (nobody is in it until they join), with a thread that starts
    /// with each student's topic. `None` when the staff member or every student is gone.
    pub fn open_booked(
        &mut self,
        teacher: UserId,
        slot: &BookedSlot,
        people: &mut People,
        cx: &mut Ctx,
    ) -> Option<SessionId> {
        let students: Vec<&BookedStudent> = slot
            .students
            .iter()
            .filter(|b| people.require_active(b.student).is_ok() && b.student != teacher)
            .collect();
        if people.require_active(teacher).is_err()
            || !people.is_staff(teacher)
            || students.is_empty()
        {
            return None;
        }
        let form = if slot.form == Form::Individual && students.len() == 1 {
            Form::Individual
        } else {
            Form::Group
        };
        let title: String = students
            .iter()
            .map(|b| b.topic.trim())
            .collect::<Vec<_>>()
            .join("; ")
            .chars()
            .take(MAX_TOPIC_CHARS)
            .collect();
        let mut session = self.new_session(
            teacher,
            SessionSpec {
                form,
                mode: Mode::Online,
                subject: slot.subject.clone(),
                title: title.clone(),
                class: None,
                record: None,
            },
            cx,
        );
        let id = session.id;
        session.invited = students.iter().map(|b| b.student).collect();
        session.invited.insert(teacher);
        self.sessions.insert(id, session);
        let opening = students
            .iter()
            .map(|b| OpeningMessage {
                author: b.student,
                text: OpeningText::Question(b.topic.clone()),
                client_id: format!("konsult:booking:{}:{}", slot.starts_ms, b.student),
            })
            .collect();
        let mut members: Vec<UserId> = vec![teacher];
        members.extend(students.iter().map(|b| b.student));
        cx.out.push(Output::CreateThread {
            purpose: ThreadPurpose::Session(id),
            spec: ThreadSpec {
                kind: if form == Form::Individual {
                    ThreadKind::Personal
                } else {
                    ThreadKind::Group
                },
                title: format!("{}: {}", slot.subject, title),
                members,
                class: None,
                request: None,
                session: Some(id),
                opening,
                confidential: people.confidential(&slot.subject, Some(teacher)),
            },
        });
        Some(id)
    }

    /// Checks a `create_session` up to the requests it pulls in, which `Requests` checks.
    pub fn check_new(
        &self,
        host: UserId,
        new: NewSession,
        people: &People,
    ) -> Result<GroupPlan, Refusal> {
        let NewSession {
            form,
            subject,
            title,
            invite,
            class,
            from_requests,
        } = new;
        people.require_active(host)?;
        if !people.is_staff(host) {
            return Err(Refusal::forbidden(
                "only teachers and support staff start sessions",
            ));
        }
        if form == Form::Individual {
            return Err(Refusal::bad_request(
                "individual sessions start from a help request; create a group or frontal one",
            ));
        }
        let title = title.trim().to_string();
        let subject = subject.trim().to_string();
        if title.is_empty() || subject.is_empty() {
            return Err(Refusal::bad_request(
                "a session needs a subject and a title",
            ));
        }
        if title.chars().count() > MAX_TOPIC_CHARS || subject.len() > 64 {
            return Err(Refusal::too_large("the title or subject is too long"));
        }
        if invite.len() > MAX_INVITES || from_requests.len() > MAX_INVITES {
            return Err(Refusal::too_large(format!(
                "at most {MAX_INVITES} invitees"
            )));
        }
        let mut invitees: BTreeSet<UserId> = BTreeSet::new();
        for user in &invite {
            people.require_active(*user)?;
            invitees.insert(*user);
        }
        if let Some(class) = &class {
            let students = people.students_of_class(class);
            if students.is_empty() {
                return Err(Refusal::not_found(format!(
                    "no students in class {class:?}"
                )));
            }
            invitees.extend(students);
        }
        Ok(GroupPlan {
            form,
            subject,
            title,
            class,
            invitees,
            from_requests,
        })
    }

    /// Opens a checked group or frontal session, inviting `students` of the requests it pulls
    /// in too; refused when that leaves nobody to invite, or too many.
    pub fn open_group(
        &mut self,
        asker: &Asker,
        plan: GroupPlan,
        students: Vec<UserId>,
        people: &mut People,
        cx: &Ctx,
    ) -> Result<SessionId, Refusal> {
        let GroupPlan {
            form,
            subject,
            title,
            class,
            mut invitees,
            from_requests,
        } = plan;
        invitees.extend(students);
        invitees.remove(&asker.user);
        if invitees.is_empty() {
            return Err(Refusal::bad_request(
                "invite someone: invite, class or from_requests",
            ));
        }
        if invitees.len() + 1 > cx.config.session_members {
            return Err(Refusal::too_large(format!(
                "a session holds at most {} members",
                cx.config.session_members
            )));
        }
        let id = self.open_session(
            asker,
            SessionSpec {
                form,
                mode: Mode::Online,
                subject,
                title,
                class,
                record: None,
            },
            people,
            cx,
        );
        let session = self.sessions.get_mut(&id).expect("just opened");
        session.invited = invitees;
        session.requests = from_requests;
        Ok(id)
    }

    /// Asks for the chat of a group session just opened, and writes its records and those of
    /// the requests it took in.
    pub fn group_opened(
        &mut self,
        id: SessionId,
        pulled: &[TakenRequest],
        people: &People,
        cx: &mut Ctx,
    ) {
        let s = &self.sessions[&id];
        let mut members: Vec<UserId> = vec![s.host];
        members.extend(s.invited.iter().copied());
        cx.out.push(Output::CreateThread {
            purpose: ThreadPurpose::Session(id),
            spec: ThreadSpec {
                kind: if s.class.is_some() {
                    ThreadKind::Class
                } else {
                    ThreadKind::Group
                },
                title: s.title.clone(),
                members,
                class: s.class.clone(),
                request: None,
                session: Some(id),
                opening: Vec::new(),
                confidential: people.confidential(&s.subject, Some(s.host)),
            },
        });
        self.record_session(id, Outcome::InProgress, people, cx);
        for request in pulled {
            self.record_pulled_request(request, id, people, cx);
        }
    }

    fn record_pulled_request(
        &mut self,
        request: &TakenRequest,
        session: SessionId,
        people: &People,
        cx: &mut Ctx,
    ) {
        let wait = cx.now.mono.saturating_duration_since(request.requested);
        let confidential = people.confidential(&request.subject, None);
        let host = self.sessions.get(&session).map(|s| s.host);
        let record = ConsultationRecord {
            key: RecordKey::Request(request.id),
            form: request.form,
            mode: request.mode,
            subject: request.subject.clone(),
            topic: request.topic.clone(),
            staff: host,
            students: vec![request.student],
            session: Some(session),
            thread: None,
            requested_at_ms: Some(request.requested_ms),
            started_at_ms: Some(cx.now.unix_ms),
            ended_at_ms: None,
            wait_secs: Some(wait.as_secs() as i64),
            outcome: Outcome::InProgress,
            confidential,
        };
        if let Some(s) = self.sessions.get_mut(&session) {
            s.pulled.push(record.clone());
        }
        cx.out.push(Output::Record(record));
    }

    /// Writes the session's record (its request's, when it came from one).
    pub(super) fn record_session(
        &self,
        id: SessionId,
        outcome: Outcome,
        people: &People,
        cx: &mut Ctx,
    ) {
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        let ended = (outcome != Outcome::InProgress).then_some(cx.now.unix_ms);
        let students: Vec<UserId> = s
            .participants
            .iter()
            .chain(s.invited.iter())
            .copied()
            .filter(|u| *u != s.host)
            .filter(|u| outcome != Outcome::Held || s.participants.contains(u))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let record = ConsultationRecord {
            key: s.record,
            form: s.form,
            mode: s.mode,
            subject: s.subject.clone(),
            topic: s.title.clone(),
            staff: Some(s.host),
            students,
            session: Some(s.id),
            thread: s.thread,
            requested_at_ms: None,
            started_at_ms: Some(s.started_ms),
            ended_at_ms: ended,
            wait_secs: None,
            outcome,
            confidential: people.confidential(&s.subject, Some(s.host)),
        };
        cx.out.push(Output::Record(record));
    }

    /// The session's chat exists (the session is announced) or could not be created (the
    /// session ends).
    pub fn thread_ready(
        &mut self,
        id: SessionId,
        thread: Result<ThreadId, String>,
        people: &mut People,
        cx: &mut Ctx,
    ) {
        match thread {
            Ok(thread) => self.announce_session(id, thread, people, cx),
            Err(e) => {
                if let Some((conn, re)) = self.sessions.get_mut(&id).and_then(|s| s.answer.take()) {
                    cx.out.reply(
                        conn,
                        re.as_ref(),
                        ServerMessage::error(
                            ErrorCode::Internal,
                            format!("the session's chat could not be created: {e}"),
                        ),
                    );
                }
                self.end(id, EndReason::Ended, people, cx);
            }
        }
    }

    /// The session's thread exists: tell the members and invite the invitees.
    fn announce_session(&mut self, id: SessionId, thread: ThreadId, people: &People, cx: &mut Ctx) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        s.thread = Some(thread);
        s.dirty = true;
        let answer = s.answer.take();
        let info = self.session_info(id, people);
        let s = &self.sessions[&id];
        let present: Vec<UserId> = s.present().collect();
        let invite_only: Vec<UserId> = s
            .invited
            .iter()
            .copied()
            .filter(|u| !s.is_present(*u))
            .collect();
        let host = s.host;
        let started = ServerMessage::SessionStarted {
            session: info.clone(),
        };
        for user in present {
            match answer {
                Some((conn, ref re)) if people.user_of(conn) == Some(user) => {
                    cx.out.reply(conn, re.as_ref(), started.clone());
                    cx.out.push(Output::Send {
                        to: Recipients::UserExcept { user, except: conn },
                        msg: started.clone(),
                        re: None,
                    });
                }
                _ => cx.out.send_user(user, started.clone()),
            }
        }
        let invite = ServerMessage::SessionInvite {
            session: info,
            from: people.info(host),
        };
        cx.out.send_users(invite_only, invite);
        self.record_session(id, Outcome::InProgress, people, cx);
        self.update_media_policy(id, cx);
    }

    /// The session as `session_started` and `session_invite` describe it.
    fn session_info(&self, id: SessionId, people: &People) -> SessionInfo {
        let s = &self.sessions[&id];
        let mut members = vec![people.info(s.host)];
        members.extend(
            s.present()
                .filter(|u| *u != s.host)
                .take(ROSTER_LIMIT)
                .map(|u| people.info(u)),
        );
        SessionInfo {
            id,
            form: s.form,
            media: s.media,
            subject: s.subject.clone(),
            title: s.title.clone(),
            host: s.host,
            members,
            thread: s.thread.unwrap_or(ThreadId(0)),
            class: s.class.clone(),
        }
    }

    /// Answers with `session_started` once the session is announced, with `ok` before.
    pub(super) fn send_session_started(
        &self,
        conn: ConnId,
        re: Option<&Rid>,
        id: SessionId,
        people: &People,
        cx: &mut Ctx,
    ) {
        if self.sessions.get(&id).is_some_and(|s| s.thread.is_some()) {
            let info = self.session_info(id, people);
            cx.out
                .reply(conn, re, ServerMessage::SessionStarted { session: info });
        } else if re.is_some() {
            cx.out.reply(conn, re, ServerMessage::Ok {});
        }
    }

    /// Re-sends a reconnecting user the invitations they have not taken up.
    pub fn restore_invites(&self, conn: ConnId, user: UserId, people: &People, cx: &mut Ctx) {
        let invites: Vec<SessionId> = self
            .sessions
            .values()
            .filter(|s| s.is_invited_only(user))
            .map(|s| s.id)
            .collect();
        for id in invites {
            let s = &self.sessions[&id];
            if s.thread.is_none() {
                continue;
            }
            let info = self.session_info(id, people);
            cx.out.reply(
                conn,
                None,
                ServerMessage::SessionInvite {
                    session: info,
                    from: people.info(s.host),
                },
            );
        }
    }

    /// Re-sends a reconnecting member their session and its state.
    pub fn restore_session(
        &mut self,
        conn: ConnId,
        user: UserId,
        id: SessionId,
        people: &People,
        cx: &mut Ctx,
    ) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        if !s.is_present(user) {
            return;
        }
        s.dirty = true;
        self.send_session_started(conn, None, id, people, cx);
        self.send_open_poll(conn, user, id, people, cx);
    }
}
