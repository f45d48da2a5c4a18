//! A test peer run over a WebSocket connection of its own, following the session from peer to
//! peer to the SFU as a browser does.

use super::counters::Counters;
use super::options::PeerOptions;
use super::peer::MediaPeer;
use konsult_testkit::WsClient;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Where a link's signals go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// The SFU.
    Sfu,
    /// Peer to peer with this user; `offerer` says which side makes the offer. The link moves
    /// to the SFU when `session_state` says the session did.
    P2p { other: i64, offerer: bool },
}

/// A peer run over its own WebSocket connection, renegotiating as the session asks.
#[derive(Debug)]
pub struct MediaLink {
    pub counters: Arc<Counters>,
    /// `error` messages the link's connection received.
    pub errors: Arc<Mutex<Vec<Value>>>,
    /// Whether the link is on the SFU now.
    pub on_sfu: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
    stop: mpsc::UnboundedSender<()>,
}

impl MediaLink {
    /// Starts media in `session` over `ws` (a connection of a member).
    pub async fn start(
        ws: WsClient,
        session: i64,
        route: Route,
        options: PeerOptions,
    ) -> MediaLink {
        let counters = Arc::new(Counters::default());
        let errors = Arc::new(Mutex::new(Vec::new()));
        let on_sfu = Arc::new(AtomicBool::new(route == Route::Sfu));
        let (stop, stopped) = mpsc::unbounded_channel::<()>();
        let call = Call {
            session,
            route,
            options,
        };
        let seen = Seen {
            counters: counters.clone(),
            errors: errors.clone(),
            on_sfu: on_sfu.clone(),
        };
        let task = tokio::spawn(pump(ws, call, seen, stopped));
        MediaLink {
            counters,
            errors,
            on_sfu,
            task,
            stop,
        }
    }

    /// Waits until `check` holds on the counters, up to `limit`.
    pub async fn wait_for(&self, limit: Duration, check: impl Fn(&Counters) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if check(&self.counters) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        check(&self.counters)
    }

    /// Stops the peer and the connection.
    pub async fn stop(self) {
        // The task may have ended already.
        let _ended = self.stop.send(());
        let _joined = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

/// The media a link carries: in which session, along which route, published how.
struct Call {
    session: i64,
    route: Route,
    options: PeerOptions,
}

/// What a link's task tells its [`MediaLink`].
struct Seen {
    counters: Arc<Counters>,
    errors: Arc<Mutex<Vec<Value>>>,
    on_sfu: Arc<AtomicBool>,
}

/// Runs the peer over `ws` until `stopped`: signals both ways, the media state reported peer to
/// peer, a new peer with the SFU when the session moves there.
async fn pump(mut ws: WsClient, call: Call, seen: Seen, mut stopped: mpsc::UnboundedReceiver<()>) {
    let Call {
        session,
        route,
        options,
    } = call;
    let Seen {
        counters,
        errors,
        on_sfu,
    } = seen;
    let first = PeerOptions {
        sendrecv: matches!(route, Route::P2p { .. }),
        ..options.clone()
    };
    let (mut peer, mut signals) = match MediaPeer::new(first, counters.clone()).await {
        Ok(p) => p,
        Err(e) => panic!("peer connection: {e}"),
    };
    let mut to = match route {
        Route::Sfu => json!("sfu"),
        Route::P2p { other, .. } => json!(other),
    };
    let offers = match route {
        Route::Sfu => true,
        Route::P2p { offerer, .. } => offerer,
    };
    if offers && let Err(e) = peer.offer().await {
        panic!("offer: {e}");
    }
    let mut reported = false;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = stopped.recv() => break,
            _ = tick.tick() => {
                // Peer to peer, the member reports its own media state, as a browser does.
                let connected = counters.connected.load(Ordering::SeqCst);
                if !on_sfu.load(Ordering::SeqCst) && connected != reported {
                    reported = connected;
                    let state = if connected { "connected" } else { "connecting" };
                    ws.send_json(&json!({"type": "media_state", "session": session, "state": state})).await;
                }
            }
            out = signals.recv() => {
                let Some(data) = out else { break };
                ws.send_json(&json!({"type": "signal", "session": session, "to": to, "data": data})).await;
            }
            msg = ws.recv_timeout(Duration::from_secs(3600)) => {
                let Some(msg) = msg else { break };
                match msg["type"].as_str() {
                    Some("signal") if msg["session"] == json!(session) => {
                        if let Err(e) = peer.on_signal(&msg["data"]).await {
                            errors.lock().unwrap_or_else(|e| e.into_inner())
                                .push(json!({"type": "client_error", "message": e.to_string()}));
                        }
                    }
                    Some("session_state") if msg["session"] == json!(session)
                        && msg["media"] == "sfu" && !on_sfu.load(Ordering::SeqCst) =>
                    {
                        // The session moved to the SFU: a new peer connection with the server.
                        peer.close().await;
                        counters.connected.store(false, Ordering::SeqCst);
                        counters.failed.store(false, Ordering::SeqCst);
                        let mut sfu_options = options.clone();
                        sfu_options.send_candidates = true;
                        (peer, signals) = match MediaPeer::new(sfu_options, counters.clone()).await {
                            Ok(p) => p,
                            Err(e) => panic!("peer connection: {e}"),
                        };
                        to = json!("sfu");
                        on_sfu.store(true, Ordering::SeqCst);
                        if let Err(e) = peer.offer().await {
                            panic!("offer: {e}");
                        }
                    }
                    Some("error") => errors.lock().unwrap_or_else(|e| e.into_inner()).push(msg),
                    _ => {}
                }
            }
        }
    }
    peer.close().await;
    ws.close().await;
}
