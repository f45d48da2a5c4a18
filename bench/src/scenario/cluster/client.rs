//! Clients of the cluster that reconnect as Konsult's web client does (`web/ws.js`): after
//! any close, a pause of `min(cap, first × 2^min(n, 5))` times 0.75 to 1.25, n counting the
//! closes since the last `welcome`, or longer when a `server_shutdown` asked for it; then
//! `hello` with the `resume` token of the last `welcome`. Behind one address in front of the
//! nodes, a client goes to the next node when its own refuses connections. Each reports its
//! welcomes, drops and failed attempts as [`Event`]s, stamped on the clock every process
//! shares.

pub use super::event::Failure;
use super::event::{Event, Stamp, What};
use futures_util::StreamExt;
use konsult_testkit::ws::{Ws, connect, send, small_config};
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::Message;

/// How long one attempt (connect, upgrade, hello, welcome) may take.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(30);

/// One client: who it is and where it connects first.
#[derive(Clone, Debug)]
pub struct Member {
    pub token: String,
    /// The index of its school.
    pub school: usize,
    /// The node it connects to first, and again after each drop.
    pub home: usize,
    pub source: IpAddr,
}

/// When a client retries (web/ws.js: 500 ms, 10 s).
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// The pause after the first close, before the spread.
    pub first: Duration,
    /// The longest pause, before the spread.
    pub cap: Duration,
}

impl Backoff {
    /// The pause after the `closes`th close since the last `welcome` (0 for the first).
    fn pause(&self, closes: u32, dice: &mut Dice) -> Duration {
        let step = self
            .first
            .saturating_mul(1u32 << closes.min(5))
            .min(self.cap);
        dice.between(step.mul_f64(0.75), step.mul_f64(1.25))
    }
}

/// A small deterministic generator for the pauses (splitmix64).
#[derive(Debug)]
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A duration drawn evenly from `from` to `to`.
    fn between(&mut self, from: Duration, to: Duration) -> Duration {
        if to <= from {
            return from;
        }
        let span = (to - from).as_micros() as u64;
        from + Duration::from_micros(self.next() % (span + 1))
    }
}

/// Runs one client, number `me` of the crowd, until `stop` or until nobody takes its events:
/// connects to its home node (its first attempt waits for a permit of `gate`), stays connected
/// reading what comes, and after any close tries again as [`Backoff`] says.
pub async fn run(
    me: usize,
    member: Member,
    nodes: Arc<Vec<SocketAddr>>,
    events: mpsc::Sender<Event>,
    gate: Arc<Semaphore>,
    backoff: Backoff,
    mut stop: watch::Receiver<bool>,
) {
    let mut dice = Dice(me as u64 ^ 0x5eed);
    let mut resume: Option<String> = None;
    let mut node = member.home;
    let mut closes = 0u32;
    let mut refused_in_a_row = 0usize;
    let mut first = true;
    let report = |what: What| {
        events.send(Event {
            client: me,
            at: Stamp::now(),
            what,
        })
    };
    loop {
        let attempt = async {
            let _permit = if first {
                gate.clone().acquire_owned().await.ok()
            } else {
                None
            };
            attempt(nodes[node], member.source, &member.token, resume.as_deref()).await
        };
        let outcome = tokio::select! {
            outcome = attempt => outcome,
            _ = stop.changed() => return,
        };
        first = false;
        if !matches!(&outcome, Err(failed) if failed.failure == Failure::Refused) {
            refused_in_a_row = 0;
        }
        let retry_after = match outcome {
            Ok((mut ws, welcome)) => {
                let resumed = welcome["resumed"].as_bool().unwrap_or(false);
                if let Some(token) = welcome["resume"].as_str() {
                    resume = Some(token.to_string());
                }
                if report(What::Welcome { resumed, node }).await.is_err() {
                    return;
                }
                closes = 0;
                let (code, retry_after) = tokio::select! {
                    closed = until_closed(&mut ws) => closed,
                    _ = stop.changed() => return,
                };
                if report(What::Drop { code, retry_after }).await.is_err() {
                    return;
                }
                // Back to the node it came through first, as a client behind one address is.
                node = member.home;
                retry_after
            }
            Err(failed) => {
                let what = What::Failed {
                    failure: failed.failure,
                    detail: failed.detail,
                };
                if report(what).await.is_err() {
                    return;
                }
                if failed.failure == Failure::Refused {
                    // A load balancer passes a refused connection to another node at once
                    // (nginx's `proxy_next_upstream error`), each client to its own share of
                    // the live ones: no pause, unless every node refused in a row.
                    refused_in_a_row += 1;
                    node = next_node(node, me, nodes.len());
                    if refused_in_a_row < nodes.len() {
                        continue;
                    }
                }
                failed.retry_after
            }
        };
        let pause = backoff
            .pause(closes, &mut dice)
            .max(retry_after.unwrap_or_default());
        closes += 1;
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return,
        }
    }
}

/// The node client `me` tries when `node` refused it: another one, the clients of one node
/// spread over all the others.
fn next_node(node: usize, me: usize, nodes: usize) -> usize {
    if nodes < 2 {
        return node;
    }
    (node + 1 + me % (nodes - 1)) % nodes
}

/// An attempt that got no `welcome`.
#[derive(Debug)]
struct Failed {
    failure: Failure,
    /// What it said, when it said something.
    detail: Option<String>,
    /// The `retry_after_ms` of a `server_shutdown` it got.
    retry_after: Option<Duration>,
}

impl Failed {
    fn new(failure: Failure, detail: Option<String>) -> Failed {
        Failed {
            failure,
            detail,
            retry_after: None,
        }
    }
}

