//! Live sessions: starting them (from a request or by a teacher), joining and leaving,
//! moderation (hands, floor, mute, removal), media paths and the `signal` relay, ending them,
//! and their snapshots.

use crate::hub::Hub;
use crate::io::{
    ConnId, ConsultationRecord, MediaCommand, MediaPolicy, MemberPolicy, Outcome, Output,
    Recipients, RecordKey, ThreadPurpose, ThreadSpec,
};
use crate::refusal::{Asker, Handled, Refusal};
use crate::requests::Request;
use crate::timers::Timer;
use konsult_protocol::limits::{MAX_INVITES, MAX_SIGNAL_BYTES, MAX_TOPIC_CHARS};
use konsult_protocol::model::{
    EndReason, Form, MediaPath, MediaState, Member, Mode, Role, SessionInfo, SessionRole,
    ThreadKind, TrackKind,
};
use konsult_protocol::{
    ErrorCode, RequestId, Rid, ServerMessage, SessionId, SignalData, SignalPeer, ThreadId, UserId,
};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Sessions with more members than this get partial rosters and throttled snapshots.
pub(crate) const ROSTER_LIMIT: usize = 100;
/// Least time between snapshots of a large session.
const LARGE_SESSION_SNAPSHOT: Duration = Duration::from_millis(500);

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

/// A member of a session.
#[derive(Debug, Clone)]
pub(crate) struct SessionMember {
    pub role: SessionRole,
    /// In the session now (joined and not left); a dropped connection keeps this within the
    /// grace period.
    pub present: bool,
    pub media: MediaState,
    pub muted: Vec<TrackKind>,
    /// The connection that carries this member's media (the last one that joined or
    /// signalled): the rule for a user on several devices.
    pub media_conn: Option<ConnId>,
}

/// A live session.
#[derive(Debug)]
pub(crate) struct Session {
    pub id: SessionId,
    pub form: Form,
    pub mode: Mode,
    pub subject: String,
    pub title: String,
    pub host: UserId,
    pub class: Option<String>,
    pub media: MediaPath,
    /// The session's chat; `None` until storage created it, and nobody hears of the session
    /// before that.
    pub thread: Option<ThreadId>,
    pub started: Instant,
    pub started_ms: i64,
    /// Everyone who joined and was not removed.
    pub members: BTreeMap<UserId, SessionMember>,
    /// Who may join.
    pub invited: BTreeSet<UserId>,
    /// Removed by the host: may not join again.
    pub removed: BTreeSet<UserId>,
    /// Everyone who ever joined, for the record.
    pub participants: BTreeSet<UserId>,
    pub floor: Option<UserId>,
    pub hands: Vec<UserId>,
    pub version: u64,
    /// The record this session updates.
    pub record: RecordKey,
    /// The help requests this session answers.
    pub requests: Vec<RequestId>,
    /// Records of queued requests pulled into this session, closed when it ends.
    pub pulled: Vec<ConsultationRecord>,
    /// The connection and rid to answer when the session is announced.
    pub answer: Option<(ConnId, Option<Rid>)>,
    /// A snapshot is owed to the members.
    pub dirty: bool,
    /// A throttled snapshot is scheduled.
    pub snapshot_scheduled: bool,
    /// Snapshots the SFU's policy was last set from; avoids resending the same policy.
    pub last_policy: Option<MediaPolicy>,
}

impl Session {
    /// Invited but not in the session.
    pub fn is_invited_only(&self, user: UserId) -> bool {
        self.invited.contains(&user) && !self.members.get(&user).is_some_and(|m| m.present)
    }

    fn is_present(&self, user: UserId) -> bool {
        self.members.get(&user).is_some_and(|m| m.present)
    }

    fn present(&self) -> impl Iterator<Item = UserId> + '_ {
        self.members
            .iter()
            .filter(|(_, m)| m.present)
            .map(|(u, _)| *u)
    }

    fn is_large(&self) -> bool {
        self.members.len() > ROSTER_LIMIT
    }
}

impl Hub {
    fn new_session_id(&mut self) -> SessionId {
        let id = SessionId(self.next_session);
        self.next_session += 1;
        id
    }

