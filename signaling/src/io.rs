//! What goes into the hub and what comes out of it.

use konsult_protocol::model::{
    Form, HoursSlot, MediaState, Mode, PollKind, ThreadKind, TrackKind, UserInfo,
};
use konsult_protocol::{
    RequestId, Rid, ServerMessage, SessionId, SignalData, ThreadId, ToHub, UserId,
};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// One WebSocket connection, as the server numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// The time of an input: monotonic for deadlines, wall-clock (ms since the Unix epoch, UTC) for
/// records and messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    pub mono: Instant,
    pub unix_ms: i64,
    /// The school's offset from UTC now, for consultation hours.
    pub utc_offset_secs: i32,
}

/// Something that happened, for the hub to act on.
#[derive(Clone, Debug)]
pub enum Input {
    /// A connection passed `hello` as `user`. A `resumed` one already got every message it
    /// missed and needs no restore.
    Connected {
        conn: ConnId,
        user: UserInfo,
        resumed: bool,
    },
    /// A connection ended.
    Disconnected { conn: ConnId },
    /// A client message from an authenticated connection.
    Message {
        conn: ConnId,
        rid: Option<Rid>,
        msg: ToHub,
    },
    /// The thread asked for by [`Output::CreateThread`] exists (or could not be created).
    ThreadReady {
        purpose: ThreadPurpose,
        thread: Result<ThreadId, String>,
    },
    /// The SFU reports a member's media.
    Media {
        session: SessionId,
        user: UserId,
        state: MediaState,
    },
    /// An account was created or changed (name, role, class, subjects), or deactivated.
    UserChanged { user: UserInfo, active: bool },
    /// A staff member's weekly consultation hours changed (or were loaded).
    HoursChanged { user: UserId, hours: Vec<HoursSlot> },
    /// A staff member's booked slots that have not ended, all of them, after a booking was
    /// made, moved or cancelled (or when the hub starts): the hub opens each one's session when
    /// it begins.
    BookingsChanged {
        teacher: UserId,
        slots: Vec<BookedSlot>,
    },
    /// The server gave connection `conn` the resume token `token` (in its `welcome`). The hub
    /// keeps the latest few of each user, so that after the school moves to another node a
    /// client coming back with one is known ([`crate::Hub::resume_of`]). The hub compares
    /// tokens only: a server that keeps snapshots gives it a digest of the token, never the
    /// token itself, so that a snapshot holds no secret.
    ResumeIssued { conn: ConnId, token: String },
}

/// A slot of a staff member's consultation hours that students booked, with its times already
/// in UTC: the server turns the school's local time into instants, so the hub stays free of
/// time-zone data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookedSlot {
    /// When it begins and ends, ms since the Unix epoch (UTC).
    pub starts_ms: i64,
    pub ends_ms: i64,
    pub subject: String,
    /// `Individual`, or `Group` for the students who share it.
    pub form: Form,
    /// Its students, each with the topic they booked it for.
    pub students: Vec<BookedStudent>,
}

/// A student booked into a slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookedStudent {
    pub student: UserId,
    pub topic: String,
}

/// What a thread is being created for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ThreadPurpose {
    /// The chat of a live session.
    Session(SessionId),
    /// A deferred help request, answered offline.
    Request(RequestId),
}

/// Who a message goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recipients {
    /// One connection (a reply).
    Conn(ConnId),
    /// Every connection of one user.
    User(UserId),
    /// Every connection of one user but one (which got its own copy answering a request).
    UserExcept { user: UserId, except: ConnId },
    /// Every connection of each user.
    Users(Vec<UserId>),
    /// Each of these connections (one message for many, encoded once).
    Conns(Vec<ConnId>),
}

/// A thread to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadSpec {
    pub kind: ThreadKind,
    pub title: String,
    pub members: Vec<UserId>,
    pub class: Option<String>,
    pub request: Option<RequestId>,
    pub session: Option<SessionId>,
    /// Messages the thread starts with (a deferred request's question and automatic reply).
    pub opening: Vec<OpeningMessage>,
    /// The consultation is with the support service (subject `support` or a support staff
    /// member named): the thread is the service's, confidential whoever its members are now.
    pub confidential: bool,
}

