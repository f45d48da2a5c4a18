//! One WebSocket connection's task. It owns the socket: the `hello` handshake, then a loop that
//! reads and dispatches frames, writes the bounded outbox, pings a silent client, enforces the
//! message rate, and closes with a documented code. Nothing here waits on another connection.

use super::Socket;
use super::rate::TokenBucket;
use crate::app::App;
use crate::conn_ctx::ConnCtx;
use crate::directory::{ConnHandle, ConnId, Outbox};
use crate::store::users::User;
use crate::wire;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures_util::{SinkExt, StreamExt};
use konsult_protocol::{
    ClientMessage, CloseCode, ErrorCode, PROTOCOL_VERSION, Rid, ServerMessage, ToConnection,
    decode_client_frame,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::{Instant, sleep_until, timeout, timeout_at};

/// Frames written per flush when the outbox holds several.
const WRITE_BATCH: usize = 64;
/// How long the closing handshake may take before the socket is dropped.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// How long a bridged connection may be silent before its owner pings it: its edge node keeps
/// the client's socket alive, and answers this ping itself.
const BRIDGE_PING_AFTER: Duration = Duration::from_secs(300);
/// Refused messages in a row, beyond the burst, after which a flooding client is cut off.
const FLOOD_TOLERANCE: u32 = 20;

/// Counts the socket against `server.max_connections` until dropped.
struct SocketSlot(Arc<App>);

impl Drop for SocketSlot {
    fn drop(&mut self) {
        self.0.sockets.fetch_sub(1, Ordering::AcqRel);
        metrics::gauge!(crate::metrics::CONNECTIONS).decrement(1.0);
    }
}

/// Keeps the connection in the directory until dropped; [`Registered::park`] takes it out
/// leaving what it did not write for a resume.
struct Registered<'a> {
    app: &'a App,
    id: ConnId,
    user: konsult_protocol::UserId,
    /// The `resume` token its `welcome` carried.
    resume: String,
    /// The token the client resumed with, if it resumed.
    resumed_from: Option<String>,
    /// Cleared once the directory was told.
    live: bool,
}

impl Registered<'_> {
    /// Leaves the directory, parking the frames never written so that a client that resumes
    /// within the grace period gets them.
    fn park(&mut self, unsent: Vec<Utf8Bytes>) {
        if !std::mem::take(&mut self.live) {
            return;
        }
        let app = self.app;
        let expires = std::time::Instant::now() + app.config.hub.grace;
        let keep = app.config.limits.outbox_messages.saturating_sub(1);
        let park = crate::directory::Park {
            token: std::mem::take(&mut self.resume),
            resumed_from: self.resumed_from.take(),
            frames: unsent,
            expires,
        };
        app.directory
            .unregister(self.id, self.user, Some(park), keep);
        metrics::gauge!(crate::metrics::AUTHENTICATED).decrement(1.0);
    }
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        if std::mem::take(&mut self.live) {
            self.app.directory.unregister(self.id, self.user, None, 0);
            metrics::gauge!(crate::metrics::AUTHENTICATED).decrement(1.0);
        }
    }
}

