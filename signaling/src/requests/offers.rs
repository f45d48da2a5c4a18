//! Offers: queued requests to the longest-idle free staff member who may take them, and what
//! becomes of an offer (accepted, declined, lapsed, withdrawn).

use super::Requests;
use crate::ctx::Ctx;
use crate::io::ConnId;
use crate::people::People;
use crate::refusal::{Asker, Handled, Refusal};
use crate::timers::Timer;
use konsult_protocol::model::{DeferReason, OfferedRequest};
use konsult_protocol::{RequestId, ServerMessage, UserId};
use std::time::Instant;

impl Requests {
    /// Offers queued requests to free staff, oldest request first, each to the longest-idle
    /// free staff member who may take it. `held` says who is held elsewhere (in a booked slot,
    /// which outranks the queues) and gets no offer.
    pub fn match_requests(
        &mut self,
        people: &mut People,
        held: &dyn Fn(UserId) -> bool,
        cx: &mut Ctx,
    ) {
        let subjects: Vec<String> = self
            .dirty_subjects
            .iter()
            .filter(|s| self.queues.contains_key(*s))
            .cloned()
            .collect();
        for subject in subjects {
            let mut free: Vec<UserId> = people
                .staff_of(&subject)
                .filter(|s| people.is_free(*s) && !held(*s))
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
                if request.offered_to.is_some() || !people.is_online(request.student) {
                    continue;
                }
                let best = free
                    .iter()
                    .copied()
                    .filter(|t| !request.declined.contains(t))
                    .filter(|t| request.teacher.is_none_or(|named| named == *t))
                    .min_by_key(|t| (people.idle_since(*t), *t));
                if let Some(teacher) = best {
                    free.retain(|t| *t != teacher);
                    offers.push((*id, teacher));
                }
            }
            for (id, teacher) in offers {
                self.offer(id, teacher, people, cx);
            }
        }
    }

    fn offer(&mut self, id: RequestId, teacher: UserId, people: &mut People, cx: &mut Ctx) {
        let deadline = cx.now.mono + cx.config.offer_timeout;
        let request = self.requests.get_mut(&id).expect("offered requests exist");
        request.offered_to = Some((teacher, deadline));
        let view = OfferedRequest {
            id,
            student: people.info(request.student),
            subject: request.subject.clone(),
            topic: request.topic.clone(),
            form: request.form,
            mode: request.mode,
        };
        people.set_offer(teacher, id);
        cx.timers.set(deadline, Timer::Offer(id, teacher));
        let expires_in = cx.config.offer_timeout.as_secs() as u32;
        let student = request.student;
        cx.out.send_user(
            teacher,
            ServerMessage::HelpOffer {
                request: view,
                expires_in,
            },
        );
        // The student's page can say "a teacher is about to take you" (and notify a hidden tab).
        cx.out.send_user(
            student,
            ServerMessage::RequestOffered {
                request: id,
                expires_in,
            },
        );
    }

    /// Takes an offer back from a teacher; `declined` marks that they said no (or let it lapse).
    pub fn withdraw_offer(
        &mut self,
        id: RequestId,
        teacher: UserId,
        declined: bool,
        people: &mut People,
        cx: &mut Ctx,
    ) {
        people.clear_offer(teacher, id);
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
        cx.out
            .send_user(teacher, ServerMessage::OfferWithdrawn { request: id });
        self.dirty_subjects.insert(subject);
        // Once the teacher is free again, queued requests may go to them.
        for subject in people.subjects_of(teacher) {
            self.dirty_subjects.insert(subject);
        }
        if declined {
            self.defer_if_all_declined(id, people, cx);
        }
    }

    /// Defers a request that every online staff member who may take it has declined.
    fn defer_if_all_declined(&mut self, id: RequestId, people: &mut People, cx: &mut Ctx) {
        let Some(request) = self.requests.get(&id) else {
            return;
        };
        if request.deferring.is_some() {
            return;
        }
        let candidates: Vec<UserId> = match request.teacher {
            Some(t) => vec![t],
            None => people.staff_of(&request.subject).collect(),
        };
        let all_declined = candidates
            .into_iter()
            .filter(|c| people.is_online(*c))
            .all(|c| request.declined.contains(&c));
        if all_declined {
            self.defer(id, DeferReason::AllDeclined, people, cx);
        }
    }

    /// Whether the offer of `id` to `teacher` that expires `at` still stands.
    pub fn offer_stands(&self, id: RequestId, teacher: UserId, at: Instant) -> bool {
        self.requests
            .get(&id)
            .is_some_and(|r| r.offered_to == Some((teacher, at)))
    }

    /// Refuses unless `id` is offered to the asking staff member now.
    pub fn check_offered(&self, asker: &Asker, id: RequestId, people: &People) -> Handled {
        people.require_staff(asker.user)?;
        let offered = self
            .requests
            .get(&id)
            .is_some_and(|r| r.offered_to.is_some_and(|(t, _)| t == asker.user));
        if !offered {
            return Err(Refusal::conflict(format!(
                "request {id} is not offered to you (any more)"
            )));
        }
        Ok(())
    }

    /// Answers `decline`: the request goes to someone else, or is deferred.
    pub fn decline(
        &mut self,
        asker: &Asker,
        id: RequestId,
        people: &mut People,
        cx: &mut Ctx,
    ) -> Handled {
        self.check_offered(asker, id, people)?;
        self.withdraw_offer(id, asker.user, true, people, cx);
        cx.out.ok(asker);
        Ok(())
    }

    /// The request a staff member takes with `take_next`: the oldest they may take in the
    /// queues of `subject`, or of every subject they serve.
    pub fn next_for(
        &self,
        asker: &Asker,
        subject: Option<String>,
        people: &People,
    ) -> Result<RequestId, Refusal> {
        let teacher = asker.user;
        people.require_staff(teacher)?;
        if let Some(offer) = people.offer_of(teacher) {
            return Err(Refusal::conflict(format!(
                "answer the offer of request {offer} first"
            )));
        }
        if people.in_individual_session(teacher) {
            return Err(Refusal::conflict("you are in a consultation; end it first"));
        }
        let subjects = served_subjects(teacher, subject, people)?;
        subjects
            .iter()
            .filter_map(|s| self.queues.get(s))
            .flat_map(|q| q.iter())
            .filter_map(|id| self.requests.get(id))
            .filter(|r| r.offered_to.is_none() && people.is_online(r.student))
            .filter(|r| r.teacher.is_none_or(|t| t == teacher))
            .min_by_key(|r| (r.requested, r.id))
            .map(|r| r.id)
            .ok_or_else(|| Refusal::not_found("the queue is empty"))
    }

    /// Re-sends a reconnecting teacher the offer they have not answered.
    pub fn restore_offer(
        &self,
        conn: ConnId,
        teacher: UserId,
        id: RequestId,
        people: &People,
        cx: &mut Ctx,
    ) {
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
                student: people.info(request.student),
                subject: request.subject.clone(),
                topic: request.topic.clone(),
                form: request.form,
                mode: request.mode,
            },
            expires_in: deadline.saturating_duration_since(cx.now.mono).as_secs() as u32,
        };
        cx.out.reply(conn, None, msg);
    }
}

/// The subjects a staff member asks about: the one named, if they serve it, or all of theirs.
pub(super) fn served_subjects(
    user: UserId,
    subject: Option<String>,
    people: &People,
) -> Result<Vec<String>, Refusal> {
    match subject {
        Some(s) if people.serves(user, &s) => Ok(vec![s]),
        Some(s) => Err(Refusal::forbidden(format!("you do not help with {s:?}"))),
        None => Ok(people.subjects_of(user)),
    }
}
