//! Who is connected: a directory from connection ids and user ids to outboxes. It holds handles
//! only; every piece of logic lives with the connection task or the service that sends.

use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;
use konsult_protocol::{CloseCode, UserId};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::time::Instant;
use tokio::sync::Notify;

/// One WebSocket connection, unique for the life of the process (the hub's numbering).
pub use konsult_signaling::ConnId;

/// Out-of-band signal to a connection task: close with a code. Kept apart from the outbox so
/// that a full outbox can still be told to close.
#[derive(Debug, Default)]
pub struct CloseSignal {
    /// The close code to send; 0 while open.
    code: AtomicU16,
    notify: Notify,
}

impl CloseSignal {
    /// Asks the connection to close; the first code asked for wins.
    pub fn close(&self, code: CloseCode) {
        if self
            .code
            .compare_exchange(0, code.code(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.notify.notify_one();
        }
    }

    /// The code asked for, if any.
    pub fn requested(&self) -> Option<CloseCode> {
        let code = self.code.load(Ordering::Acquire);
        CloseCode::ALL.into_iter().find(|c| c.code() == code)
    }

    /// Resolves once a close is asked for.
    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.code.load(Ordering::Acquire) != 0 {
                return;
            }
            notified.await;
        }
    }
}

/// A connection's bounded queue of frames to write. Its memory is taken as frames arrive, not
/// when the connection opens: most connections are idle most of the time, and a channel with
/// preallocated slots cost about 1.5 KiB for each of them.
#[derive(Debug)]
struct Queue {
    frames: std::sync::Mutex<QueueState>,
    /// Wakes the connection task when a frame arrives.
    ready: Notify,
    capacity: usize,
}

#[derive(Debug, Default)]
struct QueueState {
    frames: std::collections::VecDeque<Utf8Bytes>,
    /// No frame is taken any more (the connection is ending).
    closed: bool,
}

/// Frames kept allocated in an emptied queue; a burst's larger buffer is given back.
const QUEUE_KEPT: usize = 16;

impl Queue {
    fn state(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // A panic while holding the lock leaves a consistent queue: keep using it.
        self.frames
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The sending side of a connection's bounded outbox.
#[derive(Clone, Debug)]
pub struct Outbox {
    queue: Arc<Queue>,
    signal: Arc<CloseSignal>,
}

/// The connection task's side of its outbox.
#[derive(Debug)]
pub struct OutboxReceiver {
    queue: Arc<Queue>,
}

impl OutboxReceiver {
    /// The next frame, waiting for one; `None` once closed and drained.
    pub async fn recv(&mut self) -> Option<Utf8Bytes> {
        loop {
            let ready = self.queue.ready.notified();
            if let Some(frame) = self.try_recv() {
                return Some(frame);
            }
            if self.queue.state().closed {
                return None;
            }
            ready.await;
        }
    }

    /// The next frame if one is queued.
    pub fn try_recv(&self) -> Option<Utf8Bytes> {
        let mut state = self.queue.state();
        let frame = state.frames.pop_front();
        if state.frames.is_empty() && state.frames.capacity() > QUEUE_KEPT {
            state.frames.shrink_to(QUEUE_KEPT);
        }
        frame
    }

    /// Takes no more frames; those queued can still be received.
    pub fn close(&mut self) {
        self.queue.state().closed = true;
        self.queue.ready.notify_one();
    }
}

impl Drop for OutboxReceiver {
    fn drop(&mut self) {
        let mut state = self.queue.state();
        state.closed = true;
        state.frames = std::collections::VecDeque::new();
    }
}

/// Why a frame was not queued.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The outbox was full: the connection is being closed as a slow consumer.
    #[error("outbox full; connection closed as a slow consumer")]
    Full,
    /// The connection is gone.
    #[error("connection closed")]
    Closed,
}

impl Outbox {
    /// A new outbox of `capacity` frames and its receiving side.
    pub fn new(capacity: usize) -> (Outbox, OutboxReceiver, Arc<CloseSignal>) {
        let queue = Arc::new(Queue {
            frames: std::sync::Mutex::new(QueueState::default()),
            ready: Notify::new(),
            capacity,
        });
        let signal = Arc::new(CloseSignal::default());
        (
            Outbox {
                queue: queue.clone(),
                signal: signal.clone(),
            },
            OutboxReceiver { queue },
            signal,
        )
    }