    /// Opens a session hosted by the asker, who hears of it once its thread exists.
    fn open_session(&mut self, asker: &Asker, spec: SessionSpec) -> SessionId {
        let SessionSpec {
            form,
            mode,
            subject,
            title,
            class,
            record,
        } = spec;
        let host = asker.user;
        let id = self.new_session_id();
        let media = if form == Form::Individual {
            MediaPath::P2p
        } else {
            MediaPath::Sfu
        };
        let mut session = Session {
            id,
            form,
            mode,
            subject,
            title,
            host,
            class,
            media,
            thread: None,
            started: self.now.mono,
            started_ms: self.now.unix_ms,
            members: BTreeMap::new(),
            invited: BTreeSet::new(),
            removed: BTreeSet::new(),
            participants: BTreeSet::new(),
            floor: None,
            hands: Vec::new(),
            version: 0,
            record: record.unwrap_or(RecordKey::Session(id)),
            requests: Vec::new(),
            pulled: Vec::new(),
            answer: Some((asker.conn, asker.rid.clone())),
            dirty: false,
            snapshot_scheduled: false,
            last_policy: None,
        };
        session.members.insert(
            host,
            SessionMember {
                role: SessionRole::Host,
                present: true,
                media: MediaState::Connecting,
                muted: Vec::new(),
                media_conn: Some(asker.conn),
            },
        );
        session.participants.insert(host);
        self.sessions.insert(id, session);
        if let Some(person) = self.people.get_mut(&host) {
            person.sessions.insert(id);
        }
        id
    }

    /// Adds a present member.
    fn seat(&mut self, session: SessionId, user: UserId, conn: Option<ConnId>) {
        let Some(s) = self.sessions.get_mut(&session) else {
            return;
        };
        let member = s.members.entry(user).or_insert(SessionMember {
            role: SessionRole::Member,
            present: true,
            media: MediaState::Connecting,
            muted: Vec::new(),
            media_conn: None,
        });
        member.present = true;
        if conn.is_some() {
            member.media_conn = conn;
        }
        s.participants.insert(user);
        s.invited.insert(user);
        s.dirty = true;
        if let Some(person) = self.people.get_mut(&user) {
            person.sessions.insert(session);
        }
    }

