//! How the rest of the server reaches the hub and the SFU: the hub's input channel
//! ([`HubHandle`]) and the place its media work goes ([`MediaSink`]). Kept apart from the hub's
//! task (`hub.rs`) so that connections, HTTP handlers and the SFU's adapter can hold them
//! without importing the task that needs them all.

use konsult_protocol::SchoolId;
use konsult_signaling::{Input, MediaCommand};
use tokio::sync::mpsc;

/// How connections and services reach the hub.
#[derive(Clone, Debug)]
pub struct HubHandle {
    tx: mpsc::Sender<Input>,
}

/// The hub is too far behind to take more work now.
#[derive(Debug, thiserror::Error)]
#[error("the hub is overloaded; retry shortly")]
pub struct HubBusy;

/// The receiving end of a [`HubHandle`], read by the hub's task.
#[derive(Debug)]
pub struct HubInputs(pub(crate) mpsc::Receiver<Input>);

impl HubHandle {
    /// A handle and the receiver the hub task reads, holding at most `capacity` inputs
    /// (`hub.input_queue`).
    pub fn channel(capacity: usize) -> (HubHandle, HubInputs) {
        let (tx, rx) = mpsc::channel(capacity);
        (HubHandle { tx }, HubInputs(rx))
    }

    /// Hands a client's message to the hub without waiting; refused when the hub is behind.
    pub fn try_send(&self, input: Input) -> Result<(), HubBusy> {
        self.tx.try_send(input).map_err(|_| HubBusy)
    }

    /// Hands an input that must not be lost (connects, disconnects, storage answers) to the
    /// hub, waiting for room.
    pub async fn send(&self, input: Input) {
        // The receiver lives as long as the process; an error means shutdown has dropped it,
        // and nothing is left to tell.
        let _gone = self.tx.send(input).await;
    }
}

/// Where the hubs' media work goes: the SFU, shared by every school's hub.
pub trait MediaSink: Send + Sync + std::fmt::Debug {
    /// Takes one command of `school`'s hub without waiting.
    fn command(&self, school: SchoolId, command: MediaCommand);
}
