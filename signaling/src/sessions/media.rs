//! Media in a session: the path (peer to peer or the SFU), each member's media state and the
//! connection that carries it, the `signal` relay, and the rules the SFU forwards by.

use super::Sessions;
use crate::ctx::Ctx;
use crate::io::{Audience, ConnId, MediaCommand, MediaPolicy, MemberPolicy, Output, Recipients};
use crate::people::People;
use crate::refusal::{Asker, Handled, Refusal};
use konsult_protocol::limits::MAX_SIGNAL_BYTES;
use konsult_protocol::model::{Cameras, Form, MediaPath, MediaState, TrackKind};
use konsult_protocol::{ServerMessage, SessionId, SignalData, SignalPeer, UserId};

impl Sessions {
    pub fn signal(
        &mut self,
        asker: &Asker,
        id: SessionId,
        to: SignalPeer,
        data: SignalData,
        cx: &mut Ctx,
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
                cx.out.push(Output::Send {
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
                cx.out.push(Output::Media(MediaCommand::Signal {
                    session: id,
                    user: asker.user,
                    conn: asker.conn,
                    data,
                }));
            }
        }
        cx.out.ok(asker);
        Ok(())
    }

    /// One of a user's connections closed while others stay: in the sessions whose media it
    /// carried, that media is gone, and signals for the user go to all their connections until
    /// one of them signals or joins.
    pub fn media_conn_closed(&mut self, user: UserId, conn: ConnId, people: &People) {
        let sessions = people.sessions_of(user);
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

    pub fn media_state(
        &mut self,
        asker: &Asker,
        id: SessionId,
        state: Option<MediaState>,
        off: Option<Vec<TrackKind>>,
        cx: &mut Ctx,
    ) -> Handled {
        self.member_session(asker.user, id)?;
        if let Some(state) = state {
            self.set_member_media(id, asker.user, state);
        }
        if let Some(mut off) = off {
            off.sort();
            off.dedup();
            if let Some(s) = self.sessions.get_mut(&id)
                && let Some(member) = s.members.get_mut(&asker.user)
                && member.off != off
            {
                member.off = off;
                s.dirty = true;
            }
        }
        cx.out.ok(asker);
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

    /// A member of a session on the SFU says whose video it shows: the SFU forwards only
    /// those (a class on phones receives the few tiles on screen, not thirty videos).
    pub fn media_view(
        &mut self,
        asker: &Asker,
        id: SessionId,
        video: Option<Vec<UserId>>,
        cx: &mut Ctx,
    ) -> Handled {
        let s = self.member_session(asker.user, id)?;
        if s.media != MediaPath::Sfu {
            return Err(Refusal::conflict(
                "this session is peer to peer: every member's video comes directly",
            ));
        }
        if video
            .as_ref()
            .is_some_and(|v| v.len() > cx.config.session_members)
        {
            return Err(Refusal::too_large(format!(
                "at most {} members in a view",
                cx.config.session_members
            )));
        }
        cx.out.push(Output::Media(MediaCommand::View {
            session: id,
            user: asker.user,
            video,
        }));
        cx.out.ok(asker);
        Ok(())
    }

    pub fn media_failed(&mut self, asker: &Asker, id: SessionId, cx: &mut Ctx) -> Handled {
        let s = self.member_session(asker.user, id)?;
        if s.media == MediaPath::P2p {
            self.move_to_sfu(id, cx);
        } else {
            self.set_member_media(id, asker.user, MediaState::Failed);
        }
        cx.out.ok(asker);
        Ok(())
    }

    /// Peer to peer failed: every member renegotiates with the SFU.
    fn move_to_sfu(&mut self, id: SessionId, cx: &mut Ctx) {
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
        self.update_media_policy(id, cx);
    }

    pub fn on_p2p_timeout(&mut self, id: SessionId, cx: &mut Ctx) {
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        let connected = s
            .members
            .values()
            .filter(|m| m.present)
            .all(|m| m.media == MediaState::Connected);
        if s.media == MediaPath::P2p && !connected {
            self.move_to_sfu(id, cx);
        }
    }

    pub fn on_media_event(&mut self, id: SessionId, user: UserId, state: MediaState) {
        self.set_member_media(id, user, state);
    }

    /// Gives the SFU the session's media rules when they changed.
    pub(super) fn update_media_policy(&mut self, id: SessionId, cx: &mut Ctx) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        if s.media != MediaPath::Sfu || s.thread.is_none() {
            return;
        }
        // In a frontal session a student without the floor is heard by nobody and seen by
        // those who see every camera, or by the class when the host shows it.
        let watchers: Vec<UserId> = s.present().filter(|u| s.sees_every_camera(*u)).collect();
        let members = s
            .members
            .iter()
            .filter(|(_, m)| m.present)
            .map(|(user, m)| {
                let speaks = s.form != Form::Frontal || *user == s.host || s.floor == Some(*user);
                let (audio_to, video_to) = match (speaks, s.cameras()) {
                    (true, _) => (Audience::Everyone, Audience::Everyone),
                    (false, Cameras::Class) => (Audience::Only(Vec::new()), Audience::Everyone),
                    (false, Cameras::Host) => {
                        (Audience::Only(Vec::new()), Audience::Only(watchers.clone()))
                    }
                };
                MemberPolicy {
                    user: *user,
                    audio_to,
                    video_to,
                    muted: m.muted.clone(),
                }
            })
            .collect();
        let policy = MediaPolicy { members };
        if s.last_policy.as_ref() == Some(&policy) {
            return;
        }
        s.last_policy = Some(policy.clone());
        cx.out.push(Output::Media(MediaCommand::SetPolicy {
            session: id,
            policy,
        }));
    }
}
