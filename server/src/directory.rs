//! Who is connected: a directory from connection ids and user ids to outboxes. It holds handles
//! only; every piece of logic lives with the connection task or the service that sends.

use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;
use konsult_protocol::{CloseCode, UserId};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use tokio::sync::{Notify, mpsc};

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

/// The sending side of a connection's bounded outbox.
#[derive(Clone, Debug)]
pub struct Outbox {
    tx: mpsc::Sender<Utf8Bytes>,
    signal: Arc<CloseSignal>,
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
    pub fn new(capacity: usize) -> (Outbox, mpsc::Receiver<Utf8Bytes>, Arc<CloseSignal>) {
        let (tx, rx) = mpsc::channel(capacity);
        let signal = Arc::new(CloseSignal::default());
        (
            Outbox {
                tx,
                signal: signal.clone(),
            },
            rx,
            signal,
        )
    }

    /// Queues a frame without waiting. A full outbox closes the connection: a client that does
    /// not read must not hold memory or slow the sender.
    pub fn push(&self, frame: Utf8Bytes) -> Result<(), PushError> {
        match self.tx.try_send(frame) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.signal.close(CloseCode::SlowConsumer);
                Err(PushError::Full)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(PushError::Closed),
        }
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

/// Every authenticated connection, by id and by user.
#[derive(Debug, Default)]
pub struct Directory {
    next_id: AtomicU64,
    conns: DashMap<ConnId, ConnHandle>,
    by_user: DashMap<UserId, Vec<ConnId>>,
}

impl Directory {
    /// A fresh connection id.
    pub fn next_id(&self) -> ConnId {
        ConnId(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// Registers a connection unless its user already holds `max_per_user`.
    pub fn register(&self, handle: ConnHandle, max_per_user: usize) -> bool {
        let mut ids = self.by_user.entry(handle.user).or_default();
        if ids.len() >= max_per_user {
            return false;
        }
        ids.push(handle.id);
        self.conns.insert(handle.id, handle);
        true
    }

    /// Removes a connection.
    pub fn unregister(&self, id: ConnId, user: UserId) {
        self.conns.remove(&id);
        self.by_user.remove_if_mut(&user, |_, ids| {
            ids.retain(|c| *c != id);
            ids.is_empty()
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
            .map(|v| v.clone())
            .unwrap_or_default()
    }

    /// Whether the user has any connection.
    pub fn is_online(&self, user: UserId) -> bool {
        self.by_user.contains_key(&user)
    }

    /// Queues a frame for one connection.
    pub fn send_to_conn(&self, id: ConnId, frame: &Utf8Bytes) -> bool {
        match self.conns.get(&id) {
            Some(h) => h.outbox.push(frame.clone()).is_ok(),
            None => false,
        }
    }

    /// Queues a frame for every connection of a user; returns how many took it.
    pub fn send_to_user(&self, user: UserId, frame: &Utf8Bytes) -> usize {
        // Lock order everywhere: `by_user` before `conns`.
        let Some(ids) = self.by_user.get(&user) else {
            return 0;
        };
        ids.iter()
            .filter(|id| self.send_to_conn(**id, frame))
            .count()
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
