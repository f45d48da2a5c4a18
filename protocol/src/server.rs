//! Messages the server sends: replies (carrying the request's `rid` as `re`) and pushes.

use crate::codes::ErrorCode;
use crate::ids::{RequestId, SessionId, ThreadId, UserId};
use crate::model::{
    BookingChange, BookingInfo, Cameras, ChatMessage, DeferReason, DeferredRequest, EndReason,
    HoursSlot, IceServer, MediaPath, Member, OfferedRequest, PollInfo, PollVote, QueueEntry,
    QueuedRequest, SessionInfo, Slot, Status, TeacherInfo, ThreadSummary, UserInfo,
};
use crate::signal::{SignalData, SignalPeer};
use serde::{Deserialize, Serialize};

/// A server → client message, tagged by `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The answer to a valid `hello`.
    Welcome {
        v: u32,
        user: UserInfo,
        /// A token to present as `hello.resume` after a reconnect within the grace period.
        resume: String,
        /// Whether this connection took over an earlier one's sessions and queue place.
        resumed: bool,
        /// STUN and TURN servers for peer connections.
        ice_servers: Vec<IceServer>,
    },
    /// A request failed; `re` names it when it carried `rid`.
    Error { code: ErrorCode, message: String },
    /// A state-changing request succeeded and has no richer reply.
    Ok {},
    /// The answer to `ping`.
    Pong {},
    /// A staff member's availability changed.
    Presence { user: UserId, status: Status },
    /// The answer to `list_teachers`.
    Teachers { teachers: Vec<TeacherInfo> },
    /// The answer to `list_queue`, and a push to online staff of a subject when its queue
    /// changes (at most once a second per subject).
    Queue {
        /// The subject of a pushed snapshot; absent in the answer to `list_queue` without one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
        /// The first requests of the queue (at most 100), oldest first.
        requests: Vec<QueueEntry>,
        /// How many requests the queue (or queues) hold in all.
        #[serde(default)]
        total: u32,
    },
    /// The student's request is in its subject's queue.
    RequestQueued { request: QueuedRequest },
    /// The student's place in the queue (or its estimate) changed.
    QueuePosition { request: QueuedRequest },
    /// Staff: a request offered to this staff member; `accept` or `decline` it.
    HelpOffer {
        request: OfferedRequest,
        /// Seconds until the offer passes to the next teacher.
        expires_in: u32,
    },
    /// Student: a staff member is being offered the request now (who is not said); they have
    /// `expires_in` seconds to take it, else it passes to the next.
    RequestOffered { request: RequestId, expires_in: u32 },
    /// Staff: an offer is no longer open (timed out, cancelled, or taken elsewhere).
    OfferWithdrawn { request: RequestId },
    /// The request was cancelled.
    RequestCancelled { request: RequestId },
    /// The request became a thread to be answered offline.
    RequestDeferred {
        request: DeferredRequest,
        thread: ThreadId,
        reason: DeferReason,
        /// When the named teacher is next available, in the school's time zone (ISO 8601).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_available: Option<String>,
    },
    /// A staff member replied to a deferred request's thread.
    RequestAnswered {
        request: RequestId,
        thread: ThreadId,
        by: UserId,
    },
    /// A session began with this user as a member.
    SessionStarted { session: SessionInfo },
    /// This user is invited to a group or frontal session; `join_session` to enter.
    SessionInvite {
        session: SessionInfo,
        from: UserInfo,
    },
    /// A full snapshot of a session after every change; `version` only grows.
    SessionState {
        session: SessionId,
        version: u64,
        media: MediaPath,
        /// The roster. In a session of more than 100 members, members other than the host
        /// get only the host, the floor holder, raised hands and muted members; `total` counts
        /// everyone.
        members: Vec<Member>,
        /// Members in the session (present or briefly disconnected).
        #[serde(default)]
        total: u32,
        /// The member holding the floor, if any.
        #[serde(default)]
        floor: Option<UserId>,
        /// Raised hands, in the order they were raised.
        hands: Vec<UserId>,
        /// Co-hosts: members with the host's moderation rights, but for ending the session
        /// and naming co-hosts.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        cohosts: Vec<UserId>,
        /// Who sees the students' cameras: `host` in a frontal session until the host shows
        /// the class to itself (`show_cameras`), `class` otherwise.
        #[serde(default)]
        cameras: Cameras,
    },
    /// The session ended, or this user was removed from it.
    SessionEnded {
        session: SessionId,
        reason: EndReason,
    },
    // Polls.
    /// A poll was asked in a session this user is in (or is open as they join).
    Poll { session: SessionId, poll: PollInfo },
    /// Host and teacher co-hosts: an open poll's counts, at most twice a second.
    PollCounts {
        session: SessionId,
        poll: u32,
        /// Votes per option, in the options' order.
        counts: Vec<u32>,
        /// Members who voted.
        voters: u32,
        /// Who chose what, for a named poll only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        votes: Option<Vec<PollVote>>,
    },
    /// A poll was closed; its counts reach members only when the host published them (the
    /// host and teacher co-hosts always get them).
    PollClosed {
        session: SessionId,
        poll: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        counts: Option<Vec<u32>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        voters: Option<u32>,
    },
    /// WebRTC negotiation from a member or from the SFU.
    Signal {
        session: SessionId,
        from: SignalPeer,
        data: SignalData,
    },
    /// The sender's message is durable.
    Sent { message: ChatMessage },
    /// A new message in one of the user's threads.
    Message { message: ChatMessage },
    /// The answer to `history`, oldest first.
    History {
        thread: ThreadId,
        messages: Vec<ChatMessage>,
        /// Whether older (for `before`) or newer (for `after`) messages remain.
        has_more: bool,
    },
    /// The answer to `threads`.
    Threads { threads: Vec<ThreadSummary> },
    /// The user became a member of a thread.
    ThreadAdded { thread: ThreadSummary },
    /// A member read a thread up to `seq`.
    ReadReceipt {
        thread: ThreadId,
        user: UserId,
        seq: i64,
    },
    /// A member is typing in a thread.
    Typing { thread: ThreadId, user: UserId },
    /// The server is going down; reconnect after the hint.
    ServerShutdown { retry_after_ms: u32 },
    /// The answer to `list_slots`.
    Slots {
        teacher: UserId,
        /// The staff member's slot length and group limit.
        slot_minutes: u32,
        group_limit: u32,
        /// Every slot of the days asked for, in time order, past ones left out.
        slots: Vec<Slot>,
    },
    /// The answer to `book_slot` and `move_booking`: the booking as it now stands.
    Booked { booking: Box<BookingInfo> },
    /// The answer to `bookings`, in time order.
    Bookings { bookings: Vec<BookingInfo> },
    /// A booking of this user's was made, moved or cancelled (by the other side, or on another
    /// of their devices); the answer to `cancel_booking` too.
    BookingChanged {
        booking: Box<BookingInfo>,
        change: BookingChange,
    },
    /// The answer to `set_booking_rules` and `block_slot`: the staff member's rules, and the
    /// starts of their blocked slots still ahead.
    BookingRules {
        slot_minutes: u32,
        group_limit: u32,
        blocked: Vec<String>,
    },
    /// The answer to `calendar_link`: the path of the user's private iCalendar feed
    /// (`/cal/<secret>.ics`), absent while they have none.
    CalendarLink {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// Staff: their consultation hours began and they are not `available`.
    HoursReminder {
        /// The slot that began.
        slot: HoursSlot,
    },
}

