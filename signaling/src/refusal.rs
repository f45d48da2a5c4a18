//! Who asks the hub for something, and the refusal they get back as `error` when the hub says
//! no.

use crate::io::ConnId;
use konsult_protocol::{ErrorCode, Rid, UserId};

/// Who is asking: the user, the connection the request came on, and the `rid` to answer.
#[derive(Clone, Debug)]
pub(crate) struct Asker {
    pub user: UserId,
    pub conn: ConnId,
    pub rid: Option<Rid>,
}

impl Asker {
    /// The `rid` the answer carries as `re`.
    pub fn re(&self) -> Option<&Rid> {
        self.rid.as_ref()
    }
}

/// A refusal, sent back as `error`: one constructor per error code the hub answers with.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    fn new(code: ErrorCode, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }

    /// The request is malformed or makes no sense.
    pub fn bad_request(message: impl Into<String>) -> Refusal {
        Refusal::new(ErrorCode::BadRequest, message)
    }

    /// The asker's role or place does not allow it.
    pub fn forbidden(message: impl Into<String>) -> Refusal {
        Refusal::new(ErrorCode::Forbidden, message)
    }

    /// No such thing, or not one the asker may know of.
    pub fn not_found(message: impl Into<String>) -> Refusal {
        Refusal::new(ErrorCode::NotFound, message)
    }

    /// The state of things does not allow it now.
    pub fn conflict(message: impl Into<String>) -> Refusal {
        Refusal::new(ErrorCode::Conflict, message)
    }

    /// Anonymity asked for where it is not offered: a teacher, or a student's own account.
    pub fn anonymous_support_only(message: impl Into<String>) -> Refusal {
        Refusal::new(ErrorCode::AnonymousSupportOnly, message)
    }

    /// Over a limit.
    pub fn too_large(message: impl Into<String>) -> Refusal {
        Refusal::new(ErrorCode::TooLarge, message)
    }
}

/// What a handler of a client message returns: done (its answer pushed), or refused.
pub(crate) type Handled = Result<(), Refusal>;
