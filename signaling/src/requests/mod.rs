//! Help requests: their validation, one FIFO queue per subject, offers to the longest-idle free
//! teacher, deferral to a thread, positions and estimated waits. `Requests` owns every open
//! request and queue; what it needs of people it asks `People`.

mod deferral;
mod offers;
mod waiting;

use crate::ctx::Ctx;
use crate::hours;
use crate::ids::IdMap;
use crate::io::{ConnId, ConsultationRecord, Outcome, RecordKey};
use crate::people::{People, SUPPORT_SUBJECT};
use crate::refusal::{Asker, Handled, Refusal};
use crate::snapshot::{ID_SKIP, Rebase, RequestState, RequestsState};
use crate::timers::Timer;
use konsult_protocol::limits::MAX_TOPIC_CHARS;
use konsult_protocol::model::{DeferReason, Form, Mode, Role};
use konsult_protocol::{RequestId, ServerMessage, SessionId, UserId};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Open help requests and the queues they wait in.
#[derive(Debug)]
pub(crate) struct Requests {
    /// Open help requests (queued, offered, or being deferred).
    requests: IdMap<RequestId, Request>,
    /// One FIFO queue per subject.
    queues: BTreeMap<String, VecDeque<RequestId>>,
    /// Subjects whose queue changed since positions were last sent.
    dirty_subjects: BTreeSet<String>,
    /// Subjects with a queue snapshot push pending.
    queue_push_pending: BTreeSet<String>,
    /// Subjects whose places behind the head are due to be sent at a timer.
    positions_pending: BTreeSet<String>,
    /// Subjects whose timer fired: every place is sent at the next flush.
    positions_due: BTreeSet<String>,
    /// Recent handling times per subject, for estimates.
    recent_waits: HashMap<String, VecDeque<Duration>>,
    next_request: i64,
}

/// What a student asks for in `request_help`.
#[derive(Debug)]
pub(crate) struct HelpAsked {
    pub subject: String,
    pub form: Form,
    pub mode: Mode,
    pub topic: String,
    /// The teacher the student asks for, if any.
    pub teacher: Option<UserId>,
    /// Asked without the student's name (`request_help.anonymous`).
    pub anonymous: bool,
}

/// An open help request.
#[derive(Debug, Clone)]
struct Request {
    id: RequestId,
    student: UserId,
    subject: String,
    topic: String,
    form: Form,
    mode: Mode,
    /// The teacher the student asked for.
    teacher: Option<UserId>,
    requested: Instant,
    requested_ms: i64,
    /// The staff member it is offered to now, and until when.
    offered_to: Option<(UserId, Instant)>,
    /// Staff members who declined it (or let the offer lapse).
    declined: BTreeSet<UserId>,
    /// The position and estimate last told to the student.
    told: Option<(u32, Option<u32>)>,
    /// Being turned into a thread: no longer in a queue.
    deferring: Option<DeferReason>,
    /// When a named teacher outside their hours is next available (ISO 8601, local).
    next_available: Option<String>,
}

/// A request that left the queues for a session: what the session and the record keep of it.
#[derive(Debug, Clone)]
pub(crate) struct TakenRequest {
    pub id: RequestId,
    pub student: UserId,
    pub subject: String,
    pub topic: String,
    pub form: Form,
    pub mode: Mode,
    pub requested: Instant,
    pub requested_ms: i64,
}

impl TakenRequest {
    fn of(request: &Request) -> TakenRequest {
        TakenRequest {
            id: request.id,
            student: request.student,
            subject: request.subject.clone(),
            topic: request.topic.clone(),
            form: request.form,
            mode: request.mode,
            requested: request.requested,
            requested_ms: request.requested_ms,
        }
    }

    /// The record of the request once `session` with `staff` started from it at `cx.now`.
    pub fn started_record(
        &self,
        staff: UserId,
        session: SessionId,
        confidential: bool,
        cx: &Ctx,
    ) -> ConsultationRecord {
        let wait = cx.now.mono.saturating_duration_since(self.requested);
        ConsultationRecord {
            key: RecordKey::Request(self.id),
            form: self.form,
            mode: self.mode,
            subject: self.subject.clone(),
            topic: self.topic.clone(),
            staff: Some(staff),
            students: vec![self.student],
            session: Some(session),
            thread: None,
            requested_at_ms: Some(self.requested_ms),
            started_at_ms: Some(cx.now.unix_ms),
            ended_at_ms: None,
            wait_secs: Some(wait.as_secs() as i64),
            outcome: Outcome::InProgress,
            confidential,
        }
    }
}

impl Requests {
    pub fn new(next_request: i64) -> Requests {
        Requests {
            requests: IdMap::default(),
            queues: BTreeMap::new(),
            dirty_subjects: BTreeSet::new(),
            queue_push_pending: BTreeSet::new(),
            positions_pending: BTreeSet::new(),
            positions_due: BTreeSet::new(),
            recent_waits: HashMap::new(),
            next_request: next_request.max(1),
        }
    }

