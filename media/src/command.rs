//! What the SFU is asked to do: a member's negotiation message, a session's media rules, a
//! member gone, a session ended. The server fills these from the hub's media work.

use konsult_protocol::model::TrackKind;
use konsult_protocol::{SessionId, SignalData, UserId};

/// A member's WebSocket connection, as the server numbers them: where the SFU's `signal`s
/// and errors for that member go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// What a member may do with media in a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberPolicy {
    pub user: UserId,
    /// In a frontal session only the host and the floor holder publish.
    pub may_publish: bool,
    /// Track kinds the host muted: not forwarded.
    pub muted: Vec<TrackKind>,
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
