//! Read marks and typing notices. `read` moves a member's read mark forward (never back) and
//! tells the other members with `read_receipt`; `typing` is ephemeral: never stored, forwarded
//! at most once per user and thread every [`TYPING_INTERVAL`], to online members only.

use super::{ChatError, no_thread};
use crate::directory::{ConnId, Directory};
use crate::store::Store;
use crate::store::threads::ReadMark;
use crate::wire;
use dashmap::DashMap;
use konsult_protocol::{ServerMessage, ThreadId, UserId};
use std::time::{Duration, Instant};

/// At most one `typing` per user and thread is forwarded in this interval.
pub const TYPING_INTERVAL: Duration = Duration::from_secs(2);
/// Entries kept in the typing gate before old ones are swept.
const TYPING_ENTRIES: usize = 10_000;

/// Moves `user`'s read mark in `thread` to `seq` (clamped to the newest message). Returns the
/// new mark when it moved forward.
pub async fn mark_read(
    store: &Store,
    user: UserId,
    thread: ThreadId,
    seq: i64,
) -> Result<Option<i64>, ChatError> {
    if seq < 0 {
        return Err(ChatError::BadRequest("seq must be 0 or more".into()));
    }
    match store.mark_read(user, thread, seq).await? {
        ReadMark::NotMember => Err(no_thread(thread)),
        ReadMark::Unchanged => Ok(None),
        ReadMark::Moved(seq) => Ok(Some(seq)),
    }
}

/// Sends `read_receipt` to every connection of the thread's members but the reader's own.
pub async fn announce_read(
    store: &Store,
    directory: &Directory,
    reader: (UserId, ConnId),
    thread: ThreadId,
    seq: i64,
) -> Result<(), ChatError> {
    let members = store.members(thread).await?;
    let msg = ServerMessage::ReadReceipt {
        thread,
        user: reader.0,
        seq,
    };
    let frame = wire::encode_for(&msg, None, members.len() as u64);
    for member in members {
        if member == reader.0 {
            for c in directory.user_conns(member) {
                if c != reader.1 {
                    directory.send_to_conn(c, &frame);
                }
            }
        } else {
            directory.send_to_user(member, &frame);
        }
    }
    Ok(())
}

/// When each user last had a `typing` forwarded in each thread.
#[derive(Debug, Default)]
pub struct TypingGate {
    last: DashMap<(UserId, ThreadId), Instant>,
}

impl TypingGate {
    /// Whether a `typing` from `user` in `thread` may be forwarded now; records it if so.
    pub fn allow(&self, user: UserId, thread: ThreadId, now: Instant) -> bool {
        if self.last.len() > TYPING_ENTRIES {
            self.last
                .retain(|_, at| now.saturating_duration_since(*at) < TYPING_INTERVAL);
        }
        match self.last.entry((user, thread)) {
            dashmap::Entry::Occupied(mut last) => {
                if now.saturating_duration_since(*last.get()) < TYPING_INTERVAL {
                    return false;
                }
                last.insert(now);
                true
            }
            dashmap::Entry::Vacant(slot) => {
                slot.insert(now);
                true
            }
        }
    }
}

/// Sends `typing` to the live connections of the other members (never kept for a resume).
pub fn announce_typing(directory: &Directory, members: &[UserId], user: UserId, thread: ThreadId) {
    let msg = ServerMessage::Typing { thread, user };
    let frame = wire::encode_for(&msg, None, members.len().saturating_sub(1) as u64);
    for member in members.iter().filter(|m| **m != user) {
        for conn in directory.user_conns(*member) {
            directory.send_to_conn(conn, &frame);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_is_forwarded_once_per_interval_per_user_and_thread() {
        let gate = TypingGate::default();
        let start = Instant::now();
        let (alice, bob) = (UserId(1), UserId(2));
        assert!(gate.allow(alice, ThreadId(1), start));
        assert!(!gate.allow(alice, ThreadId(1), start + Duration::from_millis(500)));
        assert!(gate.allow(bob, ThreadId(1), start + Duration::from_millis(500)));
        assert!(gate.allow(alice, ThreadId(2), start + Duration::from_millis(500)));
        assert!(gate.allow(alice, ThreadId(1), start + TYPING_INTERVAL));
    }
}
