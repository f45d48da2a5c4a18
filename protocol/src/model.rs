//! Values that appear inside several messages: users, roles, statuses, requests, sessions,
//! threads and chat messages.

use crate::ids::{
    AttachmentId, BookingId, ClientId, MessageId, RequestId, SessionId, ThreadId, UserId,
};
use serde::{Deserialize, Serialize};

/// What a user is in the school; it decides what they may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Asks for help; joins sessions they are invited to.
    Student,
    /// Answers help requests of their subjects; hosts sessions.
    Teacher,
    /// The psychological-pedagogical support service; its consultations are confidential.
    Support,
    /// The school's administration: accounts, records, reports.
    Admin,
}

impl Role {
    /// The wire spelling, also the database value.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Student => "student",
            Role::Teacher => "teacher",
            Role::Support => "support",
            Role::Admin => "admin",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "student" => Some(Role::Student),
            "teacher" => Some(Role::Teacher),
            "support" => Some(Role::Support),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// Whether this role answers help requests and hosts sessions.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Teacher | Role::Support)
    }
}

/// A user as other users see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub id: UserId,
    pub login: String,
    pub name: String,
    pub role: Role,
    /// The student's class (for example `9A`); absent for staff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Subjects a teacher helps with; empty for students.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
    /// A student's anonymous identity for questions to the support service: its name says
    /// only "anonymous", and nothing sent to anyone links it to the student's account.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub anonymous: bool,
}

/// A staff member's availability, as they set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SetStatus {
    Available,
    Busy,
    Away,
}

/// A staff member's availability as others see it: what they set, or `offline` when no device
/// is connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Available,
    Busy,
    Away,
    Offline,
}

impl From<SetStatus> for Status {
    fn from(s: SetStatus) -> Status {
        match s {
            SetStatus::Available => Status::Available,
            SetStatus::Busy => Status::Busy,
            SetStatus::Away => Status::Away,
        }
    }
}

/// The form of a consultation (item 12 of the regulation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Form {
    /// One student, one staff member.
    Individual,
    /// A few students and a host.
    Group,
    /// A whole class; students speak when given the floor.
    Frontal,
}

impl Form {
    pub fn as_str(self) -> &'static str {
        match self {
            Form::Individual => "individual",
            Form::Group => "group",
            Form::Frontal => "frontal",
        }
    }
}

/// Who sees the students' cameras in a session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cameras {
    /// Only the host (and whoever else sees every camera); the default of a frontal session.
    /// A student with the floor is seen by everyone.
    Host,
    /// Everyone sees everyone: always so in a group or individual session, and in a frontal
    /// session when the host shows the class to itself.
    #[default]
    Class,
}

/// Online (live video) or offline (chat, messages, files).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Online,
    Offline,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Online => "online",
            Mode::Offline => "offline",
        }
    }
}

/// A teacher as `list_teachers` shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeacherInfo {
    pub id: UserId,
    pub name: String,
    pub role: Role,
    pub subjects: Vec<String>,
    pub status: Status,
    /// Weekly consultation hours, when the teacher set any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hours: Vec<HoursSlot>,
}

/// A weekly slot of a staff member's consultation hours, in the school's time zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoursSlot {
    /// The subject the slot is for.
    pub subject: String,
    /// 1 for Monday to 7 for Sunday.
    pub weekday: u8,
    /// Start, `HH:MM`.
    pub start: String,
    /// End, `HH:MM`, after the start.
    pub end: String,
    pub mode: Mode,
}

impl HoursSlot {
    /// Minutes from Monday 00:00 to the start and the end, if the slot is well formed.
    pub fn minutes_of_week(&self) -> Option<(u32, u32)> {
        fn minutes(hhmm: &str) -> Option<u32> {
            let (h, m) = hhmm.split_once(':')?;
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            (h < 24 && m < 60 && hhmm.len() == 5).then_some(h * 60 + m)
        }
        if !(1..=7).contains(&self.weekday) {
            return None;
        }
        let day = u32::from(self.weekday - 1) * 24 * 60;
        let (start, end) = (minutes(&self.start)?, minutes(&self.end)?);
        (start < end).then_some((day + start, day + end))
    }
}

