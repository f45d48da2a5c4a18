//! Waiting in a queue: places, estimated waits, the queue snapshots staff see, and the
//! throttled `queue_position` updates students get.

use super::Requests;
use super::offers::served_subjects;
use crate::ctx::Ctx;
use crate::io::{Output, Recipients};
use crate::people::People;
use crate::refusal::{Asker, Handled};
use crate::timers::Timer;
use konsult_protocol::model::{QueueEntry, QueuedRequest, Status};
use konsult_protocol::{RequestId, ServerMessage, UserId};
use std::time::Duration;

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

impl Requests {
    /// The student's view of a queued request.
    pub(super) fn queued_view(&self, id: RequestId, people: &People) -> QueuedRequest {
        let request = &self.requests[&id];
        let position = self.position_of(id).unwrap_or(0);
        QueuedRequest {
            id,
            subject: request.subject.clone(),
            position,
            eta_secs: self
                .estimator(&request.subject, people)
                .map(|e| e.at(position)),
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

    /// What a subject's estimates depend on, worked out once for a whole queue: rounds of the
    /// online staff, each as long as recent consultations of the subject took.
    fn estimator(&self, subject: &str, people: &People) -> Option<Estimator> {
        let recent = self.recent_waits.get(subject)?;
        if recent.is_empty() {
            return None;
        }
        let average = recent.iter().sum::<Duration>() / recent.len() as u32;
        let online = people
            .staff_of(subject)
            .filter(|s| people.is_online(*s))
            .count()
            .max(1) as u32;
        Some(Estimator {
            average_secs: average.as_secs() as u32,
            online,
        })
    }

    /// Remembers how long a consultation of `subject` took, for estimates.
    pub fn record_handling(&mut self, subject: &str, took: Duration) {
        let recent = self.recent_waits.entry(subject.to_string()).or_default();
        recent.push_back(took);
        while recent.len() > RECENT_HANDLING {
            recent.pop_front();
        }
        self.mark_dirty(subject);
    }

    /// Marks a subject's queue for matching and position updates after this input.
    pub fn mark_dirty(&mut self, subject: &str) {
        if !self.dirty_subjects.contains(subject) {
            self.dirty_subjects.insert(subject.to_string());
        }
    }

    /// A subject's queue changed: positions to tell, offers to make, a snapshot to push.
    pub(super) fn queue_changed(&mut self, subject: &str, cx: &mut Ctx) {
        self.mark_dirty(subject);
        if !self.queue_push_pending.contains(subject) {
            self.queue_push_pending.insert(subject.to_string());
            cx.after(
                cx.config.queue_push_interval,
                Timer::QueueBroadcast(subject.to_string()),
            );
        }
    }

    /// Removes a request from its queue.
    pub(super) fn unqueue(&mut self, id: RequestId, cx: &mut Ctx) {
        let Some(subject) = self.requests.get(&id).map(|r| r.subject.clone()) else {
            return;
        };
        if let Some(queue) = self.queues.get_mut(&subject) {
            queue.retain(|r| *r != id);
            if queue.is_empty() {
                self.queues.remove(&subject);
            }
        }
        self.queue_changed(&subject, cx);
    }

    /// Answers `list_queue` from a staff member.
    pub fn list_queue(
        &self,
        asker: &Asker,
        subject: Option<String>,
        people: &People,
        cx: &mut Ctx,
    ) -> Handled {
        people.require_staff(asker.user)?;
        let subjects = served_subjects(asker.user, subject, people)?;
        let (requests, total) = self.queue_entries(&subjects, people, cx);
        let subject = (subjects.len() == 1).then(|| subjects[0].clone());
        cx.out.answer(
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
    fn queue_entries(
        &self,
        subjects: &[String],
        people: &People,
        cx: &Ctx,
    ) -> (Vec<QueueEntry>, u32) {
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
                    student: people.info(r.student),
                    subject: r.subject.clone(),
                    topic: r.topic.clone(),
                    form: r.form,
                    position: i as u32 + 1,
                    waiting_secs: cx.now.mono.saturating_duration_since(r.requested).as_secs(),
                });
            }
        }
        entries.sort_by_key(|e| (std::cmp::Reverse(e.waiting_secs), e.id));
        entries.truncate(QUEUE_SNAPSHOT);
        (entries, total)
    }

    /// Pushes a subject's queue to its online staff (the timer throttles this).
    pub fn push_queue_snapshot(&mut self, subject: &str, people: &People, cx: &mut Ctx) {
        self.queue_push_pending.remove(subject);
        let staff: Vec<UserId> = people
            .staff_of(subject)
            .filter(|s| people.status_of(*s) != Status::Offline)
            .collect();
        let (requests, total) = self.queue_entries(&[subject.to_string()], people, cx);
        cx.out.send_users(
            staff,
            ServerMessage::Queue {
                subject: Some(subject.to_string()),
                requests,
                total,
            },
        );
    }

    /// A subject's held-back places are due: every place is sent at the next flush.
    pub fn positions_due(&mut self, subject: String) {
        self.positions_pending.remove(&subject);
        self.mark_dirty(&subject);
        self.positions_due.insert(subject);
    }

    /// Tells each waiting student whose position or estimate changed: at once in the first
    /// `immediate_positions` places; further back once per `position_interval`, at a timer,
    /// with the latest place (a long queue moving would otherwise cost a message to everyone
    /// behind, and a walk of the whole queue, on every change).
    pub fn flush_positions(&mut self, people: &People, cx: &mut Ctx) {
        let subjects = std::mem::take(&mut self.dirty_subjects);
        let immediate = cx.config.immediate_positions as usize;
        for subject in subjects {
            let estimator = self.estimator(&subject, people);
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
                cx.out.push(Output::Send {
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
                cx.after(
                    cx.config.position_interval,
                    Timer::Positions(subject.clone()),
                );
                self.positions_pending.insert(subject);
            }
        }
    }
}