impl ServerMessage {
    /// Every `type` the server sends, in documentation order.
    pub const TYPES: &'static [&'static str] = &[
        "welcome",
        "error",
        "ok",
        "pong",
        "presence",
        "teachers",
        "queue",
        "request_queued",
        "queue_position",
        "help_offer",
        "request_offered",
        "offer_withdrawn",
        "request_cancelled",
        "request_deferred",
        "request_answered",
        "session_started",
        "session_invite",
        "session_state",
        "session_ended",
        "poll",
        "poll_counts",
        "poll_closed",
        "signal",
        "sent",
        "message",
        "history",
        "threads",
        "thread_added",
        "read_receipt",
        "typing",
        "server_shutdown",
        "hours_reminder",
        "slots",
        "booked",
        "bookings",
        "booking_changed",
        "booking_rules",
        "calendar_link",
    ];

    /// The `type` tag of this message, also the metrics label.
    pub fn type_name(&self) -> &'static str {
        match self {
            ServerMessage::Welcome { .. } => "welcome",
            ServerMessage::Error { .. } => "error",
            ServerMessage::Ok {} => "ok",
            ServerMessage::Pong {} => "pong",
            ServerMessage::Presence { .. } => "presence",
            ServerMessage::Teachers { .. } => "teachers",
            ServerMessage::Queue { .. } => "queue",
            ServerMessage::RequestQueued { .. } => "request_queued",
            ServerMessage::QueuePosition { .. } => "queue_position",
            ServerMessage::HelpOffer { .. } => "help_offer",
            ServerMessage::RequestOffered { .. } => "request_offered",
            ServerMessage::OfferWithdrawn { .. } => "offer_withdrawn",
            ServerMessage::RequestCancelled { .. } => "request_cancelled",
            ServerMessage::RequestDeferred { .. } => "request_deferred",
            ServerMessage::RequestAnswered { .. } => "request_answered",
            ServerMessage::SessionStarted { .. } => "session_started",
            ServerMessage::SessionInvite { .. } => "session_invite",
            ServerMessage::SessionState { .. } => "session_state",
            ServerMessage::SessionEnded { .. } => "session_ended",
            ServerMessage::Poll { .. } => "poll",
            ServerMessage::PollCounts { .. } => "poll_counts",
            ServerMessage::PollClosed { .. } => "poll_closed",
            ServerMessage::Signal { .. } => "signal",
            ServerMessage::Sent { .. } => "sent",
            ServerMessage::Message { .. } => "message",
            ServerMessage::History { .. } => "history",
            ServerMessage::Threads { .. } => "threads",
            ServerMessage::ThreadAdded { .. } => "thread_added",
            ServerMessage::ReadReceipt { .. } => "read_receipt",
            ServerMessage::Typing { .. } => "typing",
            ServerMessage::ServerShutdown { .. } => "server_shutdown",
            ServerMessage::HoursReminder { .. } => "hours_reminder",
            ServerMessage::Slots { .. } => "slots",
            ServerMessage::Booked { .. } => "booked",
            ServerMessage::Bookings { .. } => "bookings",
            ServerMessage::BookingChanged { .. } => "booking_changed",
            ServerMessage::BookingRules { .. } => "booking_rules",
            ServerMessage::CalendarLink { .. } => "calendar_link",
        }
    }

    /// An `error` message.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> ServerMessage {
        ServerMessage::Error {
            code,
            message: message.into(),
        }
    }
}