/// One attempt: connect to `addr` from `source`, `hello` (resuming `resume`), `welcome`.
async fn attempt(
    addr: SocketAddr,
    source: IpAddr,
    token: &str,
    resume: Option<&str>,
) -> Result<(Ws, Value), Failed> {
    let tried = tokio::time::timeout(ATTEMPT_LIMIT, async {
        let mut ws = connect(addr, source, small_config())
            .await
            .map_err(|e| Failed::new(classify(&e), Some(format!("{e:#}"))))?;
        let welcome = hello(&mut ws, token, resume).await?;
        Ok((ws, welcome))
    })
    .await;
    tried.unwrap_or(Err(Failed::new(Failure::Timeout, None)))
}

/// What a failed connect or upgrade was.
fn classify(e: &anyhow::Error) -> Failure {
    if let Some(tungstenite::Error::Http(response)) = e.downcast_ref::<tungstenite::Error>() {
        return Failure::Status(response.status().as_u16());
    }
    if e.downcast_ref::<std::io::Error>().is_some() {
        return Failure::Refused;
    }
    Failure::Other
}

/// The `retry_after_ms` of a `server_shutdown`.
fn retry_after(value: &Value) -> Duration {
    Duration::from_millis(value["retry_after_ms"].as_u64().unwrap_or(1_000))
}

/// Says `hello` and waits for `welcome`; a `server_shutdown` followed by the close, an
/// `error`, or a close is the failure it is.
async fn hello(ws: &mut Ws, token: &str, resume: Option<&str>) -> Result<Value, Failed> {
    let mut hello =
        json!({"type": "hello", "v": konsult_protocol::PROTOCOL_VERSION, "token": token});
    if let Some(resume) = resume {
        hello["resume"] = json!(resume);
    }
    send(ws, &hello)
        .await
        .map_err(|e| Failed::new(Failure::Closed(None), Some(format!("{e:#}"))))?;
    let mut shutdown = None;
    let closed = |code: Option<u16>, shutdown: Option<Duration>| match shutdown {
        Some(after) => Failed {
            failure: Failure::Shutdown,
            detail: None,
            retry_after: Some(after),
        },
        None => Failed::new(Failure::Closed(code), None),
    };
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                match value["type"].as_str() {
                    Some("welcome") => return Ok(value),
                    Some("server_shutdown") => shutdown = Some(retry_after(&value)),
                    Some("error") => {
                        let failure = if value["code"] == "unauthorized" {
                            Failure::Unauthorized
                        } else {
                            Failure::Refusal
                        };
                        return Err(Failed::new(failure, Some(text.to_string())));
                    }
                    _ => return Err(Failed::new(Failure::Other, Some(text.to_string()))),
                }
            }
            Some(Ok(Message::Close(frame))) => {
                return Err(closed(frame.map(|f| u16::from(f.code)), shutdown));
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return Err(closed(None, shutdown)),
        }
    }
}

/// Reads (answering pings) until the socket closes: the close code, when the server sent a
/// close frame, and the `retry_after_ms` of a `server_shutdown` that came first.
async fn until_closed(ws: &mut Ws) -> (Option<u16>, Option<Duration>) {
    let mut shutdown = None;
    loop {
        let code = match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                if text.as_str().contains("\"server_shutdown\"") {
                    let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    shutdown = Some(retry_after(&value));
                }
                continue;
            }
            Some(Ok(Message::Close(frame))) => frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => None,
        };
        return (code, shutdown);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_node_s_clients_spread_over_all_the_others() {
        let mut landed = [0usize; 3];
        for me in 0..300 {
            let next = next_node(2, me, 3);
            assert_ne!(next, 2);
            landed[next] += 1;
        }
        assert_eq!(landed, [150, 150, 0]);
        assert_eq!(next_node(0, 5, 1), 0);
    }

    #[test]
    fn pauses_stay_within_their_bounds() {
        let mut dice = Dice(7);
        for _ in 0..1_000 {
            let d = dice.between(Duration::from_millis(50), Duration::from_millis(100));
            assert!(d >= Duration::from_millis(50) && d <= Duration::from_millis(100));
        }
        assert_eq!(
            dice.between(Duration::from_millis(5), Duration::ZERO),
            Duration::from_millis(5)
        );
    }

    #[test]
    fn the_backoff_is_the_web_client_s() {
        let backoff = Backoff {
            first: Duration::from_millis(500),
            cap: Duration::from_secs(10),
        };
        let mut dice = Dice(1);
        for (closes, step) in [(0, 500), (1, 1_000), (4, 8_000), (5, 10_000), (9, 10_000)] {
            for _ in 0..100 {
                let pause = backoff.pause(closes, &mut dice).as_millis() as u64;
                assert!(
                    pause >= step * 3 / 4 && pause <= step * 5 / 4,
                    "{closes}: {pause}"
                );
            }
        }
    }

    #[test]
    fn failures_have_names() {
        assert_eq!(Failure::Status(429).name(), "http_429");
        assert_eq!(Failure::Closed(Some(1001)).name(), "closed_1001");
        assert_eq!(Failure::Shutdown.name(), "server_shutdown");
        for failure in [
            Failure::Refused,
            Failure::Status(429),
            Failure::Shutdown,
            Failure::Closed(Some(4001)),
            Failure::Closed(None),
            Failure::Unauthorized,
            Failure::Refusal,
            Failure::Timeout,
            Failure::Other,
        ] {
            assert_eq!(Failure::from_name(&failure.name()), Some(failure));
        }
        assert_eq!(Failure::from_name("http_x"), None);
        assert_eq!(Failure::from_name("closing"), None);
    }
}
