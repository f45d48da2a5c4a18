//! Row c: one message to many members, then a sustained stream of deliveries. The broadcast
//! is a chat message: one teacher starts a frontal session for the members' class (its thread
//! holds every member), then `send`s to that thread, and each `message` reaches every member.
//! With `--broadcast presence` it is the presence push instead: every member asks
//! `list_teachers` (which makes it a watcher of staff presence), then the teacher toggles
//! `set_status`; the baseline server speaks only that one. Each member computes each
//! delivery's latency from the send time the load generator recorded before sending.

use super::{Common, student_tokens};
use crate::procfs::{Sample, sample};
use crate::stats::{Summary, ms, percentile, sort};
use crate::target::Kind;
use crate::tokens;
use futures_util::{SinkExt, StreamExt};
use konsult_testkit::ws::{Ws, connect_as, recv_type, send, source};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Debug, clap::Args)]
pub struct FanoutArgs {
    /// Members that receive every broadcast.
    #[arg(long, default_value_t = 1_000)]
    pub members: usize,
    /// Single broadcasts, each waited for, for the last-delivery figure.
    #[arg(long, default_value_t = 20)]
    pub rounds: usize,
    /// Deliveries per second in the sustained phase (broadcasts/s = this / members).
    #[arg(long, default_value_t = 100_000)]
    pub rate: u64,
    /// Seconds of the sustained phase (0: none).
    #[arg(long, default_value_t = 60)]
    pub sustain_secs: u64,
    /// What is broadcast.
    #[arg(long, value_enum, default_value_t = Broadcast::Chat)]
    pub broadcast: Broadcast,
}

/// The message that reaches every member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Broadcast {
    /// A chat `send` to the thread of a frontal session for the members' class.
    Chat,
    /// A staff member's `presence`, to every connection watching the teacher list.
    Presence,
}

