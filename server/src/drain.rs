//! Graceful shutdown: one signal every task watches, and a count of the tasks that must finish
//! before the process exits.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Notify, watch};

/// The shutdown signal and the count of tasks still draining.
#[derive(Debug)]
pub struct Drain {
    /// `true` once shutdown began.
    stopping: watch::Sender<bool>,
    /// Tasks holding a `DrainGuard`.
    active: AtomicUsize,
    /// Woken when `active` drops to zero.
    idle: Notify,
}

/// Held by a task that must finish before exit.
#[derive(Debug)]
pub struct DrainGuard(Arc<Drain>);

impl Drop for DrainGuard {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Drain {
    pub fn new() -> Arc<Drain> {
        Arc::new(Drain {
            stopping: watch::channel(false).0,
            active: AtomicUsize::new(0),
            idle: Notify::new(),
        })
    }

    /// Registers a task that must finish before exit.
    pub fn guard(self: &Arc<Self>) -> DrainGuard {
        self.active.fetch_add(1, Ordering::AcqRel);
        DrainGuard(self.clone())
    }

    /// A receiver that changes to `true` when shutdown begins.
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// Whether shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Begins shutdown.
    pub fn begin(&self) {
        self.stopping.send_replace(true);
    }
}

/// Resolves when shutdown has begun (or the drain is gone).
pub async fn stopped(rx: &mut watch::Receiver<bool>) {
    // The borrowed value is dropped here, before any other await: it holds a lock.
    let _begun = rx.wait_for(|s| *s).await.is_ok();
}

impl Drain {
    /// Resolves when every guarded task has finished.
    pub async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.active.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}