    /// The open requests and queues, as a snapshot keeps them. Subjects marked dirty are
    /// settled at the end of every input, so there are none between inputs to keep.
    pub fn save(&self, at: Rebase) -> RequestsState {
        debug_assert!(
            self.dirty_subjects.is_empty(),
            "invariant: no subject is left dirty between inputs"
        );
        let mut requests: Vec<RequestState> = self
            .requests
            .values()
            .map(|r| RequestState {
                id: r.id,
                student: r.student,
                subject: r.subject.clone(),
                topic: r.topic.clone(),
                form: r.form,
                mode: r.mode,
                teacher: r.teacher,
                requested: at.offset(r.requested),
                requested_ms: r.requested_ms,
                offered_to: r.offered_to.map(|(t, until)| (t, at.offset(until))),
                declined: r.declined.iter().copied().collect(),
                told: r.told,
                deferring: r.deferring,
                next_available: r.next_available.clone(),
            })
            .collect();
        requests.sort_by_key(|r| r.id);
        let mut recent_handling: Vec<(String, Vec<u64>)> = self
            .recent_waits
            .iter()
            .map(|(subject, took)| {
                let ms = took.iter().map(|d| d.as_millis() as u64).collect();
                (subject.clone(), ms)
            })
            .collect();
        recent_handling.sort();
        RequestsState {
            requests,
            queues: self
                .queues
                .iter()
                .map(|(subject, q)| (subject.clone(), q.iter().copied().collect()))
                .collect(),
            queue_push_pending: self.queue_push_pending.iter().cloned().collect(),
            positions_pending: self.positions_pending.iter().cloned().collect(),
            positions_due: self.positions_due.iter().cloned().collect(),
            recent_handling,
            next_request: self.next_request,
        }
    }

    /// Requests restored from a snapshot, rebased on `at`; ids go on past any the previous
    /// owner may have handed out after the snapshot.
    pub fn load(state: RequestsState, at: Rebase) -> Requests {
        let requests = state
            .requests
            .into_iter()
            .map(|r| {
                let request = Request {
                    id: r.id,
                    student: r.student,
                    subject: r.subject,
                    topic: r.topic,
                    form: r.form,
                    mode: r.mode,
                    teacher: r.teacher,
                    requested: at.instant(r.requested),
                    requested_ms: r.requested_ms,
                    offered_to: r.offered_to.map(|(t, until)| (t, at.instant(until))),
                    declined: r.declined.into_iter().collect(),
                    told: r.told,
                    deferring: r.deferring,
                    next_available: r.next_available,
                };
                (r.id, request)
            })
            .collect();
        let recent_waits = state
            .recent_handling
            .into_iter()
            .map(|(subject, ms)| {
                let took = ms.into_iter().map(Duration::from_millis).collect();
                (subject, took)
            })
            .collect();
        Requests {
            requests,
            queues: state
                .queues
                .into_iter()
                .map(|(subject, q)| (subject, q.into_iter().collect()))
                .collect(),
            dirty_subjects: BTreeSet::new(),
            queue_push_pending: state.queue_push_pending.into_iter().collect(),
            positions_pending: state.positions_pending.into_iter().collect(),
            positions_due: state.positions_due.into_iter().collect(),
            recent_waits,
            next_request: state.next_request.max(1) + ID_SKIP,
        }
    }

    /// Skips the ids a restore skips (for tests that compare a hub with its restored copy).
    #[cfg(feature = "testing")]
    pub fn skip_ids(&mut self) {
        self.next_request += ID_SKIP;
    }

    /// Hands out no id below `next`.
    pub fn ids_from(&mut self, next: i64) {
        self.next_request = self.next_request.max(next);
    }

    /// Asks again for the threads of requests being deferred when the snapshot was taken: the
    /// answer went to the previous owner.
    pub fn resume_deferrals(&mut self, people: &mut People, cx: &mut Ctx) {
        let deferring: Vec<(RequestId, DeferReason)> = self
            .requests
            .values()
            .filter_map(|r| r.deferring.map(|reason| (r.id, reason)))
            .collect();
        for (id, reason) in deferring {
            self.defer(id, reason, people, cx);
        }
    }

    /// Open help requests.
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    /// The requests queued for `subject`, head first.
    pub fn queued(&self, subject: &str) -> Vec<RequestId> {
        self.queues
            .get(subject)
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The students waiting in a subject's queue, head first.
    pub fn students_waiting(&self, subject: &str) -> impl Iterator<Item = UserId> + '_ {
        self.queues
            .get(subject)
            .into_iter()
            .flatten()
            .filter_map(|r| self.requests.get(r))
            .map(|r| r.student)
    }