impl Broadcast {
    /// Whether a frame is one of the broadcasts. Konsult writes `type` first; the baseline's
    /// frames have their keys in any order, and presence is all they broadcast.
    fn is_broadcast(self, frame: &str) -> bool {
        match self {
            Broadcast::Chat => frame.starts_with(r#"{"type":"message""#),
            Broadcast::Presence => frame.contains(r#""presence""#),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Broadcast::Chat => "chat (send to a class session's thread)",
            Broadcast::Presence => "presence (set_status toggle)",
        }
    }
}

/// Broadcasts the load generator sent: when, and how many members have it.
#[derive(Debug)]
struct Rounds {
    base: Instant,
    /// Send time of round k, ns after `base` (0: not sent yet).
    sent_ns: Vec<AtomicU64>,
    /// Latest arrival of round k, ns after `base`.
    last_ns: Vec<AtomicU64>,
    received: Vec<AtomicU32>,
    /// Every delivery, over all rounds.
    delivered: AtomicU64,
    /// Members told of the session (`session_invite`): the first broadcast waits for all, so
    /// it does not race the session's own fan-out.
    invited: AtomicU32,
}

impl Rounds {
    fn new(count: usize) -> Rounds {
        Rounds {
            base: Instant::now(),
            sent_ns: (0..count).map(|_| AtomicU64::new(0)).collect(),
            last_ns: (0..count).map(|_| AtomicU64::new(0)).collect(),
            received: (0..count).map(|_| AtomicU32::new(0)).collect(),
            delivered: AtomicU64::new(0),
            invited: AtomicU32::new(0),
        }
    }

    fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }
}

/// Broadcast `k`: a chat message to `thread`, or a toggle of the teacher's status (`away`,
/// `available`, `away`, ...).
fn broadcast(k: usize, thread: Option<&serde_json::Value>) -> serde_json::Value {
    if let Some(thread) = thread {
        // The thread in the client_id: a later run in the same data folder is a new thread,
        // and a client_id already used elsewhere would be refused as a conflict.
        return json!({"type": "send", "thread": thread, "client_id": format!("fanout-{thread}-{k}"),
                      "text": format!("Announcement {k}: the next exercise is on page {k}.")});
    }
    let status = if k.is_multiple_of(2) {
        "away"
    } else {
        "available"
    };
    json!({"type": "set_status", "status": status})
}

pub async fn run(common: &Common, args: &FanoutArgs) -> anyhow::Result<Summary> {
    if args.broadcast == Broadcast::Chat && common.target == Kind::Baseline {
        anyhow::bail!("the baseline has no chat; measure it with --broadcast presence");
    }
    let broadcasts_per_sec = (args.rate as f64 / args.members.max(1) as f64).max(0.1);
    let sustain_rounds = (broadcasts_per_sec * args.sustain_secs as f64).ceil() as usize;
    let total_rounds = args.rounds + sustain_rounds;
    // The teacher toggles up to `broadcasts_per_sec` times a second, beyond the default
    // per-connection rate when the crowd is small.
    let per_sec = (broadcasts_per_sec.ceil() as u64 + 10).max(30);
    let env = [
        (
            "KONSULT_SERVER_MAX_CONNECTIONS",
            (args.members + 100).to_string(),
        ),
        ("KONSULT_LIMITS_MESSAGES_PER_SECOND", per_sec.to_string()),
        ("KONSULT_LIMITS_MESSAGE_BURST", (2 * per_sec).to_string()),
        (
            "KONSULT_LIMITS_SESSION_MEMBERS",
            (args.members + 1).max(2).to_string(),
        ),
    ];
    let target = common.start(&env)?;
    // A class of exactly the members: students of earlier runs in the same data folder keep
    // other classes (a portal token's class replaces the account's on each login).
    let class = format!("fanout-{}", args.members);
    let teacher_token = tokens::teacher(0, &["math"]);
    let mut teacher = connect_as(target.addr, source(0, common.sources), &teacher_token).await?;
    send(
        &mut teacher,
        &json!({"type": "set_status", "status": "available", "rid": 0}),
    )
    .await?;
    recv_type(&mut teacher, "ok", Duration::from_secs(10)).await?;

    let rounds = Arc::new(Rounds::new(total_rounds));
    let (stop_tx, stop_rx) = watch::channel(false);
    let gate = Arc::new(tokio::sync::Semaphore::new(common.concurrency.max(1)));
    let connect_started = Instant::now();
    let mut members = Vec::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<bool>(args.members.max(1));
    for (i, token) in student_tokens(0, args.members, &class)
        .into_iter()
        .enumerate()
    {
        let (addr, src) = (target.addr, source(i + 1, common.sources));
        let (gate, rounds, stop, ready) = (
            gate.clone(),
            rounds.clone(),
            stop_rx.clone(),
            ready_tx.clone(),
        );
        let kind = args.broadcast;
        members.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await;
            let joined = async {
                let mut ws = connect_as(addr, src, &token).await?;
                if kind == Broadcast::Presence {
                    send(&mut ws, &json!({"type": "list_teachers", "rid": 1})).await?;
                    recv_type(&mut ws, "teachers", Duration::from_secs(60)).await?;
                }
                anyhow::Ok(ws)
            }
            .await;
            drop(permit);
            match joined {
                Ok(ws) => {
                    let _ready = ready.send(true).await;
                    drop(ready);
                    member(ws, kind, rounds, stop).await
                }
                Err(e) => {
                    eprintln!("member {i}: {e:#}");
                    let _ready = ready.send(false).await;
                    Vec::new()
                }
            }
        }));
    }
    drop(ready_tx);
    let mut joined = 0usize;
    while let Some(ok) = ready_rx.recv().await {
        joined += usize::from(ok);
    }
    let connect_time = connect_started.elapsed();
    eprintln!(
        "fanout: {joined} members connected in {:.1} s",
        connect_time.as_secs_f64()
    );
    // A chat broadcast goes to the thread of a frontal session for the whole class.
    let thread = match args.broadcast {
        Broadcast::Presence => None,
        Broadcast::Chat => {
            let started = Instant::now();
            send(
                &mut teacher,
                &json!({"type": "create_session", "form": "frontal", "subject": "math",
                        "title": "School assembly", "class": class, "rid": 1}),
            )
            .await?;
            let reply =
                recv_type(&mut teacher, "session_started", Duration::from_secs(120)).await?;
            let thread = reply["session"]["thread"].clone();
            anyhow::ensure!(
                !thread.is_null(),
                "session_started without a thread: {reply}"
            );
            eprintln!(
                "fanout: session for class {class} started in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            // The invitations still go out after the host's reply: the first broadcast would
            // queue behind them and time the session's start, not the broadcast.
            let wait_until = Instant::now() + Duration::from_secs(120);
            while (rounds.invited.load(Ordering::Acquire) as usize) < joined
                && Instant::now() < wait_until
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            eprintln!(
                "fanout: {} members invited after {:.1} s",
                rounds.invited.load(Ordering::Acquire),
                started.elapsed().as_secs_f64()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
            Some(thread)
        }
    };
    // The teacher's own frames (ok, sent, its presence echo) are read and dropped.
    let (mut teacher_tx, mut teacher_rx) = teacher.split();
    let drain_teacher =
        tokio::spawn(async move { while let Some(Ok(_)) = teacher_rx.next().await {} });

    // Single broadcasts, each waited for.
    let mut last_ms = Vec::new();
    for k in 0..args.rounds {
        rounds.sent_ns[k].store(rounds.now_ns().max(1), Ordering::Release);
        teacher_tx
            .send(Message::Text(
                broadcast(k, thread.as_ref()).to_string().into(),
            ))
            .await?;
        let wait_until = Instant::now() + Duration::from_secs(10);
        while (rounds.received[k].load(Ordering::Acquire) as usize) < joined
            && Instant::now() < wait_until
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let sent = rounds.sent_ns[k].load(Ordering::Acquire);
        let last = rounds.last_ns[k].load(Ordering::Acquire);
        last_ms.push(last.saturating_sub(sent) as f64 / 1e6);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Sustained: broadcasts on a schedule, memory sampled every second.
    let mut rss: Vec<Sample> = vec![sample(target.pid)?];
    let sustain_start = Instant::now();
    let period = Duration::from_secs_f64(1.0 / broadcasts_per_sec);
    let mut next_sample = sustain_start + Duration::from_secs(1);
    let delivered_before = rounds.delivered.load(Ordering::Acquire);
    for j in 0..sustain_rounds {
        let k = args.rounds + j;
        let at = sustain_start + period.mul_f64(j as f64);
        tokio::time::sleep_until(at.into()).await;
        rounds.sent_ns[k].store(rounds.now_ns().max(1), Ordering::Release);
        teacher_tx
            .send(Message::Text(
                broadcast(k, thread.as_ref()).to_string().into(),
            ))
            .await?;
        if Instant::now() >= next_sample {
            rss.push(sample(target.pid)?);
            next_sample += Duration::from_secs(1);
        }
    }
    let expected = (sustain_rounds * joined) as u64;
    let drain_until = Instant::now() + Duration::from_secs(15);
    while rounds.delivered.load(Ordering::Acquire) - delivered_before < expected
        && Instant::now() < drain_until
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sustain_time = sustain_start.elapsed();
    rss.push(sample(target.pid)?);
    let sustained = rounds.delivered.load(Ordering::Acquire) - delivered_before;
    let _stopped = stop_tx.send(true);
    let mut delivery_ms = Vec::new();
    let mut sustain_delivery_ms = Vec::new();
    for m in members {
        for (k, lat) in m.await? {
            if k < args.rounds {
                delivery_ms.push(lat);
            } else {
                sustain_delivery_ms.push(lat);
            }
        }
    }
    drain_teacher.abort();
    let mut sustain_last_ms: Vec<f64> = (args.rounds..total_rounds)
        .map(|k| {
            let sent = rounds.sent_ns[k].load(Ordering::Acquire);
            let last = rounds.last_ns[k].load(Ordering::Acquire);
            last.saturating_sub(sent) as f64 / 1e6
        })
        .collect();
    let mut line = String::from("last delivery of each single broadcast, ms:");
    for ms in &last_ms {
        line.push_str(&format!(" {ms:.0}"));
    }
    sort(&mut last_ms);
    sort(&mut delivery_ms);
    sort(&mut sustain_last_ms);
    sort(&mut sustain_delivery_ms);

    let mut s = Summary::new("fanout", common.target.name());
    s.param("members", args.members)
        .param("rounds", args.rounds)
        .param("rate", args.rate)
        .param("sustain_secs", args.sustain_secs)
        .param("broadcast", args.broadcast.describe());
    s.figure("members_reached", joined as f64, "members")
        .figure("connect_secs", connect_time.as_secs_f64(), "s")
        .figure("last_delivery_p50", percentile(&last_ms, 50.0), "ms")
        .figure("last_delivery_p99", percentile(&last_ms, 99.0), "ms")
        .figure("delivery_p50", percentile(&delivery_ms, 50.0), "ms")
        .figure("delivery_p99", percentile(&delivery_ms, 99.0), "ms");
    s.note(line);
    if args.sustain_secs > 0 {
        let rss_mib: Vec<f64> = rss.iter().map(|r| r.rss_kib as f64 / 1024.0).collect();
        let min = rss_mib.iter().copied().fold(f64::INFINITY, f64::min);
        let max = rss_mib.iter().copied().fold(0.0, f64::max);
        s.figure("sustain_expected", expected as f64, "deliveries")
            .figure("sustain_delivered", sustained as f64, "deliveries")
            .figure(
                "sustain_rate",
                sustained as f64 / sustain_time.as_secs_f64(),
                "deliveries/s",
            )
            .figure("sustain_secs_taken", ms(sustain_time) / 1e3, "s")
            .figure(
                "sustain_last_delivery_p99",
                percentile(&sustain_last_ms, 99.0),
                "ms",
            )
            .figure(
                "sustain_delivery_p99",
                percentile(&sustain_delivery_ms, 99.0),
                "ms",
            )
            .figure("rss_first", rss_mib[0], "MiB")
            .figure("rss_last", rss_mib[rss_mib.len() - 1], "MiB")
            .figure("rss_min", min, "MiB")
            .figure("rss_max", max, "MiB")
            .figure(
                "server_cpu",
                crate::procfs::cpu_percent(&rss[0], &rss[rss.len() - 1]),
                "% of a core",
            );
        let mut line = String::from("rss MiB each second:");
        for r in &rss_mib {
            line.push_str(&format!(" {r:.0}"));
        }
        s.note(line);
    }
    Ok(s)
}

/// A member: reads until told to stop, timing every broadcast it gets. Returns the latency of
/// each delivery (round, ms).
async fn member(
    mut ws: Ws,
    kind: Broadcast,
    rounds: Arc<Rounds>,
    mut stop: watch::Receiver<bool>,
) -> Vec<(usize, f64)> {
    let mut got = 0usize;
    let mut latencies = Vec::new();
    loop {
        let msg = tokio::select! {
            msg = ws.next() => msg,
            _ = stop.changed() => break,
        };
        let Some(Ok(msg)) = msg else { break };
        let Message::Text(text) = msg else { continue };
        if text.starts_with(r#"{"type":"session_invite""#) {
            rounds.invited.fetch_add(1, Ordering::AcqRel);
        }
        if !kind.is_broadcast(&text) {
            continue;
        }
        let now = rounds.now_ns();
        let k = got;
        got += 1;
        rounds.delivered.fetch_add(1, Ordering::AcqRel);
        let Some(sent) = rounds.sent_ns.get(k) else {
            continue;
        };
        let sent = sent.load(Ordering::Acquire);
        rounds.last_ns[k].fetch_max(now, Ordering::AcqRel);
        rounds.received[k].fetch_add(1, Ordering::AcqRel);
        latencies.push((k, now.saturating_sub(sent) as f64 / 1e6));
    }
    latencies
}
