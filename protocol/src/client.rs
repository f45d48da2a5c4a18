//! Messages a client sends. Every one may carry `rid`; the reply carries it back as `re`.

use crate::ids::{AttachmentId, BookingId, ClientId, RequestId, SessionId, ThreadId, UserId};
use crate::model::{
    CalendarAction, Cameras, Form, MediaState, Mode, PollKind, SetStatus, ThreadKind, TrackKind,
};
use crate::signal::{SignalData, SignalPeer};
use serde::{Deserialize, Serialize};

/// A client → server message. On the wire it is one JSON object tagged by `type`; in Rust the
/// messages are grouped by the part of the server that handles them, so that each handler
/// matches its own group to the end and a message nobody routes does not compile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClientMessage {
    Connection(ToConnection),
    Hub(ToHub),
    Chat(ToChat),
    Booking(ToBooking),
}

/// What the connection itself answers: the first frame, and liveness.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToConnection {
    /// The first frame of every connection: proves who the user is.
    Hello {
        /// The protocol version the client speaks; must be 1.
        v: u32,
        /// An access token from `POST /api/login`, or one signed by the school portal.
        token: String,
        /// The `resume` token of an earlier `welcome`, to get back sessions and queue places.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<String>,
    },
    /// Liveness from the application side; answered with `pong`.
    Ping {},
}

/// What the hub handles: presence, help requests and queues, sessions, moderation, media negotiation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToHub {
    /// Staff: set availability.
    SetStatus { status: SetStatus },
    /// Teachers and support staff, optionally those of one subject.
    ListTeachers {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
    },
    /// Student: ask for help.
    RequestHelp {
        subject: String,
        form: Form,
        mode: Mode,
        topic: String,
        /// A named teacher or support staff member.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        teacher: Option<UserId>,
        /// Asked without the student's name: only of the support service, and only on a
        /// connection signed in with an anonymous identity (`POST /api/anonymous`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        anonymous: bool,
    },
    /// Student: withdraw an open request.
    CancelRequest { request: RequestId },
    /// Staff: accept an offered request; starts an individual session.
    Accept { request: RequestId },
    /// Staff: decline an offered request; it goes to the next teacher.
    Decline { request: RequestId },
    /// Staff: take the head of a subject queue (any of their subjects when absent).
    TakeNext {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
    },
    /// Staff: the queue of one of their subjects (all of them when absent).
    ListQueue {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
    },
    /// Staff: start a group or frontal session.
    CreateSession {
        form: Form,
        subject: String,
        title: String,
        /// Students (or staff) to invite.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        invite: Vec<UserId>,
        /// A whole class to invite.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        class: Option<String>,
        /// Queued requests of the subject to pull into the session.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        from_requests: Vec<RequestId>,
    },
    /// Join a session one is invited to (or rejoin one left).
    JoinSession { session: SessionId },
    /// Leave a session; the host leaving a group or frontal session does not end it.
    LeaveSession { session: SessionId },
    /// Host: end the session for everyone.
    EndSession { session: SessionId },
    /// Member: ask for the floor.
    RaiseHand { session: SessionId },
    /// Member: lower one's own hand; host: lower anyone's.
    LowerHand {
        session: SessionId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<UserId>,
    },
    /// Host: give a member the floor (in a frontal session, the right to publish media).
    GrantFloor { session: SessionId, user: UserId },
    /// Host: take the floor back; a floor holder may give it back themselves.
    RevokeFloor { session: SessionId },
    /// Host: stop forwarding a member's track of one kind.
    Mute {
        session: SessionId,
        user: UserId,
        kind: TrackKind,
    },
    /// Host: lift a mute; the member may publish that kind again.
    Unmute {
        session: SessionId,
        user: UserId,
        kind: TrackKind,
    },
    /// Host: remove a member from the session.
    RemoveMember { session: SessionId, user: UserId },
    /// Host of a frontal session: who sees the students' cameras.
    ShowCameras { session: SessionId, to: Cameras },
    /// WebRTC negotiation: SDP or an ICE candidate for a member (P2P) or for the SFU.
    Signal {
        session: SessionId,
        to: SignalPeer,
        data: SignalData,
    },
    /// Member: report the state of one's own media (peer to peer; the SFU reports its members'
    /// itself) and/or the kinds one has switched off oneself (a microphone or camera turned
    /// off), shown on one's tile to others.
    MediaState {
        session: SessionId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state: Option<MediaState>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        off: Option<Vec<TrackKind>>,
    },
    /// Member: the peer-to-peer path failed; move the session to the SFU.
    MediaFailed { session: SessionId },
    /// Member of a session on the SFU: the members whose video to receive (those whose tiles
    /// are on screen); `null` or absent: everyone's. Audio always comes from everyone.
    MediaView {
        session: SessionId,
        #[serde(default)]
        video: Option<Vec<UserId>>,
    },
    // Co-hosts and polls (group and frontal sessions).
    /// Host: make a present member a co-host (`cohost: true`) or take it back.
    SetCohost {
        session: SessionId,
        user: UserId,
        cohost: bool,
    },
    /// Host or a teacher co-host: ask the session a question.
    CreatePoll {
        session: SessionId,
        question: String,
        kind: PollKind,
        /// 2 to 10 options; none for `yes_no`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        options: Vec<String>,
        #[serde(default)]
        anonymous: bool,
    },
    /// Member: vote in an open poll; a new vote replaces the member's earlier one.
    Vote {
        session: SessionId,
        poll: u32,
        choices: Vec<u32>,
    },
    /// Host or a teacher co-host: close a poll, showing its result to everyone or not.
    ClosePoll {
        session: SessionId,
        poll: u32,
        #[serde(default)]
        publish: bool,
    },
}