    /// Answers `request_help`: the request is queued, or deferred to a thread at once.
    pub fn request_help(
        &mut self,
        asker: &Asker,
        asked: HelpAsked,
        people: &mut People,
        cx: &mut Ctx,
    ) -> Handled {
        let HelpAsked {
            subject,
            form,
            mode,
            topic,
            teacher,
            anonymous,
        } = asked;
        let student = asker.user;
        people.require_active(student)?;
        if people.role_of(student) != Some(Role::Student) {
            return Err(Refusal::forbidden("only students ask for help"));
        }
        // An anonymous identity exists for the support service alone, and a student's own
        // account is never anonymous: either half of the pair alone is refused.
        let anonymous_identity = people.is_anonymous(student);
        if anonymous || anonymous_identity {
            let to_support = subject == SUPPORT_SUBJECT
                && teacher.is_none_or(|t| people.role_of(t) == Some(Role::Support));
            if !to_support {
                return Err(Refusal::anonymous_support_only(
                    "only the support service may be asked anonymously",
                ));
            }
            if !anonymous_identity {
                return Err(Refusal::anonymous_support_only(
                    "ask anonymously on a connection signed in with POST /api/anonymous",
                ));
            }
        }
        if let Some(open) = people.request_of(student) {
            return Err(Refusal::conflict(format!(
                "request {open} is still open; cancel it first"
            )));
        }
        if form == Form::Frontal {
            return Err(Refusal::bad_request(
                "a help request is individual or group",
            ));
        }
        let topic = topic.trim().to_string();
        if topic.is_empty() {
            return Err(Refusal::bad_request("say what you need help with"));
        }
        if topic.chars().count() > MAX_TOPIC_CHARS {
            return Err(Refusal::too_large(format!(
                "the topic is over {MAX_TOPIC_CHARS} characters"
            )));
        }
        if people.in_individual_session(student) && mode == Mode::Online {
            return Err(Refusal::conflict("you are already in a consultation"));
        }
        let staff: Vec<UserId> = people.staff_of(&subject).collect();
        if staff.is_empty() {
            return Err(Refusal::not_found(format!("nobody helps with {subject:?}")));
        }
        if let Some(t) = teacher
            && !staff.contains(&t)
        {
            return Err(Refusal::bad_request(format!(
                "user {t} does not help with {subject:?}"
            )));
        }
        let id = RequestId(self.next_request);
        self.next_request += 1;
        let now = cx.now;
        let outside_hours = teacher.and_then(|t| {
            let slots = people.hours_of(t)?;
            if slots.is_empty() || hours::within(slots, Some(&subject), &now) {
                return None;
            }
            let (_, wait) = hours::next_start(slots, Some(&subject), &now)
                .or_else(|| hours::next_start(slots, None, &now))?;
            Some(hours::iso_after(&now, wait))
        });
        let request = Request {
            id,
            student,
            subject: subject.clone(),
            topic,
            form,
            mode,
            teacher,
            requested: now.mono,
            requested_ms: now.unix_ms,
            offered_to: None,
            declined: BTreeSet::new(),
            told: None,
            deferring: None,
            next_available: outside_hours.clone(),
        };
        self.requests.insert(id, request);
        people.set_request(student, id);

        let someone_online = match teacher {
            Some(t) => people.is_online(t),
            None => staff.iter().any(|s| people.is_online(*s)),
        };
        if outside_hours.is_some() {
            self.defer(id, DeferReason::OutsideHours, people, cx);
        } else if mode == Mode::Offline {
            self.defer(id, DeferReason::Offline, people, cx);
        } else if !someone_online {
            self.defer(id, DeferReason::NoTeacher, people, cx);
        } else {
            self.queues
                .entry(subject.clone())
                .or_default()
                .push_back(id);
            cx.after(cx.config.max_wait, Timer::WaitLimit(id));
            let queued = self.queued_view(id, people);
            if let Some(r) = self.requests.get_mut(&id) {
                r.told = Some((queued.position, queued.eta_secs));
            }
            cx.out
                .answer(asker, ServerMessage::RequestQueued { request: queued });
            self.queue_changed(&subject, cx);
            return Ok(());
        }
        cx.out.ok(asker);
        Ok(())
    }

    /// Answers `cancel_request` from its student.
    pub fn cancel(
        &mut self,
        asker: &Asker,
        id: RequestId,
        people: &mut People,
        cx: &mut Ctx,
    ) -> Handled {
        let mine = self
            .requests
            .get(&id)
            .is_some_and(|r| r.student == asker.user && r.deferring.is_none());
        if !mine {
            return Err(Refusal::not_found(format!("no open request {id}")));
        }
        self.finish_cancelled(id, people, cx);
        cx.out
            .answer(asker, ServerMessage::RequestCancelled { request: id });
        Ok(())
    }

