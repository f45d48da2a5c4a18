//! People and presence: who is connected, staff availability, and what a user gets back when
//! they reconnect.

use crate::SUPPORT_SUBJECT;
use crate::hub::Hub;
use crate::io::{ConnId, Output, Recipients};
use crate::refusal::{Asker, Handled, Refusal};
use crate::timers::Timer;
use konsult_protocol::model::{Role, SetStatus, Status, TeacherInfo, UserInfo};
use konsult_protocol::{RequestId, ServerMessage, SessionId, UserId};
use std::collections::BTreeSet;
use std::time::Instant;

/// A user as the hub tracks them.
#[derive(Debug)]
pub(crate) struct Person {
    pub info: UserInfo,
    /// Deactivated accounts are forgotten once their connections end.
    pub active: bool,
    /// Open connections.
    pub conns: Vec<ConnId>,
    /// Availability as the staff member set it.
    pub set_status: SetStatus,
    /// Since when a staff member has been free: the longest-idle teacher gets the next offer.
    pub idle_since: Instant,
    /// When the last connection dropped, while within the grace period.
    pub gone_since: Option<Instant>,
    /// The request offered to this staff member, awaiting accept or decline.
    pub offer: Option<RequestId>,
    /// The student's open request.
    pub request: Option<RequestId>,
    /// Sessions this user is a member of.
    pub sessions: BTreeSet<SessionId>,
    /// Weekly consultation hours (staff).
    pub hours: Vec<konsult_protocol::model::HoursSlot>,
}

impl Person {
    fn new(info: UserInfo, now: Instant) -> Person {
        Person {
            info,
            active: true,
            conns: Vec::new(),
            set_status: SetStatus::Away,
            idle_since: now,
            gone_since: None,
            offer: None,
            request: None,
            sessions: BTreeSet::new(),
            hours: Vec::new(),
        }
    }

    pub fn online(&self) -> bool {
        !self.conns.is_empty()
    }

    pub fn is_staff(&self) -> bool {
        self.info.role.is_staff()
    }

    /// The subjects this staff member answers requests for.
    pub fn serves(&self, subject: &str) -> bool {
        if !self.is_staff() {
            return false;
        }
        if self.info.role == Role::Support && self.info.subjects.is_empty() {
            subject == SUPPORT_SUBJECT
        } else {
            self.info.subjects.iter().any(|s| s == subject)
        }
    }

    /// The subjects served while the account is active staff, for the staff index.
    fn served(&self) -> Option<Vec<String>> {
        (self.active && self.is_staff()).then(|| self.subjects())
    }

    /// Subjects served: a teacher's own, or `support` for support staff without any.
    pub fn subjects(&self) -> Vec<String> {
        if self.info.role == Role::Support && self.info.subjects.is_empty() {
            vec![SUPPORT_SUBJECT.to_string()]
        } else {
            self.info.subjects.clone()
        }
    }
}

impl Hub {
    /// A person's availability as others see it.
    pub(crate) fn status_of(&self, user: UserId) -> Status {
        let Some(person) = self.people.get(&user) else {
            return Status::Offline;
        };
        if !person.online() {
            return Status::Offline;
        }
        if self.in_individual_session(user) {
            return Status::Busy;
        }
        person.set_status.into()
    }

    /// Whether the staff member can take an offer now.
    pub(crate) fn is_free(&self, user: UserId) -> bool {
        self.status_of(user) == Status::Available
            && self.people.get(&user).is_some_and(|p| p.offer.is_none())
    }

    pub(crate) fn in_individual_session(&self, user: UserId) -> bool {
        self.people.get(&user).is_some_and(|p| {
            p.sessions.iter().any(|s| {
                self.sessions
                    .get(s)
                    .is_some_and(|s| s.form == konsult_protocol::model::Form::Individual)
            })
        })
    }

    fn upsert_person(&mut self, info: UserInfo, active: bool) {
        let now = self.now.mono;
        let id = info.id;
        let before = self.people.get(&id).and_then(Person::served);
        let person = self
            .people
            .entry(id)
            .or_insert_with(|| Person::new(info.clone(), now));
        person.info = info;
        person.active = active;
        let after = person.served();
        self.staff.update(id, before, after);
    }

    pub(crate) fn on_user_changed(&mut self, info: UserInfo, active: bool) {
        let id = info.id;
        let before = self.status_of(id);
        self.upsert_person(info, active);
        if !active {
            // A deactivated account loses its place: requests are cancelled, offers withdrawn.
            self.forget_user_work(id);
        }
        self.presence_changed(id, before);
    }

    pub(crate) fn on_connected(&mut self, conn: ConnId, info: UserInfo, resumed: bool) {
        let id = info.id;
        let before = self.status_of(id);
        self.upsert_person(info, true);
        self.conns.insert(conn, id);
        let person = self.people.get_mut(&id).expect("person was just upserted");
        person.conns.push(conn);
        person.gone_since = None;
        self.presence_changed(id, before);
        if !resumed {
            self.restore(conn, id);
        }
    }

    /// Tells a (re)connecting user where they stand: their sessions, invitations, request and
    /// pending offer.
    fn restore(&mut self, conn: ConnId, user: UserId) {
        let Some(person) = self.people.get(&user) else {
            return;
        };
        let sessions: Vec<SessionId> = person.sessions.iter().copied().collect();
        let request = person.request;
        let offer = person.offer;
        for session in sessions {
            self.restore_session(conn, user, session);
        }
        let invites: Vec<SessionId> = self
            .sessions
            .values()
            .filter(|s| s.is_invited_only(user))
            .map(|s| s.id)
            .collect();
        for session in invites {
            self.send_invite(conn, session);
        }
        if let Some(request) = request {
            self.restore_request(conn, request);
        }
        if let Some(request) = offer {
            self.restore_offer(conn, user, request);
        }
    }

