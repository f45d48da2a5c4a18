//! What a message handler knows about the connection it serves: who is connected, on which
//! connection, and the outbox its answers go to. Shared by the connection's task, the routing
//! of its messages and the chat, none of which it imports.

use crate::directory::{ConnId, Outbox};
use crate::store::users::User;
use crate::wire;
use konsult_protocol::{ErrorCode, Rid, ServerMessage};
use std::sync::Arc;

/// What a message handler knows about the connection it serves.
#[derive(Debug)]
pub struct ConnCtx {
    pub id: ConnId,
    pub user: Arc<User>,
    pub outbox: Outbox,
}

impl ConnCtx {
    /// Queues a message for this connection.
    pub fn send(&self, msg: &ServerMessage, re: Option<&Rid>) {
        // A failed push means the connection is already closing (its outbox overflowed or its
        // task ended); the close code tells the client, who reconnects and catches up.
        let _closing = self.outbox.push(wire::encode(msg, re));
    }

    /// Queues an error answering `re`.
    pub fn error(&self, re: Option<&Rid>, code: ErrorCode, message: impl Into<String>) {
        self.send(&ServerMessage::error(code, message), re);
    }
}