/// Runs a connection from upgrade to close.
/// `anonymous` is the connection's place in its address's share of sockets before `hello`,
/// given back when its `hello` brings a token signed by us.
pub async fn run<S: Socket>(
    app: Arc<App>,
    mut socket: S,
    peer: SocketAddr,
    anonymous: crate::anonymous::AnonymousSlot,
) {
    let _drain = app.drain.guard();
    metrics::gauge!(crate::metrics::CONNECTIONS).increment(1.0);
    let _slot = SocketSlot(app.clone());
    // Every await that is not the idle loop is boxed: the task keeps, for its whole life,
    // room for the largest state of its future, and most connections spend theirs idle.
    let handshake = Box::pin(handshake(&app, &mut socket, Some(anonymous), None)).await;
    let (user, resume, hello) = match handshake {
        Ok(hello) => hello,
        Err(Some(code)) => return Box::pin(close(&mut socket, code)).await,
        Err(None) => return,
    };
    if app.node.get().is_some() {
        // A node of a cluster: the connection runs where its school lives.
        let bridged = Box::pin(route(&app, &mut socket, &user, hello, peer)).await;
        match bridged {
            Routed::Here => {}
            Routed::Ended(code) => {
                if let Some(code) = code {
                    Box::pin(close(&mut socket, code)).await;
                }
                return;
            }
        }
    }
    tracing::debug!(user = %user.id, %peer, "connected");
    let ping_after = app.config.limits.ping_after;
    let code = serve(&app, &mut socket, Arc::new(user), resume, ping_after).await;
    if let Some(code) = code {
        Box::pin(close(&mut socket, code)).await;
    }
}

/// Runs, on the school's owner, the connection of a client whose socket is on another node of
/// the cluster (`bridge.rs`): as [`run`] does, except that the connection is not routed again.
/// The account the edge vouches for (`passport.rs`) is taken as its check of the `hello`;
/// without one the `hello` is checked here.
pub async fn run_bridged(
    app: Arc<App>,
    mut socket: super::bridge_links::BridgedSocket,
    arrival: super::passport::Arrival,
) {
    let _drain = app.drain.guard();
    app.sockets.fetch_add(1, Ordering::AcqRel);
    metrics::gauge!(crate::metrics::CONNECTIONS).increment(1.0);
    let _slot = SocketSlot(app.clone());
    let peer = arrival.peer;
    let (user, resume) = match Box::pin(handshake(&app, &mut socket, None, arrival.user)).await {
        Ok((user, resume, _hello)) => (user, resume),
        Err(Some(code)) => return Box::pin(close(&mut socket, code)).await,
        Err(None) => return,
    };
    if app.schools.get(user.school).is_none() {
        // The school moved on meanwhile: the client resumes on its new owner.
        return Box::pin(close(&mut socket, CloseCode::GoingAway)).await;
    }
    tracing::debug!(user = %user.id, %peer, "connected over a bridge");
    // The edge keeps the client's socket alive (`bridge.rs`); a rare ping here only proves
    // the bridge still stands (the edge answers it), should the edge's close have been lost.
    let code = serve(&app, &mut socket, Arc::new(user), resume, BRIDGE_PING_AFTER).await;
    if let Some(code) = code {
        Box::pin(close(&mut socket, code)).await;
    }
}

/// Where a connection of a node of a cluster went.
enum Routed {
    /// Its school lives here: it runs here.
    Here,
    /// It was bridged to its school's owner, or no node holds the school: it ended, with the
    /// close code to send.
    Ended(Option<CloseCode>),
}

/// Sends the connection to where its school lives: here, or over a bridge to the owner.
async fn route<S: Socket>(
    app: &App,
    socket: &mut S,
    user: &User,
    hello: Utf8Bytes,
    peer: SocketAddr,
) -> Routed {
    let Some(node) = app.node.get() else {
        return Routed::Here;
    };
    match node.route(&app.store, &app.schools, user.school).await {
        crate::node::Route::Local => Routed::Here,
        crate::node::Route::Remote { owner, school } => {
            Routed::Ended(super::bridge::relay(app, socket, owner, school, hello, peer, user).await)
        }
        crate::node::Route::Unavailable => {
            let msg = ServerMessage::ServerShutdown {
                retry_after_ms: 1_000,
            };
            send_direct(socket, &msg, None).await;
            Routed::Ended(Some(CloseCode::GoingAway))
        }
    }
}

/// Sends one message straight to the socket (before the outbox exists).
async fn send_direct<S: Socket>(socket: &mut S, msg: &ServerMessage, re: Option<&Rid>) -> bool {
    let frame = wire::encode(msg, re);
    matches!(
        timeout(CLOSE_WAIT * 5, socket.send(Message::Text(frame))).await,
        Ok(Ok(()))
    )
}