    pub(crate) fn on_disconnected(&mut self, conn: ConnId) {
        let Some(user) = self.conns.remove(&conn) else {
            return;
        };
        self.presence_watchers.remove(&conn);
        let before = self.status_of(user);
        let now = self.now.mono;
        let Some(person) = self.people.get_mut(&user) else {
            return;
        };
        person.conns.retain(|c| *c != conn);
        if person.online() {
            self.media_conn_closed(user, conn);
            return;
        }
        person.gone_since = Some(now);
        let offer = person.offer.take();
        self.timers.set(now + self.config.grace, Timer::Grace(user));
        if let Some(request) = offer {
            // A teacher who dropped cannot answer: the request goes to someone else.
            self.withdraw_offer(request, user, false);
        }
        self.sessions_member_gone(user);
        self.presence_changed(user, before);
    }

    /// The grace period of a user who dropped is over: if they did not come back, their
    /// request is cancelled and the sessions they hosted end.
    pub(crate) fn on_grace_over(&mut self, user: UserId) {
        let Some(person) = self.people.get(&user) else {
            return;
        };
        let Some(gone) = person.gone_since else {
            return;
        };
        if person.online() || self.now.mono < gone + self.config.grace {
            return;
        }
        self.forget_user_work(user);
        if let Some(person) = self.people.get_mut(&user) {
            person.gone_since = None;
        }
    }

    /// Cancels the user's request and ends or leaves their sessions.
    fn forget_user_work(&mut self, user: UserId) {
        let Some(person) = self.people.get_mut(&user) else {
            return;
        };
        let request = person.request;
        let offer = person.offer.take();
        let sessions: Vec<SessionId> = person.sessions.iter().copied().collect();
        if let Some(request) = request {
            self.finish_cancelled(request);
        }
        if let Some(request) = offer {
            self.withdraw_offer(request, user, false);
        }
        for session in sessions {
            self.member_gone_for_good(session, user);
        }
    }

    pub(crate) fn set_status(&mut self, asker: &Asker, status: SetStatus) -> Handled {
        let before = self.status_of(asker.user);
        let now = self.now.mono;
        let person = self
            .people
            .get_mut(&asker.user)
            .expect("connected users are known");
        if !person.is_staff() {
            return Err(Refusal::forbidden(
                "only teachers and support staff set a status",
            ));
        }
        if person.set_status != SetStatus::Available && status == SetStatus::Available {
            person.idle_since = now;
        }
        person.set_status = status;
        self.ok(asker);
        self.presence_changed(asker.user, before);
        Ok(())
    }

    /// Pushes `presence` when a staff member's visible status changed: to their own devices,
    /// to students waiting on their subjects, and to connections watching the teacher list.
    pub(crate) fn presence_changed(&mut self, user: UserId, before: Status) {
        let after = self.status_of(user);
        if after == before {
            return;
        }
        let Some(person) = self.people.get(&user) else {
            return;
        };
        if !person.is_staff() {
            return;
        }
        let subjects = person.subjects();
        // The staff member and the students waiting on their subjects, in id order.
        let mut users: Vec<UserId> = vec![user];
        for subject in &subjects {
            if let Some(queue) = self.queues.get(subject) {
                users.extend(
                    queue
                        .iter()
                        .filter_map(|r| self.requests.get(r))
                        .map(|r| r.student),
                );
            }
        }
        users.sort_unstable();
        users.dedup();
        let watchers: Vec<ConnId> = self
            .presence_watchers
            .iter()
            .copied()
            .filter(|c| {
                self.conns
                    .get(c)
                    .is_some_and(|u| users.binary_search(u).is_err())
            })
            .collect();
        let msg = ServerMessage::Presence {
            user,
            status: after,
        };
        if !watchers.is_empty() {
            self.push(Output::Send {
                to: Recipients::Conns(watchers),
                msg: msg.clone(),
                re: None,
            });
        }
        self.send_users(users, msg);
        if after == Status::Available {
            for subject in subjects {
                self.dirty_subjects.insert(subject);
            }
        }
    }

    pub(crate) fn list_teachers(&mut self, asker: &Asker, subject: Option<String>) -> Handled {
        let staff: Vec<UserId> = match subject.as_deref() {
            Some(subject) => self.staff.of(subject).collect(),
            None => self.staff.all().collect(),
        };
        let mut teachers: Vec<TeacherInfo> = staff
            .iter()
            .filter_map(|id| self.people.get(id))
            .map(|p| TeacherInfo {
                id: p.info.id,
                name: p.info.name.clone(),
                role: p.info.role,
                subjects: p.subjects(),
                status: Status::Offline,
                hours: p.hours.clone(),
            })
            .collect();
        for teacher in &mut teachers {
            teacher.status = self.status_of(teacher.id);
        }
        teachers.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        self.presence_watchers.insert(asker.conn);
        self.answer(asker, ServerMessage::Teachers { teachers });
        Ok(())
    }

    pub(crate) fn person(&self, user: UserId) -> Result<&Person, Refusal> {
        self.people
            .get(&user)
            .filter(|p| p.active)
            .ok_or_else(|| Refusal::not_found(format!("no user {user}")))
    }

    pub(crate) fn info(&self, user: UserId) -> UserInfo {
        self.people
            .get(&user)
            .map(|p| p.info.clone())
            .unwrap_or_else(|| UserInfo {
                id: user,
                login: String::new(),
                name: String::new(),
                role: Role::Student,
                class: None,
                subjects: Vec::new(),
            })
    }

    pub(crate) fn role_of(&self, user: UserId) -> Option<Role> {
        self.people.get(&user).map(|p| p.info.role)
    }
}
