//! People and presence: everyone the hub knows, their connections, staff availability and who
//! watches it, and the places each person holds (an open request, an offer, sessions).

use crate::ids::IdMap;
use crate::io::{ConnId, Output, Recipients};
use crate::outputs::Outputs;
use crate::refusal::{Asker, Handled, Refusal};
use crate::snapshot::{PersonState, Rebase};
use crate::staff::StaffIndex;
use konsult_protocol::model::{Form, HoursSlot, Role, SetStatus, Status, TeacherInfo, UserInfo};
use konsult_protocol::{RequestId, ServerMessage, SessionId, UserId};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// Resume tokens kept per user: one for each of their latest connections (a phone and a
/// laptop, each reconnected once).
const RESUME_TOKENS: usize = 4;

/// The pseudo-subject served by support staff (the school psychologist) when their account
/// lists no subjects: `request_help {subject: "support"}` reaches them.
pub const SUPPORT_SUBJECT: &str = "support";

/// Everyone the hub knows, and who is connected.
#[derive(Debug, Default)]
pub(crate) struct People {
    /// Accounts, their connections and presence.
    people: IdMap<UserId, Person>,
    /// Active staff by subject served.
    staff: StaffIndex,
    /// Which user each connection belongs to.
    conns: IdMap<ConnId, UserId>,
    /// Connections that asked for `list_teachers` and get `presence` updates.
    watchers: BTreeSet<ConnId>,
    /// Whose connection each kept resume token was issued to.
    resume_tokens: HashMap<String, UserId>,
}

/// A user as the hub tracks them.
#[derive(Debug)]
struct Person {
    info: UserInfo,
    /// Deactivated accounts are forgotten once their connections end.
    active: bool,
    /// Open connections.
    conns: Vec<ConnId>,
    /// Availability as the staff member set it.
    set_status: SetStatus,
    /// Since when a staff member has been free: the longest-idle teacher gets the next offer.
    idle_since: Instant,
    /// When the last connection dropped, while within the grace period.
    gone_since: Option<Instant>,
    /// The request offered to this staff member, awaiting accept or decline.
    offer: Option<RequestId>,
    /// The student's open request.
    request: Option<RequestId>,
    /// Sessions this user is a member of, with their form: an individual one makes them busy.
    sessions: BTreeMap<SessionId, Form>,
    /// Weekly consultation hours (staff).
    hours: Vec<HoursSlot>,
    /// Resume tokens of the latest connections, oldest first.
    resume: Vec<String>,
    /// Restored from a snapshot and not connected since: what the previous node sent this
    /// user's clients is lost, so their next connection is told where they stand even when it
    /// resumes.
    moved: bool,
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
            sessions: BTreeMap::new(),
            hours: Vec::new(),
            resume: Vec::new(),
            moved: false,
        }
    }

    fn online(&self) -> bool {
        !self.conns.is_empty()
    }

    fn is_staff(&self) -> bool {
        self.info.role.is_staff()
    }

    /// Whether this staff member answers requests for `subject`.
    fn serves(&self, subject: &str) -> bool {
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
    fn subjects(&self) -> Vec<String> {
        if self.info.role == Role::Support && self.info.subjects.is_empty() {
            vec![SUPPORT_SUBJECT.to_string()]
        } else {
            self.info.subjects.clone()
        }
    }

    fn status(&self) -> Status {
        if !self.online() {
            Status::Offline
        } else if self.sessions.values().any(|f| *f == Form::Individual) {
            Status::Busy
        } else {
            self.set_status.into()
        }
    }
}

/// What a closed connection meant for its user.
#[derive(Debug)]
pub(crate) struct Dropped {
    pub user: UserId,
    /// The user's status before the connection closed.
    pub before: Status,
    /// It was their last connection: the grace period starts.
    pub last: bool,
    /// The offer the user held, taken back from them when they went offline.
    pub offer: Option<RequestId>,
}