/// A slot cut from a staff member's consultation hours, as `slots` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// When it begins: ISO 8601 in the school's local time with its offset, to the minute.
    pub start: String,
    /// When it ends, as `start`.
    pub end: String,
    /// The subject of the hours it is cut from.
    pub subject: String,
    pub mode: Mode,
    /// Students booked into it.
    pub booked: u32,
    /// Students it holds: 1 once an individual booking holds it, the staff member's group
    /// limit otherwise.
    pub capacity: u32,
    /// The form of the bookings it holds; absent while nobody booked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<Form>,
    /// The staff member blocked it: nobody may book it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub blocked: bool,
    /// The asking student's own booking of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mine: Option<BookingId>,
}

/// A student's booking of a slot, as both sides see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingInfo {
    pub id: BookingId,
    pub teacher: UserInfo,
    pub student: UserInfo,
    pub subject: String,
    /// `individual`, or `group` (others may book the same slot).
    pub form: Form,
    pub topic: String,
    /// When the slot begins and ends, as [`Slot::start`].
    pub start: String,
    pub end: String,
    pub status: BookingStatus,
    /// Who cancelled it, when it is cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<UserId>,
    /// The reason the staff member gave for cancelling it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Whether a booking still holds its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    Booked,
    Cancelled,
}

/// What happened to a booking, in `booking_changed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingChange {
    /// A student booked a slot of this staff member's.
    Booked,
    /// The student moved it to another slot (`booking` is the new one).
    Moved,
    /// The student or the staff member cancelled it.
    Cancelled,
}

/// What `calendar_link` does with the user's private calendar feed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalendarAction {
    /// Tell the current address, if any.
    #[default]
    Get,
    /// Make a new address; the old one stops working.
    Renew,
    /// Turn the feed off.
    Revoke,
}

/// A queued help request as its student sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedRequest {
    pub id: RequestId,
    pub subject: String,
    /// 1 for the head of the subject's queue.
    pub position: u32,
    /// Estimated seconds until a teacher takes it, from recent handling times; absent until
    /// there is history to estimate from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_secs: Option<u32>,
}

/// A help request as the teacher offered it sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferedRequest {
    pub id: RequestId,
    pub student: UserInfo,
    pub subject: String,
    pub topic: String,
    pub form: Form,
    pub mode: Mode,
}

/// One request in a teacher's view of a subject queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    pub id: RequestId,
    pub student: UserInfo,
    pub subject: String,
    pub topic: String,
    pub form: Form,
    pub position: u32,
    /// Seconds since the request was made.
    pub waiting_secs: u64,
}

/// A deferred help request, as the student sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeferredRequest {
    pub id: RequestId,
    pub subject: String,
    pub topic: String,
}

/// Why a help request became a thread instead of a live session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeferReason {
    /// The student asked for an offline consultation.
    Offline,
    /// No teacher of the subject (or the named teacher) is online.
    NoTeacher,
    /// Every online teacher of the subject declined.
    AllDeclined,
    /// The request waited longer than the configured limit.
    WaitLimit,
    /// The named teacher is outside their consultation hours.
    OutsideHours,
}

/// How a session carries media.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaPath {
    /// The two members connect directly; the server relays `signal` only.
    P2p,
    /// Every member has one peer connection with the server's SFU.
    Sfu,
}

/// A member's role within one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionRole {
    Host,
    Member,
}

/// A member's media as the session sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaState {
    /// Negotiating, or not yet reported.
    Connecting,
    Connected,
    /// Media failed; the member stays in the session with its chat.
    Failed,
    /// Video dropped on a weak link; audio still flows.
    AudioOnly,
}

/// A kind of track a member publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackKind {
    Audio,
    Video,
    Screen,
}

