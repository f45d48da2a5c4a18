//! Routes each authenticated client message to the part of the server that owns it, after the
//! checks every message gets. Messages whose feature this server does not offer get
//! `unavailable`, never silence.

use crate::app::App;
use crate::ws::ConnCtx;
use konsult_protocol::{ClientMessage, Envelope, ErrorCode, PROTOCOL_VERSION, ServerMessage};
use std::sync::Arc;

/// A connection passed `hello`: greet it.
pub fn connected(app: &Arc<App>, ctx: &ConnCtx) {
    let unix_now = crate::store::now_ms() as u64 / 1000;
    let welcome = ServerMessage::Welcome {
        v: PROTOCOL_VERSION,
        user: ctx.user.info(),
        resume: crate::auth::generate_secret(16),
        resumed: false,
        ice_servers: crate::ice::servers_for(&app.config.media, ctx.user.id, unix_now),
    };
    ctx.send(&welcome, None);
}

/// A connection ended.
pub fn disconnected(_app: &Arc<App>, _ctx: &ConnCtx) {}

/// Handles one decoded message.
pub fn handle(_app: &Arc<App>, ctx: &ConnCtx, envelope: Envelope<ClientMessage>) {
    let re = envelope.rid.as_ref();
    match envelope.msg {
        ClientMessage::Ping {} => ctx.send(&ServerMessage::Pong {}, re),
        ClientMessage::Hello { .. } => {
            ctx.error(re, ErrorCode::Conflict, "hello was already accepted")
        }
        other => ctx.error(
            re,
            ErrorCode::Unavailable,
            format!("`{}` is not available on this server", other.type_name()),
        ),
    }
}