impl People {
    /// Records an account as it is now (created, changed or deactivated).
    pub fn upsert(&mut self, info: UserInfo, active: bool, now: Instant) {
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

    /// A connection passed `hello` as `info`. Returns whether the user's school moved since
    /// their last connection (their place must be told again, resumed or not).
    pub fn connect(&mut self, conn: ConnId, info: UserInfo, now: Instant) -> bool {
        let id = info.id;
        self.upsert(info, true, now);
        self.conns.insert(conn, id);
        let person = self.people.get_mut(&id).expect("person was just upserted");
        person.conns.push(conn);
        person.gone_since = None;
        std::mem::take(&mut person.moved)
    }

    /// Keeps the resume token the server gave a connection, forgetting the user's oldest.
    pub fn issue_resume(&mut self, conn: ConnId, token: String) {
        let Some(user) = self.conns.get(&conn).copied() else {
            return;
        };
        let Some(person) = self.people.get_mut(&user) else {
            return;
        };
        if person.resume.contains(&token) {
            return;
        }
        person.resume.push(token.clone());
        self.resume_tokens.insert(token, user);
        while person.resume.len() > RESUME_TOKENS {
            let oldest = person.resume.remove(0);
            self.resume_tokens.remove(&oldest);
        }
    }

    /// The user a kept resume token was issued to.
    pub fn resume_of(&self, token: &str) -> Option<UserId> {
        self.resume_tokens.get(token).copied()
    }

    /// Every kept resume token with the user it was issued to.
    pub fn resume_tokens(&self) -> impl Iterator<Item = (&str, UserId)> + '_ {
        self.resume_tokens.iter().map(|(t, u)| (t.as_str(), *u))
    }

    /// Everyone the hub knows, in id order, as a snapshot keeps them.
    pub fn save(&self, at: Rebase) -> Vec<PersonState> {
        let mut people: Vec<PersonState> = self
            .people
            .values()
            .map(|p| PersonState {
                info: p.info.clone(),
                active: p.active,
                online: p.online(),
                set_status: p.set_status,
                idle_since: at.offset(p.idle_since),
                gone_since: p.gone_since.map(|t| at.offset(t)),
                offer: p.offer,
                request: p.request,
                sessions: p.sessions.iter().map(|(s, f)| (*s, *f)).collect(),
                hours: p.hours.clone(),
                resume: p.resume.clone(),
            })
            .collect();
        people.sort_by_key(|p| p.info.id);
        people
    }

    /// People restored from a snapshot, with no connection: those who were online dropped at
    /// the restore (`at`) and are within their grace period from then, returned for the hub to
    /// set their grace deadlines.
    pub fn load(states: Vec<PersonState>, at: Rebase) -> (People, Vec<UserId>) {
        let mut people = People::default();
        let mut dropped = Vec::new();
        for state in states {
            let id = state.info.id;
            let gone_since = if state.online {
                dropped.push(id);
                Some(at.0)
            } else {
                state.gone_since.map(|t| at.instant(t))
            };
            for token in &state.resume {
                people.resume_tokens.insert(token.clone(), id);
            }
            let person = Person {
                info: state.info,
                active: state.active,
                conns: Vec::new(),
                set_status: state.set_status,
                idle_since: at.instant(state.idle_since),
                gone_since,
                offer: state.offer,
                request: state.request,
                sessions: state.sessions.into_iter().collect(),
                hours: state.hours,
                resume: state.resume,
                moved: true,
            };
            people.staff.update(id, None, person.served());
            people.people.insert(id, person);
        }
        (people, dropped)
    }

    /// A connection closed; `None` for one the hub did not know.
    pub fn disconnect(&mut self, conn: ConnId, now: Instant) -> Option<Dropped> {
        let user = self.conns.remove(&conn)?;
        self.watchers.remove(&conn);
        let before = self.status_of(user);
        let person = self.people.get_mut(&user)?;
        person.conns.retain(|c| *c != conn);
        if person.online() {
            return Some(Dropped {
                user,
                before,
                last: false,
                offer: None,
            });
        }
        person.gone_since = Some(now);
        Some(Dropped {
            user,
            before,
            last: true,
            offer: person.offer.take(),
        })
    }

    /// Whether a user who dropped stayed away for the whole grace period.
    pub fn grace_over(&self, user: UserId, now: Instant, grace: Duration) -> bool {
        self.people.get(&user).is_some_and(|p| {
            p.gone_since
                .is_some_and(|gone| !p.online() && now >= gone + grace)
        })
    }

