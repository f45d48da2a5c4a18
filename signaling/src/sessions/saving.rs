//! Live sessions in a snapshot: what of each is kept (all but the connections, which do not
//! outlive a move), and what a restored session asks for again: the SFU's rules, which the new
//! owner's SFU has never heard, and the chat of a session whose thread was still being created.

use super::{Polls, Session, SessionMember, Sessions};
use crate::ctx::Ctx;
use crate::io::{Output, RecordKey, ThreadPurpose, ThreadSpec};
use crate::people::People;
use crate::snapshot::{ID_SKIP, MemberState, Rebase, SessionState, SessionsState, VERSION_SKIP};
use konsult_protocol::model::{Form, MediaState, ThreadKind};
use konsult_protocol::{SessionId, UserId};

impl Sessions {
    /// The live sessions, in id order, as a snapshot keeps them.
    pub fn save(&self, at: Rebase) -> SessionsState {
        debug_assert!(
            self.ended.is_empty(),
            "invariant: ended sessions are settled within the input that ended them"
        );
        let mut sessions: Vec<SessionState> = self
            .sessions
            .values()
            .map(|s| SessionState {
                id: s.id,
                form: s.form,
                mode: s.mode,
                subject: s.subject.clone(),
                title: s.title.clone(),
                host: s.host,
                class: s.class.clone(),
                media: s.media,
                thread: s.thread,
                started: at.offset(s.started),
                started_ms: s.started_ms,
                members: s
                    .members
                    .iter()
                    .map(|(user, m)| (*user, save_member(m)))
                    .collect(),
                invited: s.invited.iter().copied().collect(),
                removed: s.removed.iter().copied().collect(),
                participants: s.participants.iter().copied().collect(),
                floor: s.floor,
                hands: s.hands.clone(),
                version: s.version,
                record: s.record,
                requests: s.requests.clone(),
                pulled: s.pulled.clone(),
                dirty: s.dirty,
                snapshot_scheduled: s.snapshot_scheduled,
                cohosts: s.cohosts.iter().copied().collect(),
                polls: s.polls.save(),
                class_sees_cameras: s.class_sees_cameras,
            })
            .collect();
        sessions.sort_by_key(|s| s.id);
        SessionsState {
            sessions,
            next_session: self.next_session,
        }
    }

    /// Sessions restored from a snapshot, rebased on `at`. Ids and `session_state` versions go
    /// on past any the previous owner may have used after the snapshot.
    pub fn load(state: SessionsState, at: Rebase) -> Sessions {
        let mut sessions = Sessions::new(state.next_session.max(1) + ID_SKIP);
        for s in state.sessions {
            let session = Session {
                id: s.id,
                form: s.form,
                mode: s.mode,
                subject: s.subject,
                title: s.title,
                host: s.host,
                class: s.class,
                media: s.media,
                thread: s.thread,
                started: at.instant(s.started),
                started_ms: s.started_ms,
                members: s
                    .members
                    .into_iter()
                    .map(|(user, m)| {
                        let member = SessionMember {
                            role: m.role,
                            present: m.present,
                            media: m.media,
                            muted: m.muted,
                            off: m.off,
                            media_conn: None,
                        };
                        (user, member)
                    })
                    .collect(),
                invited: s.invited.into_iter().collect(),
                removed: s.removed.into_iter().collect(),
                participants: s.participants.into_iter().collect(),
                floor: s.floor,
                hands: s.hands,
                cohosts: s.cohosts.into_iter().collect(),
                polls: Polls::load(s.polls),
                version: s.version + VERSION_SKIP,
                record: s.record,
                requests: s.requests,
                pulled: s.pulled,
                answer: None,
                dirty: s.dirty,
                snapshot_scheduled: s.snapshot_scheduled,
                last_policy: None,
                class_sees_cameras: s.class_sees_cameras,
            };
            sessions.sessions.insert(s.id, session);
        }
        sessions
    }

    /// Hands out no id below `next`.
    pub fn ids_from(&mut self, next: i64) {
        self.next_session = self.next_session.max(next);
    }

    /// Skips the ids and versions a restore skips (for tests that compare a hub with its
    /// restored copy).
    #[cfg(feature = "testing")]
    pub fn skip_ids(&mut self) {
        self.next_session += ID_SKIP;
        for s in self.sessions.values_mut() {
            s.version += VERSION_SKIP;
        }
    }

    /// After a restore: gives the new owner's SFU the rules of every session it carries, and
    /// asks again for the chat of sessions whose thread was still being created.
    pub fn resume_after_move(&mut self, people: &People, cx: &mut Ctx) {
        let mut ids: Vec<SessionId> = self.sessions.keys().copied().collect();
        ids.sort();
        for id in ids {
            let s = &self.sessions[&id];
            if s.thread.is_some() {
                self.update_media_policy(id, cx);
            } else {
                let spec = pending_thread(s, people);
                cx.out.push(Output::CreateThread {
                    purpose: ThreadPurpose::Session(id),
                    spec,
                });
            }
        }
    }
}

fn save_member(m: &SessionMember) -> MemberState {
    MemberState {
        role: m.role,
        present: m.present,
        // The connection that carried it is gone with the old owner.
        media: if m.media_conn.is_some() {
            MediaState::Connecting
        } else {
            m.media
        },
        muted: m.muted.clone(),
        off: m.off.clone(),
    }
}

/// The thread a session asked for when it started, asked for again.
fn pending_thread(s: &Session, people: &People) -> ThreadSpec {
    let mut members: Vec<UserId> = vec![s.host];
    members.extend(s.invited.iter().copied().filter(|u| *u != s.host));
    let from_request = match s.record {
        RecordKey::Request(id) => Some(id),
        RecordKey::Session(_) => None,
    };
    let (kind, title) = match from_request {
        Some(_) if s.form == Form::Individual => {
            (ThreadKind::Personal, format!("{}: {}", s.subject, s.title))
        }
        Some(_) => (ThreadKind::Group, format!("{}: {}", s.subject, s.title)),
        None if s.class.is_some() => (ThreadKind::Class, s.title.clone()),
        None => (ThreadKind::Group, s.title.clone()),
    };
    ThreadSpec {
        kind,
        title,
        members,
        class: s.class.clone(),
        request: from_request,
        session: Some(s.id),
        opening: Vec::new(),
        confidential: people.confidential(&s.subject, Some(s.host)),
    }
}
