//! Routes each authenticated client message to the part of the server that owns it: the
//! connection answers `ping`, the chat its messages, the booking its own, the hub the rest.

use crate::app::App;
use crate::conn_ctx::ConnCtx;
use crate::store::users::User;
use axum::extract::ws::Utf8Bytes;
use konsult_protocol::{
    ClientMessage, Envelope, ErrorCode, PROTOCOL_VERSION, ServerMessage, ToConnection,
};
use konsult_signaling::Input;
use std::sync::Arc;

/// The `welcome` of a connection that passed `hello`.
pub fn welcome(app: &App, user: &User, resume: &str, resumed: bool) -> Utf8Bytes {
    let unix_now = crate::store::now_ms() as u64 / 1000;
    let welcome = ServerMessage::Welcome {
        v: PROTOCOL_VERSION,
        user: user.info(),
        resume: resume.to_string(),
        resumed,
        ice_servers: crate::ice::servers_for(&app.config.media, user.id, unix_now),
    };
    crate::wire::encode(&welcome, None)
}

/// Handles one decoded message: each group goes to its owner, matched to the end, so a message
/// nobody routes does not compile.
pub fn handle(app: &Arc<App>, ctx: &ConnCtx, envelope: Envelope<ClientMessage>) {
    let Envelope { rid, msg } = envelope;
    let re = rid.as_ref();
    match msg {
        ClientMessage::Connection(ToConnection::Ping {}) => ctx.send(&ServerMessage::Pong {}, re),
        ClientMessage::Connection(ToConnection::Hello { .. }) => {
            ctx.error(re, ErrorCode::Conflict, "hello was already accepted")
        }
        ClientMessage::Chat(msg) => {
            if serving(app, ctx, re).is_some() {
                crate::chat::handle::message(app, ctx, rid, msg);
            }
        }
        ClientMessage::Booking(msg) => {
            if serving(app, ctx, re).is_some() {
                crate::booking::handle::message(app, ctx, rid, msg);
            }
        }
        ClientMessage::Hub(msg) => {
            let Some(school) = serving(app, ctx, re) else {
                return;
            };
            let input = Input::Message {
                conn: ctx.id,
                rid: rid.clone(),
                msg,
            };
            if let Err(busy) = school.hub.try_send(input) {
                ctx.error(rid.as_ref(), ErrorCode::Unavailable, busy.to_string());
            }
        }
    }
}

/// The connection's school, while this node may act for it. A node of a cluster whose lease
/// ran out (it was paused, or cut off from Redis) refuses with `unavailable` and closes the
/// connection with 1001: the client resumes on the school's new owner.
fn serving(
    app: &App,
    ctx: &ConnCtx,
    re: Option<&konsult_protocol::Rid>,
) -> Option<Arc<crate::schools::School>> {
    // The connection opened its school's hub at hello.
    let school = app.schools.get(ctx.user.school).filter(|s| app.may_act(s));
    if school.is_none() {
        ctx.error(re, ErrorCode::Unavailable, "your school is unavailable");
        ctx.outbox.close(konsult_protocol::CloseCode::GoingAway);
    }
    school
}