    /// A dropped user's grace period is settled.
    pub fn grace_settled(&mut self, user: UserId) {
        if let Some(person) = self.people.get_mut(&user) {
            person.gone_since = None;
        }
    }

    /// The user a connection belongs to.
    pub fn user_of(&self, conn: ConnId) -> Option<UserId> {
        self.conns.get(&conn).copied()
    }

    /// A person's availability as others see it.
    pub fn status_of(&self, user: UserId) -> Status {
        self.people
            .get(&user)
            .map_or(Status::Offline, Person::status)
    }

    /// Whether the staff member can take an offer now.
    pub fn is_free(&self, user: UserId) -> bool {
        self.people
            .get(&user)
            .is_some_and(|p| p.status() == Status::Available && p.offer.is_none())
    }

    pub fn is_online(&self, user: UserId) -> bool {
        self.people.get(&user).is_some_and(Person::online)
    }

    pub fn in_individual_session(&self, user: UserId) -> bool {
        self.people
            .get(&user)
            .is_some_and(|p| p.sessions.values().any(|f| *f == Form::Individual))
    }

    pub fn is_staff(&self, user: UserId) -> bool {
        self.people.get(&user).is_some_and(Person::is_staff)
    }

    /// Refuses unless the user is active teaching or support staff.
    pub fn require_staff(&self, user: UserId) -> Handled {
        if self.is_staff(user) {
            Ok(())
        } else {
            Err(Refusal::forbidden(
                "only teachers and support staff do this",
            ))
        }
    }

    pub fn role_of(&self, user: UserId) -> Option<Role> {
        self.people.get(&user).map(|p| p.info.role)
    }

    /// Whether `user` is a student's anonymous identity (see `UserInfo::anonymous`).
    pub fn is_anonymous(&self, user: UserId) -> bool {
        self.people.get(&user).is_some_and(|p| p.info.anonymous)
    }

    /// Refuses a user the hub does not know or who was deactivated.
    pub fn require_active(&self, user: UserId) -> Handled {
        if self.people.get(&user).is_some_and(|p| p.active) {
            Ok(())
        } else {
            Err(Refusal::not_found(format!("no user {user}")))
        }
    }