/// One member in a `session_state` snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub user: UserInfo,
    pub role: SessionRole,
    /// Whether a device of the member is connected and in the session now.
    pub online: bool,
    pub media: MediaState,
    /// Track kinds the host has muted for this member.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub muted: Vec<TrackKind>,
    /// Track kinds the member switched off themselves (`media_state`'s `off`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub off: Vec<TrackKind>,
}

/// The kind of a poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PollKind {
    /// Exactly one option.
    Single,
    /// One or more options.
    Multiple,
    /// Yes or no: the options are `yes` (index 0) and `no` (index 1), worded by the client.
    YesNo,
}

/// A poll as members see it (`poll`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollInfo {
    /// The poll's number within its session.
    pub id: u32,
    pub question: String,
    pub kind: PollKind,
    /// The options' texts; empty for `yes_no`.
    #[serde(default)]
    pub options: Vec<String>,
    /// Whether nobody, not even the host, learns who voted for what.
    pub anonymous: bool,
    pub open: bool,
    /// Who asked it: the host or a co-host.
    pub by: UserId,
}

/// One member's vote in a named poll, as the host and co-hosts see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollVote {
    pub user: UserId,
    /// Indexes of the options chosen, ascending.
    pub choices: Vec<u32>,
}

/// A session as `session_started` and `session_invite` describe it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: SessionId,
    pub form: Form,
    pub media: MediaPath,
    pub subject: String,
    pub title: String,
    pub host: UserId,
    pub members: Vec<UserInfo>,
    /// The session's chat thread: the fallback when media fails.
    pub thread: ThreadId,
    /// The class of a frontal session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The host ended it.
    Ended,
    /// The host did not return within the grace period.
    HostLeft,
    /// Every member left an individual session.
    Empty,
    /// The host removed this member (sent to that member only).
    Removed,
    /// The server is shutting down.
    Shutdown,
    /// A booked slot ended and the teacher and a student never met in it: its thread, which
    /// holds the booking's topic, stays for the question to be answered there.
    Missed,
}

/// The kind of a chat thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThreadKind {
    /// A student and one staff member.
    Personal,
    /// A group session's, or a chosen set of people.
    Group,
    /// A class and its teacher.
    Class,
}

impl ThreadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ThreadKind::Personal => "personal",
            ThreadKind::Group => "group",
            ThreadKind::Class => "class",
        }
    }

    pub fn parse(s: &str) -> Option<ThreadKind> {
        match s {
            "personal" => Some(ThreadKind::Personal),
            "group" => Some(ThreadKind::Group),
            "class" => Some(ThreadKind::Class),
            _ => None,
        }
    }
}

/// A thread in a user's `threads` list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadSummary {
    pub id: ThreadId,
    pub kind: ThreadKind,
    pub title: String,
    /// The seq of the newest message; 0 for an empty thread.
    pub last_seq: i64,
    /// The newest seq this user has read.
    pub read_seq: i64,
    /// Messages after `read_seq`.
    pub unread: i64,
    /// The help request this thread answers, when it came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestId>,
    /// Whether a staff member has replied to the help request (only with `request`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered: Option<bool>,
    /// The live session this thread belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionId>,
    /// A student of the thread is an anonymous identity (`user.anonymous`); absent otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub anonymous: bool,
}

/// An attachment as a chat message refers to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentInfo {
    pub id: AttachmentId,
    pub name: String,
    pub content_type: String,
    pub size: u64,
}

/// A stored chat message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: MessageId,
    pub thread: ThreadId,
    /// Gap-free per thread, from 1.
    pub seq: i64,
    pub from: UserId,
    pub text: String,
    /// Milliseconds since the Unix epoch, UTC, when the server stored it.
    pub ts: i64,
    pub client_id: ClientId,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentInfo>,
}

/// A STUN or TURN server for the client's peer connections, in the shape of the browser's
/// `RTCIceServer`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}
