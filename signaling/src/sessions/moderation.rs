//! Moderation by the host and co-hosts: raised hands, the floor in a frontal session, muting,
//! removing members, and naming co-hosts (the host's alone).

use super::Sessions;
use crate::ctx::Ctx;
use crate::people::People;
use crate::refusal::{Asker, Handled, Refusal};
use konsult_protocol::model::{EndReason, Form, TrackKind};
use konsult_protocol::{ServerMessage, SessionId, UserId};

impl Sessions {
    pub fn raise_hand(&mut self, asker: &Asker, id: SessionId, cx: &mut Ctx) -> Handled {
        let s = self.member_session(asker.user, id)?;
        if s.host == asker.user {
            return Err(Refusal::bad_request("the host has the floor already"));
        }
        let s = self.sessions.get_mut(&id).expect("checked");
        if !s.hands.contains(&asker.user) {
            s.hands.push(asker.user);
            s.dirty = true;
        }
        cx.out.ok(asker);
        Ok(())
    }

    pub fn lower_hand(
        &mut self,
        asker: &Asker,
        id: SessionId,
        target: Option<UserId>,
        cx: &mut Ctx,
    ) -> Handled {
        let target = target.unwrap_or(asker.user);
        if target == asker.user {
            self.member_session(asker.user, id)?;
        } else {
            self.moderated_session(asker.user, id)?;
        }
        let s = self.sessions.get_mut(&id).expect("checked");
        let before = s.hands.len();
        s.hands.retain(|u| *u != target);
        s.dirty |= s.hands.len() != before;
        cx.out.ok(asker);
        Ok(())
    }

    pub fn grant_floor(
        &mut self,
        asker: &Asker,
        id: SessionId,
        target: UserId,
        cx: &mut Ctx,
    ) -> Handled {
        let s = self.moderated_session(asker.user, id)?;
        if !s.is_present(target) || target == s.host {
            return Err(Refusal::not_found(format!(
                "user {target} is not a member in the session"
            )));
        }
        let s = self.sessions.get_mut(&id).expect("checked");
        s.floor = Some(target);
        s.hands.retain(|u| *u != target);
        s.dirty = true;
        cx.out.ok(asker);
        self.update_media_policy(id, cx);
        Ok(())
    }

    pub fn revoke_floor(&mut self, asker: &Asker, id: SessionId, cx: &mut Ctx) -> Handled {
        let s = self.member_session(asker.user, id)?;
        if !s.may_moderate(asker.user) && s.floor != Some(asker.user) {
            return Err(Refusal::forbidden(
                "only the host, a co-host or the floor holder can do this",
            ));
        }
        let s = self.sessions.get_mut(&id).expect("checked");
        if s.floor.take().is_some() {
            s.dirty = true;
        }
        cx.out.ok(asker);
        self.update_media_policy(id, cx);
        Ok(())
    }

    pub fn set_mute(
        &mut self,
        asker: &Asker,
        id: SessionId,
        target: UserId,
        kind: TrackKind,
        mute: bool,
        cx: &mut Ctx,
    ) -> Handled {
        let s = self.moderated_session(asker.user, id)?;
        if !s.members.contains_key(&target) {
            return Err(Refusal::not_found(format!(
                "user {target} is not a member of the session"
            )));
        }
        if target == s.host && asker.user != s.host {
            return Err(Refusal::forbidden("a co-host cannot mute the host"));
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
        cx.out.ok(asker);
        self.update_media_policy(id, cx);
        Ok(())
    }

    pub fn remove_member(
        &mut self,
        asker: &Asker,
        id: SessionId,
        target: UserId,
        people: &mut People,
        cx: &mut Ctx,
    ) -> Handled {
        let s = self.moderated_session(asker.user, id)?;
        if target == s.host {
            return Err(Refusal::bad_request("the host cannot be removed"));
        }
        if !s.members.contains_key(&target) && !s.invited.contains(&target) {
            return Err(Refusal::not_found(format!(
                "user {target} is not in the session"
            )));
        }
        if s.form == Form::Individual {
            cx.out.ok(asker);
            self.end(id, EndReason::Ended, people, cx);
            return Ok(());
        }
        self.unseat(id, target, people, cx);
        let s = self.sessions.get_mut(&id).expect("checked");
        s.members.remove(&target);
        s.invited.remove(&target);
        s.cohosts.remove(&target);
        s.removed.insert(target);
        cx.out.send_user(
            target,
            ServerMessage::SessionEnded {
                session: id,
                reason: EndReason::Removed,
            },
        );
        cx.out.ok(asker);
        Ok(())
    }
}

// Co-hosts.
impl Sessions {
    /// Answers `set_cohost`: the host names a present member of a group or frontal session a
    /// co-host, or takes it back (also from one who is away).
    pub fn set_cohost(
        &mut self,
        asker: &Asker,
        id: SessionId,
        target: UserId,
        cohost: bool,
        people: &People,
        cx: &mut Ctx,
    ) -> Handled {
        let s = self.host_session(asker.user, id)?;
        if s.form == Form::Individual {
            return Err(Refusal::bad_request(
                "co-hosts are for group and frontal sessions",
            ));
        }
        if target == s.host {
            return Err(Refusal::bad_request("the host is the host already"));
        }
        let known = if cohost {
            s.is_present(target)
        } else {
            s.members.contains_key(&target)
        };
        if !known {
            return Err(Refusal::not_found(format!(
                "user {target} is not a member in the session"
            )));
        }
        let s = self.sessions.get_mut(&id).expect("checked");
        let changed = if cohost {
            s.cohosts.insert(target)
        } else {
            s.cohosts.remove(&target)
        };
        s.dirty |= changed;
        cx.out.ok(asker);
        if changed && cohost {
            self.tell_new_moderator(id, target, people, cx);
        }
        // A co-host sees every student's camera in a frontal session.
        self.update_media_policy(id, cx);
        Ok(())
    }
}