    /// Cancels an open request: out of its queue, offer withdrawn, record kept.
    pub fn finish_cancelled(&mut self, id: RequestId, people: &mut People, cx: &mut Ctx) {
        if self.requests.get(&id).is_none_or(|r| r.deferring.is_some()) {
            return;
        }
        if let Some((teacher, _)) = self.requests.get(&id).and_then(|r| r.offered_to) {
            self.withdraw_offer(id, teacher, false, people, cx);
        }
        self.unqueue(id, cx);
        let Some(request) = self.requests.remove(&id) else {
            return;
        };
        people.clear_request(request.student, id);
        cx.out.send_user(
            request.student,
            ServerMessage::RequestCancelled { request: id },
        );
        deferral::record_request(&request, None, Outcome::Cancelled, people, cx);
    }

    /// A teacher takes a request: it leaves its queue and their offer, for a session.
    pub fn take(
        &mut self,
        teacher: UserId,
        id: RequestId,
        people: &mut People,
        cx: &mut Ctx,
    ) -> Option<TakenRequest> {
        people.clear_offer(teacher, id);
        self.unqueue(id, cx);
        let request = self.requests.remove(&id)?;
        people.clear_any_request(request.student);
        Some(TakenRequest::of(&request))
    }

    /// The students of open requests that a host may pull into a group session of `subject`;
    /// refused for one that is not open or not in a queue of `subject` they serve.
    pub fn pullable(
        &self,
        ids: &[RequestId],
        subject: &str,
        host: UserId,
        people: &People,
    ) -> Result<Vec<UserId>, Refusal> {
        let mut students = Vec::new();
        for id in ids {
            let request = self
                .requests
                .get(id)
                .filter(|r| r.deferring.is_none())
                .ok_or_else(|| Refusal::not_found(format!("no open request {id}")))?;
            if request.subject != subject || !people.serves(host, &request.subject) {
                return Err(Refusal::conflict(format!(
                    "request {id} is not in a queue of {subject:?} you serve"
                )));
            }
            students.push(request.student);
        }
        Ok(students)
    }

    /// Takes requests checked by [`Requests::pullable`] out of their queues and offers, into a
    /// group session.
    pub fn pull(
        &mut self,
        ids: &[RequestId],
        people: &mut People,
        cx: &mut Ctx,
    ) -> Vec<TakenRequest> {
        let pulled: Vec<Request> = ids
            .iter()
            .filter_map(|id| self.requests.get(id).cloned())
            .collect();
        for request in &pulled {
            if let Some((teacher, _)) = request.offered_to {
                self.withdraw_offer(request.id, teacher, false, people, cx);
            }
            self.remove_for_session(request.id, people, cx);
        }
        pulled.iter().map(TakenRequest::of).collect()
    }

    /// A queued request pulled into a group session leaves its queue.
    fn remove_for_session(&mut self, id: RequestId, people: &mut People, cx: &mut Ctx) {
        let Some(request) = self.requests.remove(&id) else {
            return;
        };
        if let Some(queue) = self.queues.get_mut(&request.subject) {
            queue.retain(|r| *r != id);
            if queue.is_empty() {
                self.queues.remove(&request.subject);
            }
        }
        self.queue_changed(&request.subject, cx);
        people.clear_request(request.student, id);
    }

    /// A queued request reached the wait limit: it becomes a thread.
    pub fn on_wait_limit(&mut self, id: RequestId, people: &mut People, cx: &mut Ctx) {
        let Some(request) = self.requests.get(&id) else {
            return;
        };
        if request.deferring.is_some() || cx.now.mono < request.requested + cx.config.max_wait {
            return;
        }
        self.defer(id, DeferReason::WaitLimit, people, cx);
    }

    /// Re-sends a reconnecting student their request's state.
    pub fn restore_request(&mut self, conn: ConnId, id: RequestId, people: &People, cx: &mut Ctx) {
        if self.requests.get(&id).is_none_or(|r| r.deferring.is_some()) {
            return;
        }
        let queued = self.queued_view(id, people);
        cx.out
            .reply(conn, None, ServerMessage::QueuePosition { request: queued });
        if let Some(subject) = self.requests.get(&id).map(|r| r.subject.clone()) {
            self.dirty_subjects.insert(subject);
        }
    }

    /// Withdraws the offer of a request whose student dropped: it waits for them.
    pub fn student_gone(&mut self, student: UserId, people: &mut People, cx: &mut Ctx) {
        let Some(id) = people.request_of(student) else {
            return;
        };
        if let Some((teacher, _)) = self.requests.get(&id).and_then(|r| r.offered_to) {
            self.withdraw_offer(id, teacher, false, people, cx);
        }
    }
}
