//! Session snapshots (`session_state`): sent at once to ordinary sessions after a change, at
//! most twice a second to large ones, with a partial roster for all but the host and co-hosts.

use super::{SessionMember, Sessions};
use crate::ctx::Ctx;
use crate::people::People;
use crate::timers::Timer;
use konsult_protocol::model::Member;
use konsult_protocol::{ServerMessage, SessionId, UserId};
use std::time::Duration;

/// Least time between snapshots of a large session.
const LARGE_SESSION_SNAPSHOT: Duration = Duration::from_millis(500);

impl Sessions {
    /// Sends the snapshots owed: at once for ordinary sessions, at most twice a second for
    /// large ones. In the order of the sessions' ids, so that a hub restored from a snapshot
    /// sends what the original would have, in the same order.
    pub fn flush_snapshots(&mut self, people: &People, cx: &mut Ctx) {
        let mut dirty: Vec<SessionId> = self
            .sessions
            .values()
            .filter(|s| s.dirty && s.thread.is_some())
            .map(|s| s.id)
            .collect();
        dirty.sort();
        for id in dirty {
            let s = self.sessions.get_mut(&id).expect("listed");
            if s.is_large() {
                if !s.snapshot_scheduled {
                    s.snapshot_scheduled = true;
                    cx.timers
                        .set(cx.now.mono + LARGE_SESSION_SNAPSHOT, Timer::Snapshot(id));
                }
                continue;
            }
            self.send_snapshot(id, people, cx);
        }
    }

    pub fn on_snapshot_timer(&mut self, id: SessionId, people: &People, cx: &mut Ctx) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.snapshot_scheduled = false;
            if s.dirty {
                self.send_snapshot(id, people, cx);
            }
        }
    }

    fn send_snapshot(&mut self, id: SessionId, people: &People, cx: &mut Ctx) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        s.dirty = false;
        s.version += 1;
        let version = s.version;
        let s = &self.sessions[&id];
        let member = |user: UserId, m: &SessionMember| Member {
            user: people.info(user),
            role: m.role,
            online: m.present && people.is_online(user),
            media: m.media,
            muted: m.muted.clone(),
            off: m.off.clone(),
        };
        let full: Vec<Member> = s.members.iter().map(|(u, m)| member(*u, m)).collect();
        let recipients: Vec<UserId> = s.present().collect();
        let snapshot = |members: Vec<Member>| ServerMessage::SessionState {
            session: id,
            version,
            media: s.media,
            members,
            total: s.members.len() as u32,
            floor: s.floor,
            hands: s.hands.clone(),
            cohosts: s.cohosts.iter().copied().collect(),
            cameras: s.cameras(),
        };
        if s.is_large() {
            let partial: Vec<Member> = s
                .members
                .iter()
                .filter(|(u, m)| {
                    s.may_moderate(**u)
                        || s.floor == Some(**u)
                        || s.hands.contains(u)
                        || !m.muted.is_empty()
                })
                .map(|(u, m)| member(*u, m))
                .collect();
            let (moderators, others): (Vec<UserId>, Vec<UserId>) =
                recipients.into_iter().partition(|u| s.may_moderate(*u));
            let (to_moderators, to_others) = (snapshot(full), snapshot(partial));
            cx.out.send_users(moderators, to_moderators);
            cx.out.send_users(others, to_others);
        } else {
            let msg = snapshot(full);
            cx.out.send_users(recipients, msg);
        }
    }
}
