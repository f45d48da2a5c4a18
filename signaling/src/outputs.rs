//! The hub's outbox: what it wants done, in the order it decided, and the ways every part of
//! it addresses a message (a reply, one user, several users).

use crate::io::{ConnId, Output, Recipients};
use crate::refusal::{Asker, Refusal};
use konsult_protocol::{Rid, ServerMessage, UserId};
use std::collections::VecDeque;

/// Outputs waiting to be drained with `Hub::poll_output`.
#[derive(Debug, Default)]
pub(crate) struct Outputs {
    queue: VecDeque<Output>,
}

impl Outputs {
    pub fn push(&mut self, output: Output) {
        self.queue.push_back(output);
    }

    pub fn pop(&mut self) -> Option<Output> {
        self.queue.pop_front()
    }

    /// Sends a message to one connection, answering `re`.
    pub fn reply(&mut self, conn: ConnId, re: Option<&Rid>, msg: ServerMessage) {
        self.push(Output::Send {
            to: Recipients::Conn(conn),
            msg,
            re: re.cloned(),
        });
    }

    /// Answers the asker on the connection they asked on.
    pub fn answer(&mut self, asker: &Asker, msg: ServerMessage) {
        self.reply(asker.conn, asker.re(), msg);
    }

    /// Answers the asker with `ok` when the request carried a `rid`.
    pub fn ok(&mut self, asker: &Asker) {
        if asker.rid.is_some() {
            self.answer(asker, ServerMessage::Ok {});
        }
    }

    /// Answers the asker with `error`.
    pub fn refuse(&mut self, asker: Asker, refusal: Refusal) {
        self.push(Output::Send {
            to: Recipients::Conn(asker.conn),
            msg: ServerMessage::error(refusal.code, refusal.message),
            re: asker.rid,
        });
    }

    pub fn send_user(&mut self, user: UserId, msg: ServerMessage) {
        self.push(Output::Send {
            to: Recipients::User(user),
            msg,
            re: None,
        });
    }

    pub fn send_users(&mut self, users: Vec<UserId>, msg: ServerMessage) {
        if users.is_empty() {
            return;
        }
        self.push(Output::Send {
            to: Recipients::Users(users),
            msg,
            re: None,
        });
    }
}
