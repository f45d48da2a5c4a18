//! Live sessions: starting them (from a request or by a teacher), who is in them, moderation
//! (hands, floor, mute, removal, co-hosts), polls, media paths and the `signal` relay, their end, and their
//! snapshots. `Sessions` owns every live session; what it needs of people it asks `People`, and
//! the sessions that ended it leaves for the hub to settle what follows in the queues.

mod cameras;
mod media;
mod membership;
mod moderation;
mod polls;
mod saving;
mod snapshots;
mod start;

pub(crate) use polls::NewPoll;
use polls::Polls;
pub(crate) use start::NewSession;

use crate::ids::IdMap;
use crate::io::{ConnId, ConsultationRecord, MediaPolicy, RecordKey};
use crate::refusal::Refusal;
use konsult_protocol::model::{
    Cameras, Form, MediaPath, MediaState, Mode, SessionRole, Status, TrackKind,
};
use konsult_protocol::{RequestId, Rid, SessionId, ThreadId, UserId};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Sessions with more members than this get partial rosters and throttled snapshots.
const ROSTER_LIMIT: usize = 100;

/// Every live session of the school.
#[derive(Debug)]
pub(crate) struct Sessions {
    /// Live sessions.
    sessions: IdMap<SessionId, Session>,
    next_session: i64,
    /// Sessions ended since the hub last asked, for it to settle queues and presence.
    ended: Vec<Ended>,
}

/// A session that ended: its host may be free again, and a consultation's length counts for the
/// estimates of its subject.
#[derive(Debug)]
pub(crate) struct Ended {
    pub session: SessionId,
    pub host: UserId,
    /// The host's status while the session was live: `presence` is pushed if ending it changed.
    pub host_before: Status,
    /// The subject and length of a consultation that answered a request.
    pub handled: Option<(String, Duration)>,
}

/// A member of a session.
#[derive(Debug, Clone)]
struct SessionMember {
    role: SessionRole,
    /// In the session now (joined and not left); a dropped connection keeps this within the
    /// grace period.
    present: bool,
    media: MediaState,
    muted: Vec<TrackKind>,
    /// Kinds the member switched off themselves, as their last `media_state` said.
    off: Vec<TrackKind>,
    /// The connection that carries this member's media (the last one that joined or
    /// signalled): the rule for a user on several devices.
    media_conn: Option<ConnId>,
}

/// A live session.
#[derive(Debug)]
struct Session {
    id: SessionId,
    form: Form,
    mode: Mode,
    subject: String,
    title: String,
    host: UserId,
    class: Option<String>,
    media: MediaPath,
    /// The session's chat; `None` until storage created it, and nobody hears of the session
    /// before that.
    thread: Option<ThreadId>,
    started: Instant,
    started_ms: i64,
    /// Everyone who joined and was not removed.
    members: BTreeMap<UserId, SessionMember>,
    /// Who may join.
    invited: BTreeSet<UserId>,
    /// Removed by the host: may not join again.
    removed: BTreeSet<UserId>,
    /// Everyone who ever joined, for the record.
    participants: BTreeSet<UserId>,
    floor: Option<UserId>,
    hands: Vec<UserId>,
    /// Members the host made co-hosts: they moderate as the host does, but for ending the
    /// session and naming co-hosts. Kept while they are away; lost when removed.
    cohosts: BTreeSet<UserId>,
    /// The session's polls.
    polls: Polls,
    version: u64,
    /// The record this session updates.
    record: RecordKey,
    /// The help requests this session answers.
    requests: Vec<RequestId>,
    /// Records of queued requests pulled into this session, closed when it ends.
    pulled: Vec<ConsultationRecord>,
    /// The connection and rid to answer when the session is announced.
    answer: Option<(ConnId, Option<Rid>)>,
    /// A snapshot is owed to the members.
    dirty: bool,
    /// A throttled snapshot is scheduled.
    snapshot_scheduled: bool,
    /// Snapshots the SFU's policy was last set from; avoids resending the same policy.
    last_policy: Option<MediaPolicy>,
    /// The host of a frontal session showed the students' cameras to the class
    /// (`show_cameras`); until then only those who see every camera see them.
    class_sees_cameras: bool,
}

impl Session {
    /// Invited but not in the session.
    fn is_invited_only(&self, user: UserId) -> bool {
        self.invited.contains(&user) && !self.members.get(&user).is_some_and(|m| m.present)
    }

    fn is_present(&self, user: UserId) -> bool {
        self.members.get(&user).is_some_and(|m| m.present)
    }

    fn present(&self) -> impl Iterator<Item = UserId> + '_ {
        self.members
            .iter()
            .filter(|(_, m)| m.present)
            .map(|(u, _)| *u)
    }

    /// The host or a co-host.
    fn may_moderate(&self, user: UserId) -> bool {
        self.host == user || self.cohosts.contains(&user)
    }

    /// The host and the co-hosts who are in the session now.
    fn moderators_present(&self) -> Vec<UserId> {
        self.present().filter(|u| self.may_moderate(*u)).collect()
    }

    fn is_large(&self) -> bool {
        self.members.len() > ROSTER_LIMIT
    }

    /// Whether `user` sees every student's camera even while the class does not: the host
    /// and the co-hosts. Every such check goes through here.
    fn sees_every_camera(&self, user: UserId) -> bool {
        self.may_moderate(user)
    }

    /// Who sees the students' cameras, as `session_state` tells the members: in a frontal
    /// session only those who see every camera until the host shows the class to itself;
    /// in the other forms everyone.
    fn cameras(&self) -> Cameras {
        if self.form == Form::Frontal && !self.class_sees_cameras {
            Cameras::Host
        } else {
            Cameras::Class
        }
    }
}

impl Sessions {
    pub fn new(next_session: i64) -> Sessions {
        Sessions {
            sessions: IdMap::default(),
            next_session: next_session.max(1),
            ended: Vec::new(),
        }
    }

    /// How many sessions are live.
    pub fn live(&self) -> usize {
        self.sessions.len()
    }

    /// The form of a live session.
    pub fn form(&self, id: SessionId) -> Option<Form> {
        self.sessions.get(&id).map(|s| s.form)
    }

    /// The sessions that ended since the last call.
    pub fn take_ended(&mut self) -> Vec<Ended> {
        std::mem::take(&mut self.ended)
    }

    /// A session by id, if the user may act in it (a present member, or the host).
    fn member_session(&self, user: UserId, id: SessionId) -> Result<&Session, Refusal> {
        let s = self
            .sessions
            .get(&id)
            .ok_or_else(|| Refusal::not_found(format!("no session {id}")))?;
        if !s.members.contains_key(&user) && !s.invited.contains(&user) {
            // Not even knowing it exists: a stranger's probe looks like a wrong id.
            return Err(Refusal::not_found(format!("no session {id}")));
        }
        if !s.is_present(user) {
            return Err(Refusal::forbidden("join the session first"));
        }
        Ok(s)
    }

    /// A session by id, if the user is its present host.
    fn host_session(&self, user: UserId, id: SessionId) -> Result<&Session, Refusal> {
        let s = self.member_session(user, id)?;
        if s.host != user {
            return Err(Refusal::forbidden("only the host can do this"));
        }
        Ok(s)
    }

    /// A session by id, if the user may moderate it: its present host or a present co-host.
    fn moderated_session(&self, user: UserId, id: SessionId) -> Result<&Session, Refusal> {
        let s = self.member_session(user, id)?;
        if !s.may_moderate(user) {
            return Err(Refusal::forbidden("only the host or a co-host can do this"));
        }
        Ok(s)
    }
}