    /// Queues a frame without waiting. A full outbox closes the connection: a client that does
    /// not read must not hold memory or slow the sender.
    pub fn push(&self, frame: Utf8Bytes) -> Result<(), PushError> {
        let mut state = self.queue.state();
        if state.closed {
            return Err(PushError::Closed);
        }
        if state.frames.len() >= self.queue.capacity {
            drop(state);
            self.signal.close(CloseCode::SlowConsumer);
            return Err(PushError::Full);
        }
        state.frames.push_back(frame);
        drop(state);
        self.queue.ready.notify_one();
        Ok(())
    }

    /// Asks the connection to close.
    pub fn close(&self, code: CloseCode) {
        self.signal.close(code);
    }
}

/// A registered connection.
#[derive(Clone, Debug)]
pub struct ConnHandle {
    pub id: ConnId,
    pub user: UserId,
    pub outbox: Outbox,
}

/// A connection that ended recently, kept so that its client can resume: the frames it was
/// sent but never wrote, and those sent to its user since.
#[derive(Debug)]
struct Parked {
    /// The `resume` token its `welcome` carried.
    token: String,
    /// The token its client resumed with, honoured too (see [`Park::resumed_from`]).
    resumed_from: Option<String>,
    frames: Vec<Utf8Bytes>,
    /// Frames kept at most: what a new outbox can take after the `welcome`.
    limit: usize,
    /// More frames arrived than are kept: resuming is refused and the client resyncs.
    overflowed: bool,
    expires: Instant,
}

impl Parked {
    fn answers(&self, token: &str) -> bool {
        self.token == token || self.resumed_from.as_deref() == Some(token)
    }
}

/// A connection that ended, to be kept for a resume.
#[derive(Debug)]
pub struct Park {
    /// The `resume` token its `welcome` carried.
    pub token: String,
    /// The token its client resumed with, if it resumed: a connection that ends right after
    /// its `welcome` (a bridge cut in a failover, a phone changing networks) may never have
    /// delivered the new token, and its client comes back with the one it has.
    pub resumed_from: Option<String>,
    /// The frames it never wrote.
    pub frames: Vec<Utf8Bytes>,
    pub expires: Instant,
}

/// A user's live connections and parked ones.
#[derive(Debug, Default)]
struct UserEntry {
    conns: Vec<ConnId>,
    parked: Vec<Parked>,
}

/// How a connection registers.
#[derive(Debug)]
pub struct Registration<'a> {
    pub handle: ConnHandle,
    pub max_per_user: usize,
    /// The `hello.resume` token, if the client asked to resume.
    pub resume: Option<&'a str>,
    /// The student behind the connection, as their anonymous identities' owner digest
    /// (`seal.rs`): a student's own connections and their identity's share one
    /// `max_per_user`, so that asking anonymously gives no one more connections than any
    /// student. `None` for staff.
    pub owner: Option<String>,
}

/// Why a connection was not registered.
#[derive(Debug, PartialEq, Eq)]
pub enum RegisterError {
    /// The user holds the maximum number of connections.
    TooMany,
}

/// Every authenticated connection, by id and by user.
#[derive(Debug, Default)]
pub struct Directory {
    next_id: AtomicU64,
    conns: DashMap<ConnId, ConnHandle>,
    by_user: DashMap<UserId, UserEntry>,
    /// The connections of each student, their own and their anonymous identity's, by owner
    /// digest. Kept in memory only: nothing stored pairs a student with their identity.
    by_owner: DashMap<String, Vec<ConnId>>,
    /// The owner digest of each connection that has one.
    owner_of: DashMap<ConnId, String>,
}

