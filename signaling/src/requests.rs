//! Help requests: validation, one FIFO queue per subject, offers to the longest-idle free
//! teacher, accept and decline, deferral to a thread, positions and estimated waits.

use crate::hub::Hub;
use crate::io::{
    ConnId, ConsultationRecord, OpeningMessage, Output, Recipients, RecordKey, ThreadPurpose,
    ThreadSpec,
};
use crate::refusal::{Asker, Handled, Refusal};
use crate::timers::Timer;
use konsult_protocol::limits::MAX_TOPIC_CHARS;
use konsult_protocol::model::{
    DeferReason, DeferredRequest, Form, Mode, OfferedRequest, QueueEntry, QueuedRequest, Role,
    Status, ThreadKind,
};
use konsult_protocol::{ErrorCode, RequestId, ServerMessage, ThreadId, UserId};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Queue entries shown in one `queue` message.
const QUEUE_SNAPSHOT: usize = 100;
/// Handling times remembered per subject for estimates.
const RECENT_HANDLING: usize = 20;

/// A subject's wait estimate: recent handling time and the staff online to share the queue.
#[derive(Clone, Copy, Debug)]
struct Estimator {
    average_secs: u32,
    online: u32,
}

impl Estimator {
    /// Seconds until the request at `position` is likely taken.
    fn at(self, position: u32) -> u32 {
        self.average_secs
            .saturating_mul(position.div_ceil(self.online))
    }
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
}

/// An open help request.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub id: RequestId,
    pub student: UserId,
    pub subject: String,
    pub topic: String,
    pub form: Form,
    pub mode: Mode,
    /// The teacher the student asked for.
    pub teacher: Option<UserId>,
    pub requested: Instant,
    pub requested_ms: i64,
    /// The staff member it is offered to now, and until when.
    pub offered_to: Option<(UserId, Instant)>,
    /// Staff members who declined it (or let the offer lapse).
    pub declined: BTreeSet<UserId>,
    /// The position and estimate last told to the student.
    pub told: Option<(u32, Option<u32>)>,
    /// Being turned into a thread: no longer in a queue.
    pub deferring: Option<DeferReason>,
    /// When a named teacher outside their hours is next available (ISO 8601, local).
    pub next_available: Option<String>,
}