/// Waits for a valid `hello` until the deadline: the user and the resume token they gave.
/// The first frame must be `hello`: any other (malformed, binary, another type) gets an
/// `error` and close 4001. `Err(Some(code))` closes with that code, `Err(None)` means the
/// socket is gone. `anonymous`, the socket's place in its address's share of sockets before
/// `hello`, is given back as soon as a `hello` with a token signed by us arrives, before the
/// store is asked for its account: a client waiting on the store does not keep its
/// neighbours behind the same address out. `vouched`:
/// the account an edge node's check of this `hello` proved (a bridged connection), taken
/// without checking the token again.
async fn handshake<S: Socket>(
    app: &App,
    socket: &mut S,
    mut anonymous: Option<crate::anonymous::AnonymousSlot>,
    mut vouched: Option<User>,
) -> Result<(User, Option<String>, Utf8Bytes), Option<CloseCode>> {
    let deadline = Instant::now() + app.config.limits.hello_timeout;
    let mut stopping = app.drain.watch();
    loop {
        let incoming = tokio::select! {
            r = timeout_at(deadline, socket.next()) => r,
            _ = crate::drain::stopped(&mut stopping) => return Err(Some(CloseCode::GoingAway)),
        };
        let text = match incoming {
            Err(_) => return Err(Some(CloseCode::HelloTimeout)),
            Ok(None) => return Err(None),
            Ok(Some(Err(e))) => return Err(super::read_error_close(&e)),
            Ok(Some(Ok(Message::Text(text)))) => text,
            Ok(Some(Ok(Message::Binary(_)))) => {
                let msg = ServerMessage::error(ErrorCode::BadRequest, BINARY_REFUSED);
                Box::pin(send_direct(socket, &msg, None)).await;
                return Err(Some(CloseCode::Unauthorized));
            }
            Ok(Some(Ok(Message::Close(_)))) => return Err(None),
            Ok(Some(Ok(_))) => continue,
        };
        let envelope = match decode_client_frame(&text) {
            Ok(envelope) => envelope,
            Err(e) => {
                let msg = ServerMessage::error(e.code, e.message);
                send_direct(socket, &msg, e.rid.as_ref()).await;
                return Err(Some(CloseCode::Unauthorized));
            }
        };
        count_in(envelope.msg.type_name());
        let re = envelope.rid.as_ref();
        let ClientMessage::Connection(ToConnection::Hello { v, token, resume }) = &envelope.msg
        else {
            let msg = ServerMessage::error(ErrorCode::Unauthorized, "send hello first");
            send_direct(socket, &msg, re).await;
            return Err(Some(CloseCode::Unauthorized));
        };
        if *v != PROTOCOL_VERSION {
            let msg = ServerMessage::error(
                ErrorCode::UnsupportedVersion,
                format!("this server speaks protocol version {PROTOCOL_VERSION}"),
            );
            send_direct(socket, &msg, re).await;
            return Err(Some(CloseCode::UnsupportedVersion));
        }
        if let Some(user) = vouched.take() {
            return Ok((user, resume.clone(), text));
        }
        let verified = app.verify(token);
        if verified.is_ok() {
            // Signed by us: it leaves the share of sockets that have proved nothing.
            drop(anonymous.take());
        }
        let account = match verified {
            Ok(verified) => app.account(verified).await,
            Err(e) => Err(e),
        };
        match account {
            Ok(user) => return Ok((user, resume.clone(), text)),
            Err(e @ crate::auth::AuthError::Unavailable(_)) => {
                // Not a judgement of the token: the client keeps it and comes back.
                tracing::warn!(reason = %e, "hello deferred: accounts cannot be checked now");
                let msg = ServerMessage::error(e.code(), e.to_string());
                send_direct(socket, &msg, re).await;
                let retry = ServerMessage::ServerShutdown {
                    retry_after_ms: 1_000,
                };
                send_direct(socket, &retry, None).await;
                return Err(Some(CloseCode::GoingAway));
            }
            Err(e) => {
                tracing::debug!(reason = %e, "hello refused");
                let msg = ServerMessage::error(e.code(), e.to_string());
                send_direct(socket, &msg, re).await;
                return Err(Some(CloseCode::Unauthorized));
            }
        }
    }
}

