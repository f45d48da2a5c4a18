//! What the SFU is asked to do: a member's negotiation message, a session's media rules, a
//! member gone, a session ended. The server fills these from the hub's media work.

use konsult_protocol::model::TrackKind;
use konsult_protocol::{SessionId, SignalData, UserId};

/// A member's WebSocket connection, as the server numbers them: where the SFU's `signal`s
/// and errors for that member go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Who receives one kind of a member's media.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience {
    /// Every other member of the session.
    Everyone,
    /// These members only (none: nobody). The others are not even offered the track.
    Only(Vec<UserId>),
}

impl Audience {
    /// Nobody receives it.
    pub fn nobody() -> Audience {
        Audience::Only(Vec::new())
    }

    pub fn includes(&self, user: UserId) -> bool {
        match self {
            Audience::Everyone => true,
            Audience::Only(users) => users.contains(&user),
        }
    }
}

/// What a member may do with media in a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberPolicy {
    pub user: UserId,
    /// Who receives the member's audio: in a frontal session, everyone for the host and the
    /// floor holder, nobody for the other students.
    pub audio_to: Audience,
    /// Who receives the member's camera and screen: in a frontal session a student's reach
    /// the host only, unless the host shows the class to itself or gives the student the floor.
    pub video_to: Audience,
    /// Track kinds the host muted: not forwarded.
    pub muted: Vec<TrackKind>,
}

impl MemberPolicy {
    /// Whether `subscriber` is offered this member's track of `kind` at all.
    pub fn reaches(&self, kind: TrackKind, subscriber: UserId) -> bool {
        let audience = match kind {
            TrackKind::Audio => &self.audio_to,
            TrackKind::Video | TrackKind::Screen => &self.video_to,
        };
        subscriber != self.user && audience.includes(subscriber)
    }
}

/// A session's media rules, given after every change; until the first, nothing is forwarded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionPolicy {
    pub members: Vec<MemberPolicy>,
}

/// Work for the SFU.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// A member's negotiation message for the SFU, from connection `conn`.
    Signal {
        session: SessionId,
        user: UserId,
        conn: ConnId,
        data: SignalData,
    },
    /// The session's media rules changed (or the session moved to the SFU).
    SetPolicy {
        session: SessionId,
        policy: SessionPolicy,
    },
    /// A member left the session or was removed: its peer closes.
    RemoveMember { session: SessionId, user: UserId },
    /// The session ended: every peer in it closes.
    EndSession { session: SessionId },
    /// The members whose video `user` receives; `None`: everyone's (audio is not affected).
    View {
        session: SessionId,
        user: UserId,
        video: Option<Vec<UserId>>,
    },
}
