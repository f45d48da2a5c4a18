//! Typed identifiers, so that a user id is never passed where a session id is meant.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! numeric_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

numeric_id!(
    /// A school: every account, thread and record belongs to one, and nothing of one school
    /// is visible from another.
    SchoolId
);
numeric_id!(
    /// A user account (student, teacher, support staff or admin).
    UserId
);
numeric_id!(
    /// A help request from a student.
    RequestId
);
numeric_id!(
    /// A live consultation session (individual, group or frontal).
    SessionId
);
numeric_id!(
    /// A durable chat thread.
    ThreadId
);
numeric_id!(
    /// A chat message, unique across threads.
    MessageId
);
numeric_id!(
    /// A student's booking of a slot in a teacher's consultation hours.
    BookingId
);

/// An uploaded attachment: an opaque string chosen by the server.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AttachmentId(pub String);

impl fmt::Display for AttachmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A sender-chosen id that makes `send` idempotent: the same `client_id` from the same sender
/// stores one message.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientId(pub String);