impl Hub {
    pub(crate) fn request_help(&mut self, asker: &Asker, asked: HelpAsked) -> Handled {
        let HelpAsked {
            subject,
            form,
            mode,
            topic,
            teacher,
        } = asked;
        let student = asker.user;
        let person = self.person(student)?;
        if person.info.role != Role::Student {
            return Err(Refusal::forbidden("only students ask for help"));
        }
        if let Some(open) = person.request {
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
        if self.in_individual_session(student) && mode == Mode::Online {
            return Err(Refusal::conflict("you are already in a consultation"));
        }
        let staff: Vec<UserId> = self.staff_of(&subject);
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
        let request = Request {
            id,
            student,
            subject: subject.clone(),
            topic,
            form,
            mode,
            teacher,
            requested: self.now.mono,
            requested_ms: self.now.unix_ms,
            offered_to: None,
            declined: BTreeSet::new(),
            told: None,
            deferring: None,
            next_available: None,
        };
        self.requests.insert(id, request);
        self.people
            .get_mut(&student)
            .expect("checked above")
            .request = Some(id);

        let someone_online = match teacher {
            Some(t) => self.people.get(&t).is_some_and(|p| p.online()),
            None => staff
                .iter()
                .any(|s| self.people.get(s).is_some_and(|p| p.online())),
        };
        let outside_hours = teacher.and_then(|t| {
            let hours = &self.people.get(&t)?.hours;
            if hours.is_empty() || crate::hours::within(hours, Some(&subject), &self.now) {
                return None;
            }
            let (_, wait) = crate::hours::next_start(hours, Some(&subject), &self.now)
                .or_else(|| crate::hours::next_start(hours, None, &self.now))?;
            Some(crate::hours::iso_after(&self.now, wait))
        });
        if let Some(next) = outside_hours {
            if let Some(r) = self.requests.get_mut(&id) {
                r.next_available = Some(next);
            }
            self.defer(id, DeferReason::OutsideHours);
        } else if mode == Mode::Offline {
            self.defer(id, DeferReason::Offline);
        } else if !someone_online {
            self.defer(id, DeferReason::NoTeacher);
        } else {
            self.queues
                .entry(subject.clone())
                .or_default()
                .push_back(id);
            self.timers
                .set(self.now.mono + self.config.max_wait, Timer::WaitLimit(id));
            let queued = self.queued_view(id);
            if let Some(r) = self.requests.get_mut(&id) {
                r.told = Some((queued.position, queued.eta_secs));
            }
            self.answer(asker, ServerMessage::RequestQueued { request: queued });
            self.queue_changed(&subject);
            return Ok(());
        }
        self.ok(asker);
        Ok(())
    }

    /// Active staff who serve `subject`.
    pub(crate) fn staff_of(&self, subject: &str) -> Vec<UserId> {
        self.staff.of(subject).collect()
    }

    /// The student's view of a queued request.
    fn queued_view(&self, id: RequestId) -> QueuedRequest {
        let request = &self.requests[&id];
        let position = self.position_of(id).unwrap_or(0);
        QueuedRequest {
            id,
            subject: request.subject.clone(),
            position,
            eta_secs: self.estimate(&request.subject, position),
        }
    }

    fn position_of(&self, id: RequestId) -> Option<u32> {
        let subject = &self.requests.get(&id)?.subject;
        self.queues
            .get(subject)?
            .iter()
            .position(|r| *r == id)
            .map(|i| i as u32 + 1)
    }

    /// Seconds until a teacher likely takes the request at `position`: rounds of the online
    /// staff, each as long as recent consultations of the subject took.
    fn estimate(&self, subject: &str, position: u32) -> Option<u32> {
        self.estimator(subject).map(|e| e.at(position))
    }

    /// What a subject's estimates depend on, worked out once for a whole queue.
    fn estimator(&self, subject: &str) -> Option<Estimator> {
        let recent = self.recent_waits.get(subject)?;
        if recent.is_empty() {
            return None;
        }
        let average = recent.iter().sum::<Duration>() / recent.len() as u32;
        let online = self
            .staff
            .of(subject)
            .filter(|s| self.is_online(*s))
            .count()
            .max(1) as u32;
        Some(Estimator {
            average_secs: average.as_secs() as u32,
            online,
        })
    }

    /// Remembers how long a consultation of `subject` took, for estimates.
    pub(crate) fn record_handling(&mut self, subject: &str, took: Duration) {
        let recent = self.recent_waits.entry(subject.to_string()).or_default();
        recent.push_back(took);
        while recent.len() > RECENT_HANDLING {
            recent.pop_front();
        }
        self.mark_dirty(subject);
    }

    /// Marks a subject's queue for matching and position updates after this input.
    pub(crate) fn mark_dirty(&mut self, subject: &str) {
        if !self.dirty_subjects.contains(subject) {
            self.dirty_subjects.insert(subject.to_string());
        }
    }

    /// A subject's queue changed: positions to tell, offers to make, a snapshot to push.
    pub(crate) fn queue_changed(&mut self, subject: &str) {
        self.mark_dirty(subject);
        if !self.queue_push_pending.contains(subject) {
            self.queue_push_pending.insert(subject.to_string());
            self.timers.set(
                self.now.mono + self.config.queue_push_interval,
                Timer::QueueBroadcast(subject.to_string()),
            );
        }
    }

    /// Removes a request from its queue.
    fn unqueue(&mut self, id: RequestId) {
        let Some(subject) = self.requests.get(&id).map(|r| r.subject.clone()) else {
            return;
        };
        if let Some(queue) = self.queues.get_mut(&subject) {
            queue.retain(|r| *r != id);
            if queue.is_empty() {
                self.queues.remove(&subject);
            }
        }
        self.queue_changed(&subject);
    }

    /// Offers queued requests to free staff, oldest request first, each to the longest-idle
    /// free staff member who may take it.
    pub(crate) fn match_requests(&mut self) {
        let subjects: Vec<String> = self
            .dirty_subjects
            .iter()
            .filter(|s| self.queues.contains_key(*s))
            .cloned()
            .collect();
        for subject in subjects {
            let mut free: Vec<UserId> = self
                .staff
                .of(&subject)
                .filter(|s| self.is_free(*s))
                .collect();
            if free.is_empty() {
                continue;
            }
            let mut offers: Vec<(RequestId, UserId)> = Vec::new();
            for id in &self.queues[&subject] {
                if free.is_empty() {
                    break;
                }
                let request = &self.requests[id];
                if request.offered_to.is_some() || !self.is_online(request.student) {
                    continue;
                }
                let best = free
                    .iter()
                    .copied()
                    .filter(|t| !request.declined.contains(t))
                    .filter(|t| request.teacher.is_none_or(|named| named == *t))
                    .min_by_key(|t| (self.people[t].idle_since, *t));
                if let Some(teacher) = best {
                    free.retain(|t| *t != teacher);
                    offers.push((*id, teacher));
                }
            }
            for (id, teacher) in offers {
                self.offer(id, teacher);
            }
        }
    }

    pub(crate) fn is_online(&self, user: UserId) -> bool {
        self.people.get(&user).is_some_and(|p| p.online())
    }

    fn offer(&mut self, id: RequestId, teacher: UserId) {
        let deadline = self.now.mono + self.config.offer_timeout;
        let request = self.requests.get_mut(&id).expect("offered requests exist");
        request.offered_to = Some((teacher, deadline));
        let (student, subject, topic, form, mode) = (
            request.student,
            request.subject.clone(),
            request.topic.clone(),
            request.form,
            request.mode,
        );
        let view = OfferedRequest {
            id,
            student: self.info(student),
            subject,
            topic,
            form,
            mode,
        };
        self.people
            .get_mut(&teacher)
            .expect("offers go to known staff")
            .offer = Some(id);
        self.timers.set(deadline, Timer::Offer(id, teacher));
        self.send_user(
            teacher,
            ServerMessage::HelpOffer {
                request: view,
                expires_in: self.config.offer_timeout.as_secs() as u32,
            },
        );
    }

    /// Takes an offer back from a teacher; `declined` marks that they said no (or let it lapse).
    pub(crate) fn withdraw_offer(&mut self, id: RequestId, teacher: UserId, declined: bool) {
        if let Some(person) = self.people.get_mut(&teacher)
            && person.offer == Some(id)
        {
            person.offer = None;
        }
        let Some(request) = self.requests.get_mut(&id) else {
            return;
        };
        if request.offered_to.is_some_and(|(t, _)| t == teacher) {
            request.offered_to = None;
        }
        if declined {
            request.declined.insert(teacher);
        }
        let subject = request.subject.clone();
        self.send_user(teacher, ServerMessage::OfferWithdrawn { request: id });
        self.dirty_subjects.insert(subject);
        // Once the teacher is free again, queued requests may go to them.
        self.mark_teacher_subjects(teacher);
        if declined {
            self.defer_if_all_declined(id);
        }
    }

    fn mark_teacher_subjects(&mut self, teacher: UserId) {
        if let Some(person) = self.people.get(&teacher) {
            for subject in person.subjects() {
                self.dirty_subjects.insert(subject);
            }
        }
    }

    /// Defers a request that every online staff member who may take it has declined.
    fn defer_if_all_declined(&mut self, id: RequestId) {
        let Some(request) = self.requests.get(&id) else {
            return;
        };
        if request.deferring.is_some() {
            return;
        }
        let candidates: Vec<UserId> = match request.teacher {
            Some(t) => vec![t],
            None => self.staff_of(&request.subject),
        };
        let online: Vec<UserId> = candidates
            .into_iter()
            .filter(|c| self.is_online(*c))
            .collect();
        if online.iter().all(|c| request.declined.contains(c)) {
            self.defer(id, DeferReason::AllDeclined);
        }
    }

    pub(crate) fn on_offer_expired(&mut self, id: RequestId, teacher: UserId, at: Instant) {
        let live = self
            .requests
            .get(&id)
            .is_some_and(|r| r.offered_to == Some((teacher, at)));
        if !live {
            return;
        }
        // A teacher who lets an offer lapse is probably away from the screen: stop offering
        // them requests until they say they are available again.
        let before = self.status_of(teacher);
        if let Some(person) = self.people.get_mut(&teacher) {
            person.set_status = konsult_protocol::model::SetStatus::Away;
        }
        self.withdraw_offer(id, teacher, true);
        self.presence_changed(teacher, before);
    }

    pub(crate) fn on_wait_limit(&mut self, id: RequestId) {
        let Some(request) = self.requests.get(&id) else {
            return;
        };
        if request.deferring.is_some() || self.now.mono < request.requested + self.config.max_wait {
            return;
        }
        self.defer(id, DeferReason::WaitLimit);
    }

    /// Turns a request into a personal thread with the named teacher or the subject's staff.
    pub(crate) fn defer(&mut self, id: RequestId, reason: DeferReason) {
        if let Some((teacher, _)) = self.requests.get(&id).and_then(|r| r.offered_to) {
            self.withdraw_offer(id, teacher, false);
        }
        self.unqueue(id);
        let Some(request) = self.requests.get_mut(&id) else {
            return;
        };
        request.deferring = Some(reason);
        let request = request.clone();
        let mut members = vec![request.student];
        match request.teacher {
            Some(t) => members.push(t),
            None => members.extend(self.staff_of(&request.subject)),
        }
        let title = format!("{}: {}", request.subject, request.topic);
        // The thread opens with the question, so the teacher reads it where they answer; a
        // named teacher outside their hours answers at once, automatically, with when.
        let mut opening = Vec::new();
        if !request.topic.trim().is_empty() {
            opening.push(OpeningMessage {
                author: request.student,
                text: request.topic.clone(),
                client_id: format!("request-{}", id.0),
            });
        }
        if reason == DeferReason::OutsideHours
            && let (Some(teacher), Some(when)) = (
                request.teacher,
                request
                    .next_available
                    .as_deref()
                    .and_then(crate::hours::spoken_ru),
            )
        {
            opening.push(OpeningMessage {
                author: teacher,
                text: format!(
                    "Автоответ: сейчас не время моих консультаций. Ближайшее — {when}. \
                     Ваш вопрос сохранён, я отвечу здесь."
                ),
                client_id: format!("request-{}-auto", id.0),
            });
        }
        self.push(Output::CreateThread {
            purpose: ThreadPurpose::Request(id),
            spec: ThreadSpec {
                kind: ThreadKind::Personal,
                title,
                members,
                class: None,
                request: Some(id),
                session: None,
                opening,
            },
        });
    }

    /// The thread of a deferred request exists: tell the student and keep the record.
    pub(crate) fn request_thread_ready(&mut self, id: RequestId, thread: Result<ThreadId, String>) {
        let Some(request) = self.requests.remove(&id) else {
            return;
        };
        if let Some(person) = self.people.get_mut(&request.student)
            && person.request == Some(id)
        {
            person.request = None;
        }
        let Some(reason) = request.deferring else {
            return;
        };
        match thread {
            Ok(thread) => {
                self.send_user(
                    request.student,
                    ServerMessage::RequestDeferred {
                        request: DeferredRequest {
                            id,
                            subject: request.subject.clone(),
                            topic: request.topic.clone(),
                        },
                        thread,
                        reason,
                        next_available: request.next_available.clone(),
                    },
                );
                self.record_request(&request, Some(thread), crate::io::Outcome::Deferred);
            }
            Err(e) => {
                self.send_user(
                    request.student,
                    ServerMessage::error(
                        ErrorCode::Internal,
                        format!("the request could not be saved as a thread: {e}"),
                    ),
                );
                self.record_request(&request, None, crate::io::Outcome::Cancelled);
            }
        }
    }

    fn record_request(
        &mut self,
        request: &Request,
        thread: Option<ThreadId>,
        outcome: crate::io::Outcome,
    ) {
        let confidential = self.is_confidential_subject(&request.subject, request.teacher);
        self.push(Output::Record(ConsultationRecord {
            key: RecordKey::Request(request.id),
            form: request.form,
            mode: request.mode,
            subject: request.subject.clone(),
            topic: request.topic.clone(),
            staff: request.teacher,
            students: vec![request.student],
            session: None,
            thread,
            requested_at_ms: Some(request.requested_ms),
            started_at_ms: None,
            ended_at_ms: Some(self.now.unix_ms),
            wait_secs: None,
            outcome,
            confidential,
        }));
    }

    /// Consultations with support staff are confidential.
    pub(crate) fn is_confidential_subject(&self, subject: &str, staff: Option<UserId>) -> bool {
        subject == crate::SUPPORT_SUBJECT
            || staff.is_some_and(|s| self.role_of(s) == Some(Role::Support))
    }

    pub(crate) fn cancel_request(&mut self, asker: &Asker, id: RequestId) -> Handled {
        let mine = self
            .requests
            .get(&id)
            .is_some_and(|r| r.student == asker.user && r.deferring.is_none());
        if !mine {
            return Err(Refusal::not_found(format!("no open request {id}")));
        }
        self.finish_cancelled(id);
        self.answer(asker, ServerMessage::RequestCancelled { request: id });
        Ok(())
    }

    /// Cancels an open request: out of its queue, offer withdrawn, record kept.
    pub(crate) fn finish_cancelled(&mut self, id: RequestId) {
        if self.requests.get(&id).is_none_or(|r| r.deferring.is_some()) {
            return;
        }
        if let Some((teacher, _)) = self.requests.get(&id).and_then(|r| r.offered_to) {
            self.withdraw_offer(id, teacher, false);
        }
        self.unqueue(id);
        let Some(request) = self.requests.remove(&id) else {
            return;
        };
        if let Some(person) = self.people.get_mut(&request.student)
            && person.request == Some(id)
        {
            person.request = None;
        }
        self.send_user(
            request.student,
            ServerMessage::RequestCancelled { request: id },
        );
        self.record_request(&request, None, crate::io::Outcome::Cancelled);
    }

    fn require_staff(&self, user: UserId) -> Handled {
        if self.people.get(&user).is_some_and(|p| p.is_staff()) {
            Ok(())
        } else {
            Err(Refusal::forbidden(
                "only teachers and support staff do this",
            ))
        }
    }

    pub(crate) fn accept(&mut self, asker: &Asker, id: RequestId) -> Handled {
        let teacher = asker.user;
        self.require_staff(teacher)?;
        let offered = self
            .requests
            .get(&id)
            .is_some_and(|r| r.offered_to.is_some_and(|(t, _)| t == teacher));
        if !offered {
            return Err(Refusal::conflict(format!(
                "request {id} is not offered to you (any more)"
            )));
        }
        self.start_from_request(asker, id);
        Ok(())
    }

    pub(crate) fn decline(&mut self, asker: &Asker, id: RequestId) -> Handled {
        let teacher = asker.user;
        self.require_staff(teacher)?;
        let offered = self
            .requests
            .get(&id)
            .is_some_and(|r| r.offered_to.is_some_and(|(t, _)| t == teacher));
        if !offered {
            return Err(Refusal::conflict(format!(
                "request {id} is not offered to you (any more)"
            )));
        }
        self.withdraw_offer(id, teacher, true);
        self.ok(asker);
        Ok(())
    }

    pub(crate) fn take_next(&mut self, asker: &Asker, subject: Option<String>) -> Handled {
        let teacher = asker.user;
        self.require_staff(teacher)?;
        let person = &self.people[&teacher];
        if let Some(offer) = person.offer {
            return Err(Refusal::conflict(format!(
                "answer the offer of request {offer} first"
            )));
        }
        if self.in_individual_session(teacher) {
            return Err(Refusal::conflict("you are in a consultation; end it first"));
        }
        let subjects = match subject {
            Some(s) if person.serves(&s) => vec![s],
            Some(s) => {
                return Err(Refusal::forbidden(format!("you do not help with {s:?}")));
            }
            None => person.subjects(),
        };
        let next = subjects
            .iter()
            .filter_map(|s| self.queues.get(s))
            .flat_map(|q| q.iter())
            .filter_map(|id| self.requests.get(id))
            .filter(|r| r.offered_to.is_none() && self.is_online(r.student))
            .filter(|r| r.teacher.is_none_or(|t| t == teacher))
            .min_by_key(|r| (r.requested, r.id))
            .map(|r| r.id);
        let Some(id) = next else {
            return Err(Refusal::not_found("the queue is empty"));
        };
        self.start_from_request(asker, id);
        Ok(())
    }

    /// A teacher takes a request: it leaves its queue and a session starts.
    fn start_from_request(&mut self, asker: &Asker, id: RequestId) {
        let teacher = asker.user;
        if let Some(person) = self.people.get_mut(&teacher)
            && person.offer == Some(id)
        {
            person.offer = None;
        }
        self.unqueue(id);
        let Some(request) = self.requests.remove(&id) else {
            return;
        };
        if let Some(person) = self.people.get_mut(&request.student) {
            person.request = None;
        }
        let session = self.start_request_session(asker, &request);
        let wait = self.now.mono.saturating_duration_since(request.requested);
        self.push(Output::Record(ConsultationRecord {
            key: RecordKey::Request(id),
            form: request.form,
            mode: request.mode,
            subject: request.subject.clone(),
            topic: request.topic.clone(),
            staff: Some(teacher),
            students: vec![request.student],
            session: Some(session),
            thread: None,
            requested_at_ms: Some(request.requested_ms),
            started_at_ms: Some(self.now.unix_ms),
            ended_at_ms: None,
            wait_secs: Some(wait.as_secs() as i64),
            outcome: crate::io::Outcome::InProgress,
            confidential: self.is_confidential_subject(&request.subject, Some(teacher)),
        }));
    }

    pub(crate) fn list_queue(&mut self, asker: &Asker, subject: Option<String>) -> Handled {
        self.require_staff(asker.user)?;
        let person = &self.people[&asker.user];
        let subjects = match subject {
            Some(s) if person.serves(&s) => vec![s],
            Some(s) => {
                return Err(Refusal::forbidden(format!("you do not help with {s:?}")));
            }
            None => person.subjects(),
        };
        let (requests, total) = self.queue_entries(&subjects);
        let subject = (subjects.len() == 1).then(|| subjects[0].clone());
        self.answer(
            asker,
            ServerMessage::Queue {
                subject,
                requests,
                total,
            },
        );
        Ok(())
    }

    /// The first entries of the given queues, oldest first, and their total.
    fn queue_entries(&self, subjects: &[String]) -> (Vec<QueueEntry>, u32) {
        let mut entries: Vec<QueueEntry> = Vec::new();
        let mut total = 0;
        for subject in subjects {
            let Some(queue) = self.queues.get(subject) else {
                continue;
            };
            total += queue.len() as u32;
            for (i, id) in queue.iter().take(QUEUE_SNAPSHOT).enumerate() {
                let r = &self.requests[id];
                entries.push(QueueEntry {
                    id: *id,
                    student: self.info(r.student),
                    subject: r.subject.clone(),
                    topic: r.topic.clone(),
                    form: r.form,
                    position: i as u32 + 1,
                    waiting_secs: self
                        .now
                        .mono
                        .saturating_duration_since(r.requested)
                        .as_secs(),
                });
            }
        }
        entries.sort_by_key(|e| (std::cmp::Reverse(e.waiting_secs), e.id));
        entries.truncate(QUEUE_SNAPSHOT);
        (entries, total)
    }

    /// Pushes a subject's queue to its online staff (the timer throttles this).
    pub(crate) fn push_queue_snapshot(&mut self, subject: &str) {
        self.queue_push_pending.remove(subject);
        let staff: Vec<UserId> = self
            .staff_of(subject)
            .into_iter()
            .filter(|s| self.status_of(*s) != Status::Offline)
            .collect();
        let (requests, total) = self.queue_entries(&[subject.to_string()]);
        self.send_users(
            staff,
            ServerMessage::Queue {
                subject: Some(subject.to_string()),
                requests,
                total,
            },
        );
    }

    /// Tells each waiting student whose position or estimate changed: at once in the first
    /// `immediate_positions` places; further back once per `position_interval`, at a timer,
    /// with the latest place (a long queue moving would otherwise cost a message to everyone
    /// behind, and a walk of the whole queue, on every change).
    pub(crate) fn flush_positions(&mut self) {
        let subjects = std::mem::take(&mut self.dirty_subjects);
        let immediate = self.config.immediate_positions as usize;
        for subject in subjects {
            let estimator = self.estimator(&subject);
            let Some(queue) = self.queues.get(&subject) else {
                continue;
            };
            let everyone = self.positions_due.remove(&subject);
            let walk = if everyone { queue.len() } else { immediate };
            for (i, id) in queue.iter().take(walk).enumerate() {
                let position = i as u32 + 1;
                let eta = estimator.map(|e| e.at(position));
                let request = self.requests.get_mut(id).expect("queued requests exist");
                if request.told == Some((position, eta)) {
                    continue;
                }
                request.told = Some((position, eta));
                self.outputs.push_back(Output::Send {
                    to: Recipients::User(request.student),
                    msg: ServerMessage::QueuePosition {
                        request: QueuedRequest {
                            id: *id,
                            subject: subject.clone(),
                            position,
                            eta_secs: eta,
                        },
                    },
                    re: None,
                });
            }
            if !everyone && queue.len() > immediate && !self.positions_pending.contains(&subject) {
                self.timers.set(
                    self.now.mono + self.config.position_interval,
                    Timer::Positions(subject.clone()),
                );
                self.positions_pending.insert(subject);
            }
        }
    }

    /// Re-sends a reconnecting student their request's state.
    pub(crate) fn restore_request(&mut self, conn: ConnId, id: RequestId) {
        if self.requests.get(&id).is_none_or(|r| r.deferring.is_some()) {
            return;
        }
        let queued = self.queued_view(id);
        self.reply(conn, None, ServerMessage::QueuePosition { request: queued });
        if let Some(subject) = self.requests.get(&id).map(|r| r.subject.clone()) {
            self.dirty_subjects.insert(subject);
        }
    }

    /// Re-sends a reconnecting teacher the offer they have not answered.
    pub(crate) fn restore_offer(&mut self, conn: ConnId, teacher: UserId, id: RequestId) {
        let Some(request) = self.requests.get(&id) else {
            return;
        };
        let Some((t, deadline)) = request.offered_to else {
            return;
        };
        if t != teacher {
            return;
        }
        let msg = ServerMessage::HelpOffer {
            request: OfferedRequest {
                id,
                student: self.info(request.student),
                subject: request.subject.clone(),
                topic: request.topic.clone(),
                form: request.form,
                mode: request.mode,
            },
            expires_in: deadline.saturating_duration_since(self.now.mono).as_secs() as u32,
        };
        self.reply(conn, None, msg);
    }

    /// Withdraws the offer of a request whose student dropped: it waits for them.
    pub(crate) fn student_gone(&mut self, student: UserId) {
        let Some(id) = self.people.get(&student).and_then(|p| p.request) else {
            return;
        };
        if let Some((teacher, _)) = self.requests.get(&id).and_then(|r| r.offered_to) {
            self.withdraw_offer(id, teacher, false);
        }
    }

    /// The requests queued for `subject`, head first.
    pub fn queued(&self, subject: &str) -> Vec<RequestId> {
        self.queues
            .get(subject)
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }
}