const BINARY_REFUSED: &str = "binary frames are not part of the protocol; send JSON text";

fn count_in(ty: &'static str) {
    metrics::counter!(crate::metrics::MESSAGES_IN, "type" => ty).increment(1);
}

/// The authenticated part of a connection. Returns the close code to send, if any.
/// A silent socket is pinged after `ping_after` and closed with 4003 when the pong does not
/// come within `limits.idle_timeout - limits.ping_after`.
async fn serve<S: Socket>(
    app: &Arc<App>,
    socket: &mut S,
    user: Arc<User>,
    resume_from: Option<String>,
    ping_after: Duration,
) -> Option<CloseCode> {
    let limits = &app.config.limits;
    // The user's school's hub, started now if this is the school's first connection since
    // it was created.
    let school = match crate::school_hubs::open(app, user.school).await {
        Ok(school) => school,
        Err(e) => {
            tracing::error!(error = %e, user = %user.id, "the user's school cannot be served");
            let msg = ServerMessage::error(ErrorCode::Unavailable, "your school is unavailable");
            Box::pin(send_direct(socket, &msg, None)).await;
            return Some(CloseCode::InternalError);
        }
    };
    let (outbox, mut rx, signal) = Outbox::new(limits.outbox_messages);
    let ctx = ConnCtx {
        id: app.directory.next_id(),
        user: user.clone(),
        outbox: outbox.clone(),
    };
    let handle = ConnHandle {
        id: ctx.id,
        user: user.id,
        outbox,
    };
    let resume = crate::auth::generate_secret(16);
    let registration = crate::directory::Registration {
        handle,
        max_per_user: limits.connections_per_user,
        resume: resume_from.as_deref(),
        // Boxed, as the other awaits here, to keep the connection future small.
        owner: Box::pin(crate::anonymity::connection_owner(app, &user)).await,
    };
    // A token issued before a restart is not parked here: the restored hub kept its digest.
    // The client resumes (`welcome.resumed`), but what was queued for it died with the old
    // process: the hub hears of a connection that did not resume, and tells it its place.
    let restored = match resume_from.as_deref() {
        Some(token) if !app.directory.is_parked(user.id, token) => {
            school
                .resumes
                .take(token, user.id, limits.hello_timeout)
                .await
        }
        _ => false,
    };
    let greet = |resumed| crate::dispatch::welcome(app, &user, &resume, resumed || restored);
    let resumed = match app
        .directory
        .register(registration, std::time::Instant::now(), greet)
    {
        Ok(resumed) => resumed,
        Err(_) => {
            let msg = ServerMessage::error(
                ErrorCode::RateLimited,
                format!(
                    "this account already holds {} connections",
                    limits.connections_per_user
                ),
            );
            Box::pin(send_direct(socket, &msg, None)).await;
            return Some(CloseCode::TooManyConnections);
        }
    };
    metrics::gauge!(crate::metrics::AUTHENTICATED).increment(1.0);
    let mut registered = Registered {
        app,
        id: ctx.id,
        user: user.id,
        resume,
        resumed_from: resume_from.filter(|_| resumed || restored),
        live: true,
    };
    Box::pin(school.hub.send(konsult_signaling::Input::Connected {
        conn: ctx.id,
        user: user.info(),
        resumed,
    }))
    .await;
    // The hub keeps the token's digest, never the token, for a resume after a restart.
    Box::pin(school.hub.send(konsult_signaling::Input::ResumeIssued {
        conn: ctx.id,
        token: crate::restored_resumes::token_digest(&registered.resume),
    }))
    .await;

    let mut stopping = app.drain.watch();
    // Shutdown, or this node no longer serving the school (a cluster moved it): the client
    // is told, as at shutdown, and resumes elsewhere.
    let gone = async {
        tokio::select! {
            _ = crate::drain::stopped(&mut stopping) => {}
            _ = school.stopped() => {}
        }
    };
    tokio::pin!(gone);
    let mut bucket = TokenBucket::new(
        limits.messages_per_second,
        limits.message_burst,
        std::time::Instant::now(),
    );
    let idle_after = ping_after + limits.idle_timeout.saturating_sub(limits.ping_after);
    let mut last_rx = Instant::now();
    let mut pinged = false;
    let tick = sleep_until(last_rx + ping_after);
    tokio::pin!(tick);
    let mut batch: Vec<Utf8Bytes> = Vec::new();

    let code = loop {
        tokio::select! {
            biased;
            _ = signal.wait() => break signal.requested(),
            _ = &mut gone => {
                let notice = ServerMessage::ServerShutdown { retry_after_ms: 2_000 };
                // The shutdown notice goes after whatever is already queued.
                let _closing = ctx.outbox.push(wire::encode(&notice, None));
                rx.close();
                while let Some(frame) = rx.recv().await {
                    batch.push(frame);
                }
                if !Box::pin(write_batch(socket, &mut batch, limits.write_timeout)).await {
                    break None;
                }
                break Some(CloseCode::GoingAway);
            }
            frame = rx.recv() => {
                let Some(frame) = frame else { break Some(CloseCode::InternalError) };
                batch.push(frame);
                while batch.len() < WRITE_BATCH {
                    match rx.try_recv() {
                        Some(frame) => batch.push(frame),
                        None => break,
                    }
                }
                if !Box::pin(write_batch(socket, &mut batch, limits.write_timeout)).await {
                    tracing::debug!(conn = ctx.id.0, "write stalled: slow consumer");
                    metrics::counter!(crate::metrics::CLOSES, "code" => "4009").increment(1);
                    break None;
                }
            }
            incoming = socket.next() => {
                last_rx = Instant::now();
                pinged = false;
                match incoming {
                    None => break None,
                    Some(Err(e)) => break super::read_error_close(&e),
                    Some(Ok(Message::Text(text))) => {
                        if let Some(code) = on_text(app, &ctx, &mut bucket, &text) {
                            break Some(code);
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        if !bucket.allow(std::time::Instant::now()) {
                            if let Some(code) = refuse(app, &ctx, &bucket, None) {
                                break Some(code);
                            }
                        } else {
                            ctx.error(None, ErrorCode::BadRequest, BINARY_REFUSED);
                        }
                    }
                    Some(Ok(Message::Close(_))) => break None,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                }
            }
            _ = &mut tick => {
                let now = Instant::now();
                if now >= last_rx + idle_after {
                    break Some(CloseCode::IdleTimeout);
                }
                if !pinged && now >= last_rx + ping_after {
                    pinged = true;
                    let ping = socket.send(Message::Ping(bytes::Bytes::new()));
                    let sent = Box::pin(timeout(limits.write_timeout, ping)).await;
                    if !matches!(sent, Ok(Ok(()))) {
                        break None;
                    }
                }
                let next = if pinged {
                    last_rx + idle_after
                } else {
                    last_rx + ping_after
                };
                tick.as_mut().reset(next);
            }
        }
    };
    // Frames queued but never written wait for a resume.
    rx.close();
    let mut unsent = std::mem::take(&mut batch);
    while let Some(frame) = rx.try_recv() {
        unsent.push(frame);
    }
    registered.park(unsent);
    Box::pin(
        school
            .hub
            .send(konsult_signaling::Input::Disconnected { conn: ctx.id }),
    )
    .await;
    if let Some(code) = code {
        // Closes are rare: the label is formatted from the protocol's number each time.
        metrics::counter!(crate::metrics::CLOSES, "code" => code.code().to_string()).increment(1);
    }
    code
}

/// Handles one text frame; returns a close code when the client must be cut off. Every
/// frame takes a token from the bucket first, a malformed one too.
fn on_text(
    app: &Arc<App>,
    ctx: &ConnCtx,
    bucket: &mut TokenBucket,
    text: &str,
) -> Option<CloseCode> {
    let allowed = bucket.allow(std::time::Instant::now());
    let decoded = decode_client_frame(text);
    if !allowed {
        let rid = match &decoded {
            Ok(envelope) => {
                count_in(envelope.msg.type_name());
                envelope.rid.as_ref()
            }
            Err(e) => e.rid.as_ref(),
        };
        return refuse(app, ctx, bucket, rid);
    }
    match decoded {
        Ok(envelope) => {
            count_in(envelope.msg.type_name());
            crate::dispatch::handle(app, ctx, envelope);
        }
        Err(e) => ctx.error(e.rid.as_ref(), e.code, e.message),
    }
    None
}

/// Answers a frame the bucket refused with `rate_limited`, or returns 4008 when the client
/// went on flooding past the burst and the tolerance.
fn refuse(app: &App, ctx: &ConnCtx, bucket: &TokenBucket, rid: Option<&Rid>) -> Option<CloseCode> {
    if bucket.refused_in_row > FLOOD_TOLERANCE + app.config.limits.message_burst {
        return Some(CloseCode::RateLimited);
    }
    ctx.error(
        rid,
        ErrorCode::RateLimited,
        format!(
            "more than {} messages per second; slow down",
            app.config.limits.messages_per_second
        ),
    );
    None
}

/// Writes queued frames with one flush; `false` when the write stalled past the deadline or
/// failed.
async fn write_batch<S: Socket>(
    socket: &mut S,
    batch: &mut Vec<Utf8Bytes>,
    deadline: Duration,
) -> bool {
    let write = async {
        for frame in batch.drain(..) {
            socket.feed(Message::Text(frame)).await?;
        }
        socket.flush().await
    };
    let ok = matches!(timeout(deadline, write).await, Ok(Ok(())));
    batch.clear();
    if batch.capacity() > WRITE_BATCH {
        batch.shrink_to(WRITE_BATCH);
    }
    ok
}

/// Sends a close frame and waits briefly for the client's, so that frames already sent are
/// read before the TCP connection ends.
async fn close<S: Socket>(socket: &mut S, code: CloseCode) {
    let frame = CloseFrame {
        code: code.code(),
        reason: Utf8Bytes::from_static(code.reason()),
    };
    if !matches!(
        timeout(CLOSE_WAIT, socket.send(Message::Close(Some(frame)))).await,
        Ok(Ok(()))
    ) {
        return;
    }
    let _drained = timeout(CLOSE_WAIT, async {
        while let Some(Ok(msg)) = socket.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future a function returns, without calling it.
    fn future_size4<A, B, C, D, F: std::future::Future>(_: impl FnOnce(A, B, C, D) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Every idle connection's task holds its whole future: the handshake, writes and close
    /// are boxed so that it is little more than the idle loop (4,096 bytes in a debug build
    /// before they were, 2,248 after).
    #[test]
    fn the_connection_task_stays_small() {
        let size = future_size4(
            |app: Arc<App>,
             socket: axum::extract::ws::WebSocket,
             peer: SocketAddr,
             slot: crate::anonymous::AnonymousSlot| run(app, socket, peer, slot),
        );
        eprintln!("connection future: {size} bytes");
        assert!(size <= 3 * 1024, "the connection future is {size} bytes");
    }
}