/// A message the hub has stored in a thread (with a new thread, or posted into one), as if its
/// author had sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpeningMessage {
    pub author: UserId,
    /// What it says; the server words it in the school's language.
    pub text: OpeningText,
    /// Unique per author and thread purpose: the message's `client_id`.
    pub client_id: String,
}

/// What a message the hub stores says. The hub says what happened; the words are the server's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpeningText {
    /// The student's question, as they wrote it.
    Question(String),
    /// The named teacher's automatic reply that it is not their consultation time now.
    OutsideHours {
        /// When their hours next begin: ISO 8601 in the school's local time with its offset,
        /// to the minute, as `request_deferred`'s `next_available`.
        next_available: String,
    },
    /// A closed poll's result, as the session's thread keeps it.
    PollResult {
        question: String,
        kind: PollKind,
        /// The options' texts; empty for `yes_no` (the server words yes and no).
        options: Vec<String>,
        /// Votes per option when the host published them; `None`: members were not shown.
        counts: Option<Vec<u32>>,
        voters: u32,
    },
}

/// Who receives one kind of a member's media.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience {
    /// Every other member of the session.
    Everyone,
    /// These members only (none: nobody); the SFU does not even offer the track to the others.
    Only(Vec<UserId>),
}

/// What a member may do with media in a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberPolicy {
    pub user: UserId,
    /// Who receives the member's audio: in a frontal session nobody's but the host's and the
    /// floor holder's is heard.
    pub audio_to: Audience,
    /// Who receives the member's camera and screen: in a frontal session a student's reach
    /// only those who see every camera, unless the host shows the class to itself or the
    /// student has the floor.
    pub video_to: Audience,
    /// Track kinds the host muted: not forwarded.
    pub muted: Vec<TrackKind>,
}

/// The media rules of a session, given to the SFU after every change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaPolicy {
    pub members: Vec<MemberPolicy>,
}

/// Work for the SFU.
#[derive(Clone, Debug, PartialEq)]
pub enum MediaCommand {
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
        policy: MediaPolicy,
    },
    /// A member left the session or was removed.
    RemoveMember { session: SessionId, user: UserId },
    /// The session ended.
    EndSession { session: SessionId },
    /// The members whose video `user` receives; `None`: everyone's.
    View {
        session: SessionId,
        user: UserId,
        video: Option<Vec<UserId>>,
    },
}

/// How a consultation ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// A live session is going on.
    InProgress,
    /// A live session took place.
    Held,
    /// The request became a thread, answered offline.
    Deferred,
    /// The student withdrew the request (or left and did not come back).
    Cancelled,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::InProgress => "in_progress",
            Outcome::Held => "held",
            Outcome::Deferred => "deferred",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// Which record an update is for: a help request's (and the session it led to), or a session
/// created without a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RecordKey {
    Request(RequestId),
    Session(SessionId),
}

/// A consultation as the administration's record keeps it. Written when it starts and again
/// when its outcome is known; the latest write wins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsultationRecord {
    pub key: RecordKey,
    pub form: Form,
    pub mode: Mode,
    pub subject: String,
    pub topic: String,
    /// The teacher or support staff member (the host of a session).
    pub staff: Option<UserId>,
    /// The students who took part (or asked).
    pub students: Vec<UserId>,
    pub session: Option<SessionId>,
    pub thread: Option<ThreadId>,
    pub requested_at_ms: Option<i64>,
    pub started_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    /// Seconds from the request to the start of the session.
    pub wait_secs: Option<i64>,
    pub outcome: Outcome,
    /// With support staff: admins see only that it took place.
    pub confidential: bool,
}

/// Something the hub wants done.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Send a message.
    Send {
        to: Recipients,
        msg: ServerMessage,
        re: Option<Rid>,
    },
    /// Create a thread and answer with [`Input::ThreadReady`].
    CreateThread {
        purpose: ThreadPurpose,
        spec: ThreadSpec,
    },
    /// Store a message in a live session's thread, as its author, and push it to the thread's
    /// members (a poll's result).
    Post {
        thread: ThreadId,
        message: OpeningMessage,
    },
    /// Write (insert or replace) a consultation record.
    Record(ConsultationRecord),
    /// Work for the SFU.
    Media(MediaCommand),
}