    /// A user as messages show them (a blank student for one the hub does not know).
    pub fn info(&self, user: UserId) -> UserInfo {
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
                anonymous: false,
            })
    }

    /// Consultations with support staff are confidential.
    pub fn confidential(&self, subject: &str, staff: Option<UserId>) -> bool {
        subject == SUPPORT_SUBJECT || staff.is_some_and(|s| self.role_of(s) == Some(Role::Support))
    }

    /// Sets a staff member's availability; refused for anyone else.
    pub fn set_status(&mut self, user: UserId, status: SetStatus, now: Instant) -> Handled {
        let person = self
            .people
            .get_mut(&user)
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
        Ok(())
    }

    /// A teacher let an offer lapse: probably away from the screen.
    pub fn set_away(&mut self, user: UserId) {
        if let Some(person) = self.people.get_mut(&user) {
            person.set_status = SetStatus::Away;
        }
    }

    /// Active staff who serve `subject`, in id order.
    pub fn staff_of(&self, subject: &str) -> impl Iterator<Item = UserId> + '_ {
        self.staff.of(subject)
    }

    /// Whether the user is staff serving `subject`.
    pub fn serves(&self, user: UserId, subject: &str) -> bool {
        self.people.get(&user).is_some_and(|p| p.serves(subject))
    }

    /// The subjects a staff member serves (none for anyone else the hub does not know).
    pub fn subjects_of(&self, user: UserId) -> Vec<String> {
        self.people
            .get(&user)
            .map(Person::subjects)
            .unwrap_or_default()
    }

    /// The active students of a class.
    pub fn students_of_class(&self, class: &str) -> Vec<UserId> {
        self.people
            .values()
            .filter(|p| {
                p.active && p.info.role == Role::Student && p.info.class.as_deref() == Some(class)
            })
            .map(|p| p.info.id)
            .collect()
    }

    /// Since when a staff member has been free.
    pub fn idle_since(&self, user: UserId) -> Option<Instant> {
        self.people.get(&user).map(|p| p.idle_since)
    }

    /// A staff member became free (their session ended).
    pub fn set_idle(&mut self, user: UserId, now: Instant) {
        if let Some(person) = self.people.get_mut(&user) {
            person.idle_since = now;
        }
    }

    /// The student's open request.
    pub fn request_of(&self, user: UserId) -> Option<RequestId> {
        self.people.get(&user).and_then(|p| p.request)
    }

    pub fn set_request(&mut self, user: UserId, request: RequestId) {
        if let Some(person) = self.people.get_mut(&user) {
            person.request = Some(request);
        }
    }

    /// The student's request `id` is closed (a later one stays).
    pub fn clear_request(&mut self, user: UserId, id: RequestId) {
        if let Some(person) = self.people.get_mut(&user)
            && person.request == Some(id)
        {
            person.request = None;
        }
    }

    /// The student's request, whichever, is closed.
    pub fn clear_any_request(&mut self, user: UserId) {
        if let Some(person) = self.people.get_mut(&user) {
            person.request = None;
        }
    }

    /// The request offered to a staff member.
    pub fn offer_of(&self, user: UserId) -> Option<RequestId> {
        self.people.get(&user).and_then(|p| p.offer)
    }

    pub fn set_offer(&mut self, user: UserId, request: RequestId) {
        self.people
            .get_mut(&user)
            .expect("offers go to known staff")
            .offer = Some(request);
    }

    /// The offer of `id` to a staff member is over.
    pub fn clear_offer(&mut self, user: UserId, id: RequestId) {
        if let Some(person) = self.people.get_mut(&user)
            && person.offer == Some(id)
        {
            person.offer = None;
        }
    }

    /// Takes back whatever offer a staff member holds.
    pub fn take_offer(&mut self, user: UserId) -> Option<RequestId> {
        self.people.get_mut(&user).and_then(|p| p.offer.take())
    }

    /// The sessions a user is a member of.
    pub fn sessions_of(&self, user: UserId) -> Vec<SessionId> {
        self.people
            .get(&user)
            .map(|p| p.sessions.keys().copied().collect())
            .unwrap_or_default()
    }

    /// The user joined (or hosts) a session.
    pub fn enter_session(&mut self, user: UserId, session: SessionId, form: Form) {
        if let Some(person) = self.people.get_mut(&user) {
            person.sessions.insert(session, form);
        }
    }

    /// The user is no longer a member of a session.
    pub fn leave_session(&mut self, user: UserId, session: SessionId) {
        if let Some(person) = self.people.get_mut(&user) {
            person.sessions.remove(&session);
        }
    }

    /// A staff member's weekly consultation hours.
    pub fn hours_of(&self, user: UserId) -> Option<&[HoursSlot]> {
        self.people.get(&user).map(|p| p.hours.as_slice())
    }

    pub fn set_hours(&mut self, user: UserId, hours: Vec<HoursSlot>) {
        if let Some(person) = self.people.get_mut(&user) {
            person.hours = hours;
        }
    }

    /// Pushes a staff member's new `status` to `users` (the staff member and the students
    /// waiting on their subjects) and to the connections watching the teacher list.
    pub fn tell_presence(
        &self,
        user: UserId,
        status: Status,
        mut users: Vec<UserId>,
        out: &mut Outputs,
    ) {
        // In id order, each once.
        users.sort_unstable();
        users.dedup();
        let watchers: Vec<ConnId> = self
            .watchers
            .iter()
            .copied()
            .filter(|c| {
                self.conns
                    .get(c)
                    .is_some_and(|u| users.binary_search(u).is_err())
            })
            .collect();
        let msg = ServerMessage::Presence { user, status };
        if !watchers.is_empty() {
            out.push(Output::Send {
                to: Recipients::Conns(watchers),
                msg: msg.clone(),
                re: None,
            });
        }
        out.send_users(users, msg);
    }

    /// Answers `list_teachers`; the asker's connection then hears of presence changes.
    pub fn list_teachers(&mut self, asker: &Asker, subject: Option<String>, out: &mut Outputs) {
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
                status: p.status(),
                hours: p.hours.clone(),
            })
            .collect();
        teachers.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        self.watchers.insert(asker.conn);
        out.answer(asker, ServerMessage::Teachers { teachers });
    }
}
