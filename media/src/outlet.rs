//! Where what the SFU produces goes: frames for members' connections, and members' media
//! states for whoever runs the sessions. The server implements [`Outlet`].

use crate::command::ConnId;
use konsult_protocol::model::MediaState;
use konsult_protocol::{ErrorCode, SessionId, SignalData, UserId};

/// The SFU's way out, called from its one task. The split between plain and `async` methods
/// is the contract: a frame for a member is queued without waiting (a client that stops
/// reading never holds up the SFU; a bounded outbox deals with it), while a media state is
/// awaited until taken (the sessions' state must never miss one).
///
/// A trait rather than a channel the server drains: frames reach a connection's outbox from
/// the SFU's task, with no task or queue between, and each method's signature says whether
/// it may wait. The SFU is generic over it, so nothing is boxed or dispatched at run time.
pub trait Outlet: Send + Sync + 'static {
    /// Queues `signal {session, from: "sfu", data}` for a member's connection.
    fn signal(&self, conn: ConnId, session: SessionId, data: SignalData);

    /// Queues an `error` for a member's connection (a negotiation message refused, or the
    /// SFU too far behind to take it).
    fn error(&self, conn: ConnId, code: ErrorCode, message: String);

    /// Reports a member's media state (connected, audio only, failed), waiting for room.
    fn media_state(
        &self,
        session: SessionId,
        user: UserId,
        state: MediaState,
    ) -> impl Future<Output = ()> + Send;
}