    /// A teacher took a request: an individual (or small group) session with its student.
    pub(crate) fn start_request_session(&mut self, asker: &Asker, request: &Request) -> SessionId {
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
        );
        self.seat(id, request.student, None);
        let session = self.sessions.get_mut(&id).expect("just opened");
        session.requests.push(request.id);
        let media = session.media;
        if media == MediaPath::P2p {
            self.timers
                .set(self.now.mono + self.config.p2p_timeout, Timer::P2p(id));
        }
        self.push(Output::CreateThread {
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
            },
        });
        id
    }

    pub(crate) fn create_session(&mut self, asker: &Asker, new: NewSession) -> Handled {
        let NewSession {
            form,
            subject,
            title,
            invite,
            class,
            from_requests,
        } = new;
        let host = asker.user;
        let person = self.person(host)?;
        if !person.is_staff() {
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
            self.person(*user)?;
            invitees.insert(*user);
        }
        if let Some(class) = &class {
            let students: Vec<UserId> = self
                .people
                .values()
                .filter(|p| {
                    p.active && p.info.role == Role::Student && p.info.class.as_ref() == Some(class)
                })
                .map(|p| p.info.id)
                .collect();
            if students.is_empty() {
                return Err(Refusal::not_found(format!(
                    "no students in class {class:?}"
                )));
            }
            invitees.extend(students);
        }
        let mut pulled: Vec<Request> = Vec::new();
        for id in &from_requests {
            let request = self
                .requests
                .get(id)
                .filter(|r| r.deferring.is_none())
                .ok_or_else(|| Refusal::not_found(format!("no open request {id}")))?;
            if request.subject != subject || !self.people[&host].serves(&request.subject) {
                return Err(Refusal::conflict(format!(
                    "request {id} is not in a queue of {subject:?} you serve"
                )));
            }
            invitees.insert(request.student);
            pulled.push(request.clone());
        }
        invitees.remove(&host);
        if invitees.is_empty() {
            return Err(Refusal::bad_request(
                "invite someone: invite, class or from_requests",
            ));
        }
        if invitees.len() + 1 > self.config.session_members {
            return Err(Refusal::too_large(format!(
                "a session holds at most {} members",
                self.config.session_members
            )));
        }
        let id = self.open_session(
            asker,
            SessionSpec {
                form,
                mode: Mode::Online,
                subject: subject.clone(),
                title: title.clone(),
                class: class.clone(),
                record: None,
            },
        );
        for request in &pulled {
            if let Some((teacher, _)) = request.offered_to {
                self.withdraw_offer(request.id, teacher, false);
            }
            self.remove_request_for_session(request.id);
        }
        let session = self.sessions.get_mut(&id).expect("just opened");
        session.invited.extend(invitees.iter().copied());
        session.requests = pulled.iter().map(|r| r.id).collect();
        let mut members: Vec<UserId> = vec![host];
        members.extend(invitees.iter().copied());
        self.push(Output::CreateThread {
            purpose: ThreadPurpose::Session(id),
            spec: ThreadSpec {
                kind: if class.is_some() {
                    ThreadKind::Class
                } else {
                    ThreadKind::Group
                },
                title,
                members,
                class,
                request: None,
                session: Some(id),
                opening: Vec::new(),
            },
        });
        self.record_session(id, Outcome::InProgress);
        for request in &pulled {
            self.record_pulled_request(request, id);
        }
        Ok(())
    }

    /// A queued request pulled into a group session leaves its queue.
    fn remove_request_for_session(&mut self, id: RequestId) {
        let Some(request) = self.requests.remove(&id) else {
            return;
        };
        if let Some(queue) = self.queues.get_mut(&request.subject) {
            queue.retain(|r| *r != id);
            if queue.is_empty() {
                self.queues.remove(&request.subject);
            }
        }
        self.queue_changed(&request.subject);
        if let Some(person) = self.people.get_mut(&request.student)
            && person.request == Some(id)
        {
            person.request = None;
        }
    }

    fn record_pulled_request(&mut self, request: &Request, session: SessionId) {
        let wait = self.now.mono.saturating_duration_since(request.requested);
        let confidential = self.is_confidential_subject(&request.subject, None);
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
            started_at_ms: Some(self.now.unix_ms),
            ended_at_ms: None,
            wait_secs: Some(wait.as_secs() as i64),
            outcome: Outcome::InProgress,
            confidential,
        };
        if let Some(s) = self.sessions.get_mut(&session) {
            s.pulled.push(record.clone());
        }
        self.push(Output::Record(record));
    }

    /// Writes the session's record (its request's, when it came from one).
    fn record_session(&mut self, id: SessionId, outcome: Outcome) {
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        let ended = (outcome != Outcome::InProgress).then_some(self.now.unix_ms);
        let students: Vec<UserId> = s
            .participants
            .iter()
            .chain(s.invited.iter())
            .copied()
            .filter(|u| *u != s.host)
            .filter(|u| outcome == Outcome::InProgress || s.participants.contains(u))
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
            confidential: self.is_confidential_subject(&s.subject, Some(s.host)),
        };
        self.push(Output::Record(record));
    }

    pub(crate) fn on_thread_ready(
        &mut self,
        purpose: ThreadPurpose,
        thread: Result<ThreadId, String>,
    ) {
        match purpose {
            ThreadPurpose::Request(id) => self.request_thread_ready(id, thread),
            ThreadPurpose::Session(id) => match thread {
                Ok(thread) => self.announce_session(id, thread),
                Err(e) => {
                    if let Some((conn, re)) =
                        self.sessions.get_mut(&id).and_then(|s| s.answer.take())
                    {
                        self.reply(
                            conn,
                            re.as_ref(),
                            ServerMessage::error(
                                ErrorCode::Internal,
                                format!("the session's chat could not be created: {e}"),
                            ),
                        );
                    }
                    self.end(id, EndReason::Ended);
                }
            },
        }
    }

    /// The session's thread exists: tell the members and invite the invitees.
    fn announce_session(&mut self, id: SessionId, thread: ThreadId) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        s.thread = Some(thread);
        s.dirty = true;
        let answer = s.answer.take();
        let info = self.session_info(id);
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
                Some((conn, ref re)) if self.conns.get(&conn) == Some(&user) => {
                    self.reply(conn, re.as_ref(), started.clone());
                    self.push(Output::Send {
                        to: Recipients::UserExcept { user, except: conn },
                        msg: started.clone(),
                        re: None,
                    });
                }
                _ => self.send_user(user, started.clone()),
            }
        }
        let invite = ServerMessage::SessionInvite {
            session: info,
            from: self.info(host),
        };
        self.send_users(invite_only, invite);
        self.record_session(id, Outcome::InProgress);
        self.update_media_policy(id);
    }

    /// The session as `session_started` and `session_invite` describe it.
    fn session_info(&self, id: SessionId) -> SessionInfo {
        let s = &self.sessions[&id];
        let mut members = vec![self.info(s.host)];
        members.extend(
            s.present()
                .filter(|u| *u != s.host)
                .take(ROSTER_LIMIT)
                .map(|u| self.info(u)),
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

    fn send_session_started(&mut self, conn: ConnId, re: Option<&Rid>, id: SessionId) {
        if self.sessions.get(&id).is_some_and(|s| s.thread.is_some()) {
            let info = self.session_info(id);
            self.reply(conn, re, ServerMessage::SessionStarted { session: info });
        } else if re.is_some() {
            self.reply(conn, re, ServerMessage::Ok {});
        }
    }

    pub(crate) fn send_invite(&mut self, conn: ConnId, id: SessionId) {
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        if s.thread.is_none() {
            return;
        }
        let host = s.host;
        let info = self.session_info(id);
        self.reply(
            conn,
            None,
            ServerMessage::SessionInvite {
                session: info,
                from: self.info(host),
            },
        );
    }

    /// Re-sends a reconnecting member their session and its state.
    pub(crate) fn restore_session(&mut self, conn: ConnId, user: UserId, id: SessionId) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        if !s.is_present(user) {
            return;
        }
        s.dirty = true;
        self.send_session_started(conn, None, id);
    }

    /// A session by id, if the user may act in it (a present member, or the host).
    fn member_session(&self, user: UserId, id: SessionId) -> Result<&Session, Refusal> {
        let s = self
            .sessions
            .get(&id)
            .ok_or_else(|| Refusal::not_found(format!("no session {id}")))?;
        if !s.members.contains_key(&user) && !s.invited.contains(&user) {
            // Not even knowing it exists: a stranger's probe looks like a wrong id.
            return Err(Refusal::not_found(format!("no session {id}")));
        }
        if !s.is_present(user) {
            return Err(Refusal::forbidden("join the session first"));
        }
        Ok(s)
    }

    fn host_session(&self, user: UserId, id: SessionId) -> Result<&Session, Refusal> {
        let s = self.member_session(user, id)?;
        if s.host != user {
            return Err(Refusal::forbidden("only the host can do this"));
        }
        Ok(s)
    }

    pub(crate) fn join_session(&mut self, asker: &Asker, id: SessionId) -> Handled {
        let s = self
            .sessions
            .get(&id)
            .ok_or_else(|| Refusal::not_found(format!("no session {id}")))?;
        if s.removed.contains(&asker.user) {
            return Err(Refusal::forbidden("the host removed you from this session"));
        }
        if !s.invited.contains(&asker.user) && !s.members.contains_key(&asker.user) {
            return Err(Refusal::forbidden("you are not invited to this session"));
        }
        if !s.is_present(asker.user) && s.present().count() >= self.config.session_members {
            return Err(Refusal::too_large("the session is full"));
        }
        if s.form == Form::Individual
            && !s.is_present(asker.user)
            && self
                .people
                .get(&asker.user)
                .is_some_and(|p| p.info.role == Role::Student)
            && self.in_individual_session(asker.user)
        {
            return Err(Refusal::conflict("you are already in another consultation"));
        }
        self.seat(id, asker.user, Some(asker.conn));
        self.send_session_started(asker.conn, asker.re(), id);
        self.update_media_policy(id);
        Ok(())
    }

    pub(crate) fn leave_session(&mut self, asker: &Asker, id: SessionId) -> Handled {
        let s = self.member_session(asker.user, id)?;
        if s.form == Form::Individual {
            self.ok(asker);
            self.end(id, EndReason::Ended);
            return Ok(());
        }
        let host = s.host;
        self.unseat(id, asker.user);
        if asker.user == host {
            // The host may come back; without them the session ends after the grace period.
            self.timers
                .set(self.now.mono + self.config.grace, Timer::Grace(asker.user));
        }
        self.ok(asker);
        Ok(())
    }

    /// Takes a member out of the session (they may join again).
    fn unseat(&mut self, id: SessionId, user: UserId) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        if let Some(member) = s.members.get_mut(&user) {
            member.present = false;
            member.media_conn = None;
            member.media = MediaState::Connecting;
        }
        s.hands.retain(|u| *u != user);
        if s.floor == Some(user) {
            s.floor = None;
        }
        s.dirty = true;
        let host = s.host;
        if user != host
            && let Some(person) = self.people.get_mut(&user)
        {
            person.sessions.remove(&id);
        }
        self.push(Output::Media(MediaCommand::RemoveMember {
            session: id,
            user,
        }));
        self.update_media_policy(id);
    }

    pub(crate) fn end_session(&mut self, asker: &Asker, id: SessionId) -> Handled {
        self.host_session(asker.user, id)?;
        self.ok(asker);
        self.end(id, EndReason::Ended);
        Ok(())
    }

    /// Ends a session for everyone in it or invited to it.
    pub(crate) fn end(&mut self, id: SessionId, reason: EndReason) {
        self.record_session(id, Outcome::Held);
        let Some(s) = self.sessions.remove(&id) else {
            return;
        };
        for record in &s.pulled {
            let joined = record.students.iter().any(|u| s.participants.contains(u));
            self.push(Output::Record(ConsultationRecord {
                ended_at_ms: Some(self.now.unix_ms),
                outcome: if joined {
                    Outcome::Held
                } else {
                    Outcome::Cancelled
                },
                thread: s.thread,
                ..record.clone()
            }));
        }
        let mut everyone: BTreeSet<UserId> = s.members.keys().copied().collect();
        everyone.extend(s.invited.iter().copied());
        for user in &everyone {
            if let Some(person) = self.people.get_mut(user) {
                person.sessions.remove(&id);
            }
        }
        if let Some(person) = self.people.get_mut(&s.host) {
            person.idle_since = self.now.mono;
        }
        if s.form == Form::Individual && !s.requests.is_empty() {
            let took = self.now.mono.saturating_duration_since(s.started);
            self.record_handling(&s.subject, took);
        }
        let host_subjects = self
            .people
            .get(&s.host)
            .map(|p| p.subjects())
            .unwrap_or_default();
        for subject in host_subjects {
            self.dirty_subjects.insert(subject);
        }
        self.send_users(
            everyone.into_iter().collect(),
            ServerMessage::SessionEnded {
                session: id,
                reason,
            },
        );
        self.push(Output::Media(MediaCommand::EndSession { session: id }));
        // The host's status may have changed (no longer busy).
        let host = s.host;
        self.presence_changed(host, konsult_protocol::model::Status::Busy);
    }

    pub(crate) fn raise_hand(&mut self, asker: &Asker, id: SessionId) -> Handled {
        let s = self.member_session(asker.user, id)?;
        if s.host == asker.user {
            return Err(Refusal::bad_request("the host has the floor already"));
        }
        let s = self.sessions.get_mut(&id).expect("checked");
        if !s.hands.contains(&asker.user) {
            s.hands.push(asker.user);
            s.dirty = true;
        }
        self.ok(asker);
        Ok(())
    }

    pub(crate) fn lower_hand(
        &mut self,
        asker: &Asker,
        id: SessionId,
        target: Option<UserId>,
    ) -> Handled {
        let target = target.unwrap_or(asker.user);
        if target == asker.user {
            self.member_session(asker.user, id)?;
        } else {
            self.host_session(asker.user, id)?;
        }
        let s = self.sessions.get_mut(&id).expect("checked");
        let before = s.hands.len();
        s.hands.retain(|u| *u != target);
        s.dirty |= s.hands.len() != before;
        self.ok(asker);
        Ok(())
    }

    pub(crate) fn grant_floor(&mut self, asker: &Asker, id: SessionId, target: UserId) -> Handled {
        let s = self.host_session(asker.user, id)?;
        if !s.is_present(target) || target == s.host {
            return Err(Refusal::not_found(format!(
                "user {target} is not a member in the session"
            )));
        }
        let s = self.sessions.get_mut(&id).expect("checked");
        s.floor = Some(target);
        s.hands.retain(|u| *u != target);
        s.dirty = true;
        self.ok(asker);
        self.update_media_policy(id);
        Ok(())
    }

    pub(crate) fn revoke_floor(&mut self, asker: &Asker, id: SessionId) -> Handled {
        let s = self.member_session(asker.user, id)?;
        if s.host != asker.user && s.floor != Some(asker.user) {
            return Err(Refusal::forbidden(
                "only the host or the floor holder can do this",
            ));
        }
        let s = self.sessions.get_mut(&id).expect("checked");
        if s.floor.take().is_some() {
            s.dirty = true;
        }
        self.ok(asker);
        self.update_media_policy(id);
        Ok(())
    }

    pub(crate) fn set_mute(
        &mut self,
        asker: &Asker,
        id: SessionId,
        target: UserId,
        kind: TrackKind,
        mute: bool,
    ) -> Handled {
        let s = self.host_session(asker.user, id)?;
        if !s.members.contains_key(&target) {
            return Err(Refusal::not_found(format!(
                "user {target} is not a member of the session"
            )));
        }
        let s = self.sessions.get_mut(&id).expect("checked");
        let member = s.members.get_mut(&target).expect("checked");
        let had = member.muted.contains(&kind);
        if mute && !had {
            member.muted.push(kind);
        } else if !mute && had {
            member.muted.retain(|k| *k != kind);
        }
        s.dirty |= had != mute;
        self.ok(asker);
        self.update_media_policy(id);
        Ok(())
    }

    pub(crate) fn remove_member(
        &mut self,
        asker: &Asker,
        id: SessionId,
        target: UserId,
    ) -> Handled {
        let s = self.host_session(asker.user, id)?;
        if target == s.host {
            return Err(Refusal::bad_request("the host cannot remove themselves"));
        }
        if !s.members.contains_key(&target) && !s.invited.contains(&target) {
            return Err(Refusal::not_found(format!(
                "user {target} is not in the session"
            )));
        }
        if s.form == Form::Individual {
            self.ok(asker);
            self.end(id, EndReason::Ended);
            return Ok(());
        }
        self.unseat(id, target);
        let s = self.sessions.get_mut(&id).expect("checked");
        s.members.remove(&target);
        s.invited.remove(&target);
        s.removed.insert(target);
        self.send_user(
            target,
            ServerMessage::SessionEnded {
                session: id,
                reason: EndReason::Removed,
            },
        );
        self.ok(asker);
        Ok(())
    }

    pub(crate) fn signal(
        &mut self,
        asker: &Asker,
        id: SessionId,
        to: SignalPeer,
        data: SignalData,
    ) -> Handled {
        if data.payload_len() > MAX_SIGNAL_BYTES {
            return Err(Refusal::too_large(format!(
                "signal data over {MAX_SIGNAL_BYTES} bytes"
            )));
        }
        let s = self.member_session(asker.user, id)?;
        match to {
            SignalPeer::User(target) => {
                if s.media != MediaPath::P2p {
                    return Err(Refusal::conflict(
                        "this session's media goes through the SFU: signal \"sfu\"",
                    ));
                }
                if target == asker.user || !s.is_present(target) {
                    return Err(Refusal::not_found(format!(
                        "user {target} is not in the session"
                    )));
                }
                let to = match s.members[&target].media_conn {
                    Some(c) => Recipients::Conn(c),
                    None => Recipients::User(target),
                };
                self.set_media_conn(id, asker.user, asker.conn);
                self.push(Output::Send {
                    to,
                    msg: ServerMessage::Signal {
                        session: id,
                        from: SignalPeer::User(asker.user),
                        data,
                    },
                    re: None,
                });
            }
            SignalPeer::Sfu => {
                if s.media != MediaPath::Sfu {
                    return Err(Refusal::conflict(
                        "this session is peer to peer: signal the other member",
                    ));
                }
                self.set_media_conn(id, asker.user, asker.conn);
                self.push(Output::Media(MediaCommand::Signal {
                    session: id,
                    user: asker.user,
                    conn: asker.conn,
                    data,
                }));
            }
        }
        self.ok(asker);
        Ok(())
    }

    /// One of a user's connections closed while others stay: in the sessions whose media it
    /// carried, that media is gone, and signals for the user go to all their connections until
    /// one of them signals or joins.
    pub(crate) fn media_conn_closed(&mut self, user: UserId, conn: ConnId) {
        let sessions = self.sessions_of(user);
        for id in sessions {
            if let Some(s) = self.sessions.get_mut(&id)
                && let Some(member) = s.members.get_mut(&user)
                && member.media_conn == Some(conn)
            {
                member.media_conn = None;
                member.media = MediaState::Connecting;
                s.dirty = true;
            }
        }
    }

    fn set_media_conn(&mut self, id: SessionId, user: UserId, conn: ConnId) {
        if let Some(member) = self
            .sessions
            .get_mut(&id)
            .and_then(|s| s.members.get_mut(&user))
        {
            member.media_conn = Some(conn);
        }
    }

    pub(crate) fn media_state(
        &mut self,
        asker: &Asker,
        id: SessionId,
        state: MediaState,
    ) -> Handled {
        self.member_session(asker.user, id)?;
        self.set_member_media(id, asker.user, state);
        self.ok(asker);
        Ok(())
    }

    fn set_member_media(&mut self, id: SessionId, user: UserId, state: MediaState) {
        if let Some(s) = self.sessions.get_mut(&id)
            && let Some(member) = s.members.get_mut(&user)
            && member.media != state
        {
            member.media = state;
            s.dirty = true;
        }
    }

    pub(crate) fn media_failed(&mut self, asker: &Asker, id: SessionId) -> Handled {
        let s = self.member_session(asker.user, id)?;
        if s.media == MediaPath::P2p {
            self.move_to_sfu(id);
        } else {
            self.set_member_media(id, asker.user, MediaState::Failed);
        }
        self.ok(asker);
        Ok(())
    }

    /// Peer to peer failed: every member renegotiates with the SFU.
    fn move_to_sfu(&mut self, id: SessionId) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        if s.media == MediaPath::Sfu {
            return;
        }
        s.media = MediaPath::Sfu;
        for member in s.members.values_mut() {
            member.media = MediaState::Connecting;
        }
        s.dirty = true;
        self.update_media_policy(id);
    }

    pub(crate) fn on_p2p_timeout(&mut self, id: SessionId) {
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        let connected = s
            .members
            .values()
            .filter(|m| m.present)
            .all(|m| m.media == MediaState::Connected);
        if s.media == MediaPath::P2p && !connected {
            self.move_to_sfu(id);
        }
    }

    pub(crate) fn on_media_event(&mut self, id: SessionId, user: UserId, state: MediaState) {
        self.set_member_media(id, user, state);
    }

    /// Gives the SFU the session's media rules when they changed.
    fn update_media_policy(&mut self, id: SessionId) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        if s.media != MediaPath::Sfu || s.thread.is_none() {
            return;
        }
        let members = s
            .members
            .iter()
            .filter(|(_, m)| m.present)
            .map(|(user, m)| MemberPolicy {
                user: *user,
                may_publish: s.form != Form::Frontal || *user == s.host || s.floor == Some(*user),
                muted: m.muted.clone(),
            })
            .collect();
        let policy = MediaPolicy { members };
        if s.last_policy.as_ref() == Some(&policy) {
            return;
        }
        s.last_policy = Some(policy.clone());
        self.push(Output::Media(MediaCommand::SetPolicy {
            session: id,
            policy,
        }));
    }

    /// A user's last connection dropped: their sessions show them offline.
    pub(crate) fn sessions_member_gone(&mut self, user: UserId) {
        let sessions = self.sessions_of(user);
        for id in sessions {
            if let Some(s) = self.sessions.get_mut(&id) {
                if let Some(member) = s.members.get_mut(&user) {
                    member.media_conn = None;
                    member.media = MediaState::Connecting;
                }
                s.dirty = true;
            }
        }
        self.student_gone(user);
    }

    /// A user did not come back within the grace period.
    pub(crate) fn member_gone_for_good(&mut self, id: SessionId, user: UserId) {
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        if s.host == user {
            if !self.is_online(user) || !s.is_present(user) {
                self.end(id, EndReason::HostLeft);
            }
        } else if s.form == Form::Individual {
            self.end(id, EndReason::Empty);
        } else {
            self.unseat(id, user);
        }
    }

    /// Sends the snapshots owed: at once for ordinary sessions, at most twice a second for
    /// large ones.
    pub(crate) fn flush_snapshots(&mut self) {
        let dirty: Vec<SessionId> = self
            .sessions
            .values()
            .filter(|s| s.dirty && s.thread.is_some())
            .map(|s| s.id)
            .collect();
        for id in dirty {
            let s = self.sessions.get_mut(&id).expect("listed");
            if s.is_large() {
                if !s.snapshot_scheduled {
                    s.snapshot_scheduled = true;
                    self.timers
                        .set(self.now.mono + LARGE_SESSION_SNAPSHOT, Timer::Snapshot(id));
                }
                continue;
            }
            self.send_snapshot(id);
        }
    }

    pub(crate) fn on_snapshot_timer(&mut self, id: SessionId) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.snapshot_scheduled = false;
            if s.dirty {
                self.send_snapshot(id);
            }
        }
    }

    fn send_snapshot(&mut self, id: SessionId) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        s.dirty = false;
        s.version += 1;
        let version = s.version;
        let s = &self.sessions[&id];
        let member = |user: UserId, m: &SessionMember| Member {
            user: self.info(user),
            role: m.role,
            online: m.present && self.is_online(user),
            media: m.media,
            muted: m.muted.clone(),
        };
        let full: Vec<Member> = s.members.iter().map(|(u, m)| member(*u, m)).collect();
        let recipients: Vec<UserId> = s.present().collect();
        let snapshot = |members: Vec<Member>| ServerMessage::SessionState {
            session: id,
            version,
            media: s.media,
            members,
            total: s.members.len() as u32,
            floor: s.floor,
            hands: s.hands.clone(),
        };
        if s.is_large() {
            let partial: Vec<Member> = s
                .members
                .iter()
                .filter(|(u, m)| {
                    **u == s.host
                        || s.floor == Some(**u)
                        || s.hands.contains(u)
                        || !m.muted.is_empty()
                })
                .map(|(u, m)| member(*u, m))
                .collect();
            let host = s.host;
            let others: Vec<UserId> = recipients.into_iter().filter(|u| *u != host).collect();
            let (to_host, to_others) = (snapshot(full), snapshot(partial));
            self.send_user(host, to_host);
            self.send_users(others, to_others);
        } else {
            let msg = snapshot(full);
            self.send_users(recipients, msg);
        }
    }

    /// The sessions a user is a member of.
    pub fn sessions_of(&self, user: UserId) -> Vec<SessionId> {
        self.people
            .get(&user)
            .map(|p| p.sessions.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The form of a live session.
    pub fn session_form(&self, id: SessionId) -> Option<Form> {
        self.sessions.get(&id).map(|s| s.form)
    }
}
