//! Error codes carried by `error` messages, and WebSocket close codes.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a request failed. The set is closed: clients can match on every value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not valid JSON, not an object, or a field is missing or mistyped.
    BadRequest,
    /// The `type` is not a message this server knows.
    UnknownType,
    /// No valid `hello` yet, or the token is forged, expired or revoked.
    Unauthorized,
    /// The sender's role or membership does not allow this message.
    Forbidden,
    /// The request, session, thread, user or attachment does not exist (or is not visible).
    NotFound,
    /// The request contradicts current state (a second open request, a finished session...).
    Conflict,
    /// The frame or a field is over its limit.
    TooLarge,
    /// Too many messages, logins or connections; retry later.
    RateLimited,
    /// `hello.v` is a version this server does not speak.
    UnsupportedVersion,
    /// The feature is known but not available on this server now.
    Unavailable,
    /// The server failed; the request may be retried.
    Internal,
    /// A password an admin set or imported is under the floor: shorter than 8 characters or
    /// the same as the login.
    WeakPassword,
    /// An anonymous request to anyone but the support service, or one from a connection that is
    /// not an anonymous identity's.
    AnonymousSupportOnly,
    /// The support service blocked this student's anonymous questions for a while.
    AnonymousBlocked,
    /// The slot is taken (an individual booking holds it, or its group is full), blocked by
    /// the staff member, or already booked by this student.
    SlotTaken,
    /// The student holds as many open bookings as the school allows.
    BookingLimit,
    /// The booking begins too soon to be moved or cancelled by the student, or is over.
    BookingLocked,
}

impl ErrorCode {
    /// Every code, in documentation order.
    pub const ALL: [ErrorCode; 17] = [
        ErrorCode::BadRequest,
        ErrorCode::UnknownType,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::TooLarge,
        ErrorCode::RateLimited,
        ErrorCode::UnsupportedVersion,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
        ErrorCode::WeakPassword,
        ErrorCode::AnonymousSupportOnly,
        ErrorCode::AnonymousBlocked,
        ErrorCode::SlotTaken,
        ErrorCode::BookingLimit,
        ErrorCode::BookingLocked,
    ];

    /// The wire spelling, also used as a metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::WeakPassword => "weak_password",
            ErrorCode::AnonymousSupportOnly => "anonymous_support_only",
            ErrorCode::AnonymousBlocked => "anonymous_blocked",
            ErrorCode::SlotTaken => "slot_taken",
            ErrorCode::BookingLimit => "booking_limit",
            ErrorCode::BookingLocked => "booking_locked",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// WebSocket close codes the server uses. 1000-1011 are RFC 6455's; 4000-4999 are Konsult's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseCode {
    /// 1000: the client asked to close, or the server closed a finished exchange.
    Normal,
    /// 1001: the server is shutting down; reconnect after `server_shutdown.retry_after_ms`.
    GoingAway,
    /// 1008: the connection broke a policy (a frame that is not text or ping/pong).
    PolicyViolation,
    /// 1009: a frame over the configured maximum size.
    MessageTooBig,
    /// 1011: the server hit an internal error on this connection.
    InternalError,
    /// 4000: no valid `hello` within the handshake deadline (10 s by default).
    HelloTimeout,
    /// 4001: the token in `hello` was forged, expired or for a deactivated account.
    Unauthorized,
    /// 4002: `hello.v` is not a version this server speaks.
    UnsupportedVersion,
    /// 4003: no traffic from the client for the idle deadline (45 s by default), pings unanswered.
    IdleTimeout,
    /// 4008: the client went on flooding after `rate_limited` errors.
    RateLimited,
    /// 4009: the client does not read: its outbox filled or a write stalled past the deadline.
    SlowConsumer,
    /// 4010: the user already holds the maximum number of connections.
    TooManyConnections,
    /// 4011: an admin deactivated the account.
    AccountDisabled,
}

impl CloseCode {
    /// Every close code, in documentation order.
    pub const ALL: [CloseCode; 13] = [
        CloseCode::Normal,
        CloseCode::GoingAway,
        CloseCode::PolicyViolation,
        CloseCode::MessageTooBig,
        CloseCode::InternalError,
        CloseCode::HelloTimeout,
        CloseCode::Unauthorized,
        CloseCode::UnsupportedVersion,
        CloseCode::IdleTimeout,
        CloseCode::RateLimited,
        CloseCode::SlowConsumer,
        CloseCode::TooManyConnections,
        CloseCode::AccountDisabled,
    ];

    /// The numeric code sent in the close frame.
    pub fn code(self) -> u16 {
        match self {
            CloseCode::Normal => 1000,
            CloseCode::GoingAway => 1001,
            CloseCode::PolicyViolation => 1008,
            CloseCode::MessageTooBig => 1009,
            CloseCode::InternalError => 1011,
            CloseCode::HelloTimeout => 4000,
            CloseCode::Unauthorized => 4001,
            CloseCode::UnsupportedVersion => 4002,
            CloseCode::IdleTimeout => 4003,
            CloseCode::RateLimited => 4008,
            CloseCode::SlowConsumer => 4009,
            CloseCode::TooManyConnections => 4010,
            CloseCode::AccountDisabled => 4011,
        }
    }

    /// The short reason sent in the close frame (ASCII, well under the 123-byte limit).
    pub fn reason(self) -> &'static str {
        match self {
            CloseCode::Normal => "normal",
            CloseCode::GoingAway => "server shutting down",
            CloseCode::PolicyViolation => "policy violation",
            CloseCode::MessageTooBig => "frame too large",
            CloseCode::InternalError => "internal error",
            CloseCode::HelloTimeout => "hello timeout",
            CloseCode::Unauthorized => "unauthorized",
            CloseCode::UnsupportedVersion => "unsupported version",
            CloseCode::IdleTimeout => "idle timeout",
            CloseCode::RateLimited => "rate limited",
            CloseCode::SlowConsumer => "slow consumer",
            CloseCode::TooManyConnections => "too many connections",
            CloseCode::AccountDisabled => "account disabled",
        }
    }
}
