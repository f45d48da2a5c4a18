//! Deferral: a request nobody can take now becomes a personal thread with the named teacher or
//! the subject's staff, answered offline; and the records of requests that end without a
//! session.

use super::{Request, Requests};
use crate::ctx::Ctx;
use crate::io::{
    ConsultationRecord, OpeningMessage, OpeningText, Outcome, Output, RecordKey, ThreadPurpose,
    ThreadSpec,
};
use crate::people::People;
use konsult_protocol::model::{DeferReason, DeferredRequest, ThreadKind};
use konsult_protocol::{ErrorCode, RequestId, ServerMessage, ThreadId};

impl Requests {
    /// Turns a request into a personal thread with the named teacher or the subject's staff.
    pub(super) fn defer(
        &mut self,
        id: RequestId,
        reason: DeferReason,
        people: &mut People,
        cx: &mut Ctx,
    ) {
        if let Some((teacher, _)) = self.requests.get(&id).and_then(|r| r.offered_to) {
            self.withdraw_offer(id, teacher, false, people, cx);
        }
        self.unqueue(id, cx);
        let Some(request) = self.requests.get_mut(&id) else {
            return;
        };
        request.deferring = Some(reason);
        let request = request.clone();
        let mut members = vec![request.student];
        match request.teacher {
            Some(t) => members.push(t),
            None => members.extend(people.staff_of(&request.subject)),
        }
        let title = format!("{}: {}", request.subject, request.topic);
        // The thread opens with the question, so the teacher reads it where they answer; a
        // named teacher outside their hours answers at once, automatically, with when.
        let mut opening = Vec::new();
        if !request.topic.trim().is_empty() {
            opening.push(OpeningMessage {
                author: request.student,
                text: OpeningText::Question(request.topic.clone()),
                client_id: format!("request-{}", id.0),
            });
        }
        if reason == DeferReason::OutsideHours
            && let (Some(teacher), Some(next_available)) =
                (request.teacher, request.next_available.clone())
        {
            opening.push(OpeningMessage {
                author: teacher,
                text: OpeningText::OutsideHours { next_available },
                client_id: format!("request-{}-auto", id.0),
            });
        }
        cx.out.push(Output::CreateThread {
            purpose: ThreadPurpose::Request(id),
            spec: ThreadSpec {
                kind: ThreadKind::Personal,
                title,
                members,
                class: None,
                request: Some(id),
                session: None,
                opening,
                // Decided by the request, never by who serves the subject at this moment.
                confidential: people.confidential(&request.subject, request.teacher),
            },
        });
    }

    /// The thread of a deferred request exists: tell the student and keep the record.
    pub fn thread_ready(
        &mut self,
        id: RequestId,
        thread: Result<ThreadId, String>,
        people: &mut People,
        cx: &mut Ctx,
    ) {
        let Some(request) = self.requests.remove(&id) else {
            return;
        };
        people.clear_request(request.student, id);
        let Some(reason) = request.deferring else {
            return;
        };
        match thread {
            Ok(thread) => {
                cx.out.send_user(
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
                record_request(&request, Some(thread), Outcome::Deferred, people, cx);
            }
            Err(e) => {
                cx.out.send_user(
                    request.student,
                    ServerMessage::error(
                        ErrorCode::Internal,
                        format!("the request could not be saved as a thread: {e}"),
                    ),
                );
                record_request(&request, None, Outcome::Cancelled, people, cx);
            }
        }
    }
}

/// Writes the record of a request that ended without a session.
pub(super) fn record_request(
    request: &Request,
    thread: Option<ThreadId>,
    outcome: Outcome,
    people: &People,
    cx: &mut Ctx,
) {
    let confidential = people.confidential(&request.subject, request.teacher);
    cx.out.push(Output::Record(ConsultationRecord {
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
        ended_at_ms: Some(cx.now.unix_ms),
        wait_secs: None,
        outcome,
        confidential,
    }));
}
