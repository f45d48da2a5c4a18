//! A session's polls as data: each poll's question, options, state and votes, and what a hub
//! snapshot keeps of a session's polls. The rules (who asks, who votes, when counts go out)
//! are in `sessions/polls.rs`.

use konsult_protocol::UserId;
use konsult_protocol::model::PollKind;
use serde::{Deserialize, Serialize};

/// One poll.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Poll {
    pub(crate) id: u32,
    pub(crate) question: String,
    pub(crate) kind: PollKind,
    /// Empty for `yes_no`.
    pub(crate) options: Vec<String>,
    pub(crate) anonymous: bool,
    pub(crate) open: bool,
    pub(crate) by: UserId,
    /// Each voter's choices, ascending.
    pub(crate) votes: Vec<(UserId, Vec<u32>)>,
}

/// A session's polls as a snapshot keeps them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct PollsState {
    pub(crate) polls: Vec<Poll>,
    pub(crate) counts_owed: bool,
    pub(crate) counts_scheduled: bool,
}
