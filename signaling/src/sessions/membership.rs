//! Who is in a session: joining, leaving, members who drop or do not come back, and the end of
//! a session for everyone in it.

use super::{Ended, Sessions};
use crate::ctx::Ctx;
use crate::io::{ConsultationRecord, MediaCommand, Outcome, Output};
use crate::people::People;
use crate::refusal::{Asker, Handled, Refusal};
use crate::timers::Timer;
use konsult_protocol::model::{EndReason, Form, MediaPath, MediaState, Role};
use konsult_protocol::{ServerMessage, SessionId, UserId};
use std::collections::BTreeSet;

impl Sessions {
    /// Answers `join_session` from an invited user or a member.
    pub fn join(
        &mut self,
        asker: &Asker,
        id: SessionId,
        people: &mut People,
        cx: &mut Ctx,
    ) -> Handled {
        let user = asker.user;
        let s = self
            .sessions
            .get(&id)
            .ok_or_else(|| Refusal::not_found(format!("no session {id}")))?;
        if s.removed.contains(&user) {
            return Err(Refusal::forbidden("the host removed you from this session"));
        }
        if !s.invited.contains(&user) && !s.members.contains_key(&user) {
            return Err(Refusal::forbidden("you are not invited to this session"));
        }
        if !s.is_present(user) && s.present().count() >= cx.config.session_members {
            return Err(Refusal::too_large("the session is full"));
        }
        if s.form == Form::Individual
            && !s.is_present(user)
            && people.role_of(user) == Some(Role::Student)
            && people.in_individual_session(user)
        {
            return Err(Refusal::conflict("you are already in another consultation"));
        }
        self.seat(id, user, Some(asker.conn), people);
        let s = &self.sessions[&id];
        if s.media == MediaPath::P2p && s.present().count() == 2 {
            // A booked individual session: its two members came one by one, and the direct
            // path has from now on to connect.
            cx.after(cx.config.p2p_timeout, Timer::P2p(id));
        }
        self.send_session_started(asker.conn, asker.re(), id, people, cx);
        self.send_open_poll(asker.conn, user, id, people, cx);
        self.update_media_policy(id, cx);
        Ok(())
    }

    /// Answers `leave_session`: an individual session ends; the host of another may come back.
    pub fn leave(
        &mut self,
        asker: &Asker,
        id: SessionId,
        people: &mut People,
        cx: &mut Ctx,
    ) -> Handled {
        let s = self.member_session(asker.user, id)?;
        if s.form == Form::Individual {
            cx.out.ok(asker);
            self.end(id, EndReason::Ended, people, cx);
            return Ok(());
        }
        let host = s.host;
        self.unseat(id, asker.user, people, cx);
        if asker.user == host {
            // The host may come back; without them the session ends after the grace period.
            cx.after(cx.config.grace, Timer::Grace(asker.user));
        }
        cx.out.ok(asker);
        Ok(())
    }

    /// Takes a member out of the session (they may join again).
    pub(super) fn unseat(
        &mut self,
        id: SessionId,
        user: UserId,
        people: &mut People,
        cx: &mut Ctx,
    ) {
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
        if user != s.host {
            people.leave_session(user, id);
        }
        cx.out.push(Output::Media(MediaCommand::RemoveMember {
            session: id,
            user,
        }));
        self.update_media_policy(id, cx);
    }

    /// Answers `end_session` from the host.
    pub fn end_by_host(
        &mut self,
        asker: &Asker,
        id: SessionId,
        people: &mut People,
        cx: &mut Ctx,
    ) -> Handled {
        self.host_session(asker.user, id)?;
        cx.out.ok(asker);
        self.end(id, EndReason::Ended, people, cx);
        Ok(())
    }

    /// Ends a session for everyone in it or invited to it. What follows for queues and the
    /// host's presence is left in [`Sessions::take_ended`] for the hub.
    pub(super) fn end(
        &mut self,
        id: SessionId,
        reason: EndReason,
        people: &mut People,
        cx: &mut Ctx,
    ) {
        // A missed booking is left to its thread, as a deferred request is.
        let outcome = if reason == EndReason::Missed {
            Outcome::Deferred
        } else {
            Outcome::Held
        };
        self.close_open_polls(id, people, cx);
        self.record_session(id, outcome, people, cx);
        let Some(s) = self.sessions.remove(&id) else {
            return;
        };
        for record in &s.pulled {
            let joined = record.students.iter().any(|u| s.participants.contains(u));
            cx.out.push(Output::Record(ConsultationRecord {
                ended_at_ms: Some(cx.now.unix_ms),
                outcome: if joined {
                    Outcome::Held
                } else {
                    Outcome::Cancelled
                },
                thread: s.thread,
                ..record.clone()
            }));
        }
        let host_before = people.status_of(s.host);
        let mut everyone: BTreeSet<UserId> = s.members.keys().copied().collect();
        everyone.extend(s.invited.iter().copied());
        for user in &everyone {
            people.leave_session(*user, id);
        }
        people.set_idle(s.host, cx.now.mono);
        let handled = (s.form == Form::Individual && !s.requests.is_empty()).then(|| {
            let took = cx.now.mono.saturating_duration_since(s.started);
            (s.subject.clone(), took)
        });
        cx.out.send_users(
            everyone.into_iter().collect(),
            ServerMessage::SessionEnded {
                session: id,
                reason,
            },
        );
        cx.out
            .push(Output::Media(MediaCommand::EndSession { session: id }));
        self.ended.push(Ended {
            session: id,
            host: s.host,
            host_before,
            handled,
        });
    }

    /// Whether the host and a student were ever in the session together; `None` when it is not
    /// live.
    pub fn met(&self, id: SessionId) -> Option<bool> {
        let s = self.sessions.get(&id)?;
        Some(s.participants.contains(&s.host) && s.participants.iter().any(|u| *u != s.host))
    }

    /// Ends a booked session its host and students never met in.
    pub fn end_missed(&mut self, id: SessionId, people: &mut People, cx: &mut Ctx) {
        self.end(id, EndReason::Missed, people, cx);
    }

    /// A user's last connection dropped: their sessions show them offline.
    pub fn member_dropped(&mut self, user: UserId, people: &People) {
        for id in people.sessions_of(user) {
            if let Some(s) = self.sessions.get_mut(&id) {
                if let Some(member) = s.members.get_mut(&user) {
                    member.media_conn = None;
                    member.media = MediaState::Connecting;
                }
                s.dirty = true;
            }
        }
    }

    /// A user did not come back within the grace period (or was deactivated).
    pub fn member_gone_for_good(
        &mut self,
        id: SessionId,
        user: UserId,
        people: &mut People,
        cx: &mut Ctx,
    ) {
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        if s.host == user {
            if !people.is_online(user) || !s.is_present(user) {
                self.end(id, EndReason::HostLeft, people, cx);
            }
        } else if s.form == Form::Individual {
            self.end(id, EndReason::Empty, people, cx);
        } else {
            self.unseat(id, user, people, cx);
        }
    }
}