/// What the chat handles: threads, messages, receipts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToChat {
    /// Post a chat message; `sent` answers after it is durable.
    Send {
        thread: ThreadId,
        client_id: ClientId,
        text: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<AttachmentId>,
    },
    /// A page of a thread's messages, newest first before `before`, oldest first after `after`.
    History {
        thread: ThreadId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// The user's threads with unread counts.
    Threads {},
    /// Mark a thread read up to `seq`.
    Read { thread: ThreadId, seq: i64 },
    /// Ephemeral: the user is typing in a thread.
    Typing { thread: ThreadId },
    /// Start a personal thread (a student and a staff member), a group thread with chosen
    /// people, or a class thread.
    CreateThread {
        kind: ThreadKind,
        title: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        members: Vec<UserId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        class: Option<String>,
    },
    /// On an anonymous identity's connection: tell the thread's staff who the student is.
    /// `token` is the student's own access token, which proves the identity is theirs.
    RevealIdentity { thread: ThreadId, token: String },
    /// Support staff: close an anonymous thread and refuse its student's anonymous questions
    /// for a day, without learning who the student is.
    BlockAnonymous { thread: ThreadId },
}

/// What the booking of consultation hours handles: slots, bookings, the rules a staff member
/// sets for them, and the private calendar feed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToBooking {
    /// The slots of a staff member's hours from `from` (a date, `YYYY-MM-DD` in the school's
    /// time zone; today when absent) for `days` days (7 when absent, at most the booking
    /// horizon).
    ListSlots {
        teacher: UserId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        days: Option<u32>,
    },
    /// Student: book the slot of `teacher` beginning at `start` (as `slots` gave it).
    BookSlot {
        teacher: UserId,
        start: String,
        form: Form,
        topic: String,
    },
    /// Student: move an own booking to the slot (of the same staff member) beginning at `start`.
    MoveBooking { booking: BookingId, start: String },
    /// The student of a booking, or its staff member (who may give a reason the student is
    /// told), cancels it.
    CancelBooking {
        booking: BookingId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A student's open bookings; a staff member's bookings of `day` (`YYYY-MM-DD`; today when
    /// absent).
    Bookings {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        day: Option<String>,
    },
    /// Staff: the length of their slots and how many students a group slot holds; a field
    /// left out stays as it is. Answered with `booking_rules`.
    SetBookingRules {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        slot_minutes: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_limit: Option<u32>,
    },
    /// Staff: block (or free again) one of their slots.
    BlockSlot { start: String, blocked: bool },
    /// The address of the user's private calendar feed: told, renewed or turned off.
    CalendarLink {
        #[serde(default)]
        action: CalendarAction,
    },
}

impl ClientMessage {
    /// Every `type` a client may send, in documentation order.
    pub const TYPES: &'static [&'static str] = &[
        "hello",
        "ping",
        "set_status",
        "list_teachers",
        "request_help",
        "cancel_request",
        "accept",
        "decline",
        "take_next",
        "list_queue",
        "create_session",
        "join_session",
        "leave_session",
        "end_session",
        "raise_hand",
        "lower_hand",
        "grant_floor",
        "revoke_floor",
        "mute",
        "unmute",
        "remove_member",
        "signal",
        "media_state",
        "media_failed",
        "media_view",
        "set_cohost",
        "create_poll",
        "vote",
        "close_poll",
        "show_cameras",
        "send",
        "history",
        "threads",
        "read",
        "typing",
        "create_thread",
        "reveal_identity",
        "block_anonymous",
        "list_slots",
        "book_slot",
        "move_booking",
        "cancel_booking",
        "bookings",
        "set_booking_rules",
        "block_slot",
        "calendar_link",
    ];

    /// Whether `ty` names a client message.
    pub fn is_known_type(ty: &str) -> bool {
        Self::TYPES.contains(&ty)
    }

    /// The `type` tag of this message.
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientMessage::Connection(msg) => msg.type_name(),
            ClientMessage::Hub(msg) => msg.type_name(),
            ClientMessage::Chat(msg) => msg.type_name(),
            ClientMessage::Booking(msg) => msg.type_name(),
        }
    }
}

impl ToConnection {
    /// The `type`s of this group.
    pub const TYPES: &'static [&'static str] = &["hello", "ping"];

    /// The `type` tag of this message.
    pub fn type_name(&self) -> &'static str {
        match self {
            ToConnection::Hello { .. } => "hello",
            ToConnection::Ping {} => "ping",
        }
    }
}