impl Directory {
    /// A fresh connection id.
    pub fn next_id(&self) -> ConnId {
        ConnId(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// Registers a connection. `greet(resumed)` makes the first frame (the `welcome`); it is
    /// queued, then the frames a resumed connection missed, before any other frame can reach
    /// the new outbox. Returns whether the connection resumed.
    pub fn register(
        &self,
        registration: Registration<'_>,
        now: Instant,
        greet: impl FnOnce(bool) -> Utf8Bytes,
    ) -> Result<bool, RegisterError> {
        let Registration {
            handle,
            max_per_user,
            resume,
            owner,
        } = registration;
        // Holding the user's entry keeps `send_to_user` out until the replay is queued. A
        // user's entry is always taken before an owner's, so two registrations never wait on
        // each other in a circle.
        let mut entry = self.by_user.entry(handle.user).or_default();
        if entry.conns.len() >= max_per_user {
            return Err(RegisterError::TooMany);
        }
        if let Some(owner) = owner {
            let mut held = self.by_owner.entry(owner.clone()).or_default();
            if held.len() >= max_per_user {
                return Err(RegisterError::TooMany);
            }
            held.push(handle.id);
            self.owner_of.insert(handle.id, owner);
        }
        entry.parked.retain(|p| p.expires > now);
        let replay = resume.and_then(|token| {
            let i = entry.parked.iter().position(|p| p.answers(token))?;
            let parked = entry.parked.swap_remove(i);
            (!parked.overflowed).then_some(parked.frames)
        });
        let resumed = replay.is_some();
        // The outbox is new and holds at least the replay limit: these pushes fit.
        let _queued = handle.outbox.push(greet(resumed));
        for frame in replay.unwrap_or_default() {
            let _queued = handle.outbox.push(frame);
        }
        entry.conns.push(handle.id);
        self.conns.insert(handle.id, handle);
        Ok(resumed)
    }

    /// Whether a connection of `user` ended recently with `token` and waits for its client to
    /// resume.
    pub fn is_parked(&self, user: UserId, token: &str) -> bool {
        self.by_user
            .get(&user)
            .is_some_and(|e| e.parked.iter().any(|p| p.answers(token)))
    }

    /// Removes a connection. With a [`Park`], it is parked until `expires` with the frames it
    /// never wrote, collecting what its user is sent meanwhile, up to `keep` frames.
    pub fn unregister(&self, id: ConnId, user: UserId, park: Option<Park>, keep: usize) {
        self.conns.remove(&id);
        if let Some((_, owner)) = self.owner_of.remove(&id) {
            let empty = self.by_owner.get_mut(&owner).is_some_and(|mut held| {
                held.retain(|c| *c != id);
                held.is_empty()
            });
            if empty {
                self.by_owner.remove_if(&owner, |_, held| held.is_empty());
            }
        }
        let mut entry = self.by_user.entry(user).or_default();
        entry.conns.retain(|c| *c != id);
        if let Some(Park {
            token,
            resumed_from,
            frames,
            expires,
        }) = park
        {
            let overflowed = frames.len() > keep;
            entry.parked.push(Parked {
                token,
                resumed_from,
                frames,
                limit: keep,
                overflowed,
                expires,
            });
        }
        let keep_entry = !entry.conns.is_empty() || !entry.parked.is_empty();
        drop(entry);
        if !keep_entry {
            self.by_user
                .remove_if(&user, |_, e| e.conns.is_empty() && e.parked.is_empty());
        }
    }

    /// Drops parked connections whose grace period is over.
    pub fn sweep(&self, now: Instant) {
        self.by_user.retain(|_, e| {
            e.parked.retain(|p| p.expires > now);
            !e.conns.is_empty() || !e.parked.is_empty()
        });
    }

    /// A connection's handle.
    pub fn conn(&self, id: ConnId) -> Option<ConnHandle> {
        self.conns.get(&id).map(|h| h.clone())
    }

    /// The user's connections.
    pub fn user_conns(&self, user: UserId) -> Vec<ConnId> {
        self.by_user
            .get(&user)
            .map(|e| e.conns.clone())
            .unwrap_or_default()
    }

    /// Whether the user has any connection.
    pub fn is_online(&self, user: UserId) -> bool {
        self.by_user.get(&user).is_some_and(|e| !e.conns.is_empty())
    }

    /// Queues a frame for one connection.
    pub fn send_to_conn(&self, id: ConnId, frame: &Utf8Bytes) -> bool {
        match self.conns.get(&id) {
            Some(h) => h.outbox.push(frame.clone()).is_ok(),
            None => false,
        }
    }

    /// Queues a frame for every connection of a user, and keeps it for their parked ones;
    /// returns how many live connections took it.
    pub fn send_to_user(&self, user: UserId, frame: &Utf8Bytes) -> usize {
        // Lock order everywhere: `by_user` before `conns`.
        let Some(mut entry) = self.by_user.get_mut(&user) else {
            return 0;
        };
        for parked in entry.parked.iter_mut().filter(|p| !p.overflowed) {
            if parked.frames.len() >= parked.limit {
                parked.overflowed = true;
                parked.frames = Vec::new();
            } else {
                parked.frames.push(frame.clone());
            }
        }
        entry
            .conns
            .iter()
            .filter(|id| self.send_to_conn(**id, frame))
            .count()
    }

    /// Asks every connection of a user to close with `code`.
    pub fn close_user(&self, user: UserId, code: CloseCode) {
        let Some(entry) = self.by_user.get(&user) else {
            return;
        };
        for id in &entry.conns {
            if let Some(h) = self.conns.get(id) {
                h.outbox.close(code);
            }
        }
    }

    /// Connections registered now.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether nobody is connected.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Every connection's handle, for shutdown.
    pub fn all(&self) -> Vec<ConnHandle> {
        self.conns.iter().map(|e| e.value().clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn the_outbox_is_bounded_wakes_its_reader_and_drains_on_close() {
        let (outbox, mut rx, signal) = Outbox::new(3);
        for n in 0..3 {
            assert_eq!(outbox.push(Utf8Bytes::from(format!("f{n}"))), Ok(()));
        }
        // A reader that fell behind is closed as a slow consumer.
        assert_eq!(outbox.push("f3".into()), Err(PushError::Full));
        assert_eq!(signal.requested(), Some(CloseCode::SlowConsumer));
        assert_eq!(rx.try_recv().as_deref(), Some("f0"));
        assert_eq!(rx.recv().await.as_deref(), Some("f1"));

        // A waiting reader wakes when a frame arrives from another task.
        assert_eq!(rx.recv().await.as_deref(), Some("f2"));
        let sender = outbox.clone();
        let later = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            sender.push("late".into())
        });
        let frame = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        assert_eq!(frame.expect("woken").as_deref(), Some("late"));
        assert_eq!(later.await.expect("sender"), Ok(()));

        // Closed: what is queued is still read, then nothing; new frames are refused.
        outbox.push("last".into()).expect("queued");
        rx.close();
        assert_eq!(outbox.push("after".into()), Err(PushError::Closed));
        assert_eq!(rx.recv().await.as_deref(), Some("last"));
        assert_eq!(rx.recv().await, None);
        drop(rx);
        assert_eq!(outbox.push("gone".into()), Err(PushError::Closed));
    }

    /// A client resumed with token `a`, was welcomed with `b`, and its connection ended before
    /// the `welcome` reached it (a bridge cut in a failover): it comes back with `a`, and
    /// resumes with what it missed.
    #[test]
    fn a_client_that_never_read_its_new_token_resumes_with_the_one_it_has() {
        let directory = Directory::default();
        let now = Instant::now();
        let user = UserId(3);
        let register = |resume: Option<&str>| {
            let (outbox, rx, _signal) = Outbox::new(16);
            let id = directory.next_id();
            let registration = Registration {
                handle: ConnHandle { id, user, outbox },
                max_per_user: 5,
                resume,
                owner: None,
            };
            let resumed = directory
                .register(registration, now, |r| {
                    Utf8Bytes::from(format!("welcome {r}"))
                })
                .expect("room");
            (id, resumed, rx)
        };
        let (first, resumed, _rx) = register(None);
        assert!(!resumed);
        let park = |token: &str, resumed_from: Option<&str>| Park {
            token: token.into(),
            resumed_from: resumed_from.map(Into::into),
            frames: vec![],
            expires: now + Duration::from_secs(60),
        };
        directory.unregister(first, user, Some(park("a", None)), 8);
        let (second, resumed, _rx) = register(Some("a"));
        assert!(resumed);
        directory.unregister(second, user, Some(park("b", Some("a"))), 8);
        directory.send_to_user(user, &Utf8Bytes::from("missed"));
        assert!(directory.is_parked(user, "a") && directory.is_parked(user, "b"));
        let (_third, resumed, rx) = register(Some("a"));
        assert!(resumed);
        assert_eq!(rx.try_recv().as_deref(), Some("welcome true"));
        assert_eq!(rx.try_recv().as_deref(), Some("missed"));
        // Taken once, under either token.
        assert!(!directory.is_parked(user, "b"));
        let (_fourth, resumed, _rx) = register(Some("b"));
        assert!(!resumed);
    }

    #[test]
    fn an_emptied_outbox_gives_back_a_bursts_memory() {
        let (outbox, rx, _signal) = Outbox::new(512);
        for _ in 0..500 {
            outbox.push("x".into()).expect("room");
        }
        while rx.try_recv().is_some() {}
        assert!(outbox.queue.state().frames.capacity() <= QUEUE_KEPT);
    }
}