impl From<ToConnection> for ClientMessage {
    fn from(msg: ToConnection) -> ClientMessage {
        ClientMessage::Connection(msg)
    }
}

impl ToHub {
    /// The `type`s of this group.
    pub const TYPES: &'static [&'static str] = &[
        "set_status",
        "list_teachers",
        "request_help",
        "cancel_request",
        "accept",
        "decline",
        "take_next",
        "list_queue",
        "create_session",
        "join_session",
        "leave_session",
        "end_session",
        "raise_hand",
        "lower_hand",
        "grant_floor",
        "revoke_floor",
        "mute",
        "unmute",
        "remove_member",
        "signal",
        "media_state",
        "media_failed",
        "media_view",
        "set_cohost",
        "create_poll",
        "vote",
        "close_poll",
        "show_cameras",
    ];

    /// The `type` tag of this message.
    pub fn type_name(&self) -> &'static str {
        match self {
            ToHub::SetStatus { .. } => "set_status",
            ToHub::ListTeachers { .. } => "list_teachers",
            ToHub::RequestHelp { .. } => "request_help",
            ToHub::CancelRequest { .. } => "cancel_request",
            ToHub::Accept { .. } => "accept",
            ToHub::Decline { .. } => "decline",
            ToHub::TakeNext { .. } => "take_next",
            ToHub::ListQueue { .. } => "list_queue",
            ToHub::CreateSession { .. } => "create_session",
            ToHub::JoinSession { .. } => "join_session",
            ToHub::LeaveSession { .. } => "leave_session",
            ToHub::EndSession { .. } => "end_session",
            ToHub::RaiseHand { .. } => "raise_hand",
            ToHub::LowerHand { .. } => "lower_hand",
            ToHub::GrantFloor { .. } => "grant_floor",
            ToHub::RevokeFloor { .. } => "revoke_floor",
            ToHub::Mute { .. } => "mute",
            ToHub::Unmute { .. } => "unmute",
            ToHub::RemoveMember { .. } => "remove_member",
            ToHub::Signal { .. } => "signal",
            ToHub::MediaState { .. } => "media_state",
            ToHub::MediaFailed { .. } => "media_failed",
            ToHub::MediaView { .. } => "media_view",
            ToHub::SetCohost { .. } => "set_cohost",
            ToHub::CreatePoll { .. } => "create_poll",
            ToHub::Vote { .. } => "vote",
            ToHub::ClosePoll { .. } => "close_poll",
            ToHub::ShowCameras { .. } => "show_cameras",
        }
    }
}

impl From<ToHub> for ClientMessage {
    fn from(msg: ToHub) -> ClientMessage {
        ClientMessage::Hub(msg)
    }
}

impl ToChat {
    /// The `type`s of this group.
    pub const TYPES: &'static [&'static str] = &[
        "send",
        "history",
        "threads",
        "read",
        "typing",
        "create_thread",
        "reveal_identity",
        "block_anonymous",
    ];

    /// The `type` tag of this message.
    pub fn type_name(&self) -> &'static str {
        match self {
            ToChat::Send { .. } => "send",
            ToChat::History { .. } => "history",
            ToChat::Threads {} => "threads",
            ToChat::Read { .. } => "read",
            ToChat::Typing { .. } => "typing",
            ToChat::CreateThread { .. } => "create_thread",
            ToChat::RevealIdentity { .. } => "reveal_identity",
            ToChat::BlockAnonymous { .. } => "block_anonymous",
        }
    }
}

impl From<ToChat> for ClientMessage {
    fn from(msg: ToChat) -> ClientMessage {
        ClientMessage::Chat(msg)
    }
}

impl ToBooking {
    /// The `type`s of this group.
    pub const TYPES: &'static [&'static str] = &[
        "list_slots",
        "book_slot",
        "move_booking",
        "cancel_booking",
        "bookings",
        "set_booking_rules",
        "block_slot",
        "calendar_link",
    ];

    /// The `type` tag of this message.
    pub fn type_name(&self) -> &'static str {
        match self {
            ToBooking::ListSlots { .. } => "list_slots",
            ToBooking::BookSlot { .. } => "book_slot",
            ToBooking::MoveBooking { .. } => "move_booking",
            ToBooking::CancelBooking { .. } => "cancel_booking",
            ToBooking::Bookings { .. } => "bookings",
            ToBooking::SetBookingRules { .. } => "set_booking_rules",
            ToBooking::BlockSlot { .. } => "block_slot",
            ToBooking::CalendarLink { .. } => "calendar_link",
        }
    }
}

impl From<ToBooking> for ClientMessage {
    fn from(msg: ToBooking) -> ClientMessage {
        ClientMessage::Booking(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_belongs_to_exactly_one_group() {
        let mut grouped: Vec<&str> = [
            ToConnection::TYPES,
            ToHub::TYPES,
            ToChat::TYPES,
            ToBooking::TYPES,
        ]
        .concat();
        grouped.sort_unstable();
        let before = grouped.len();
        grouped.dedup();
        assert_eq!(grouped.len(), before, "a type listed in two groups");
        let mut all = ClientMessage::TYPES.to_vec();
        all.sort_unstable();
        assert_eq!(grouped, all);
    }
}
