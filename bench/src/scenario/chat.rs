//! Row d: durable chat. Each sender is a student with a personal thread to one teacher (who
//! stays offline, so nothing fans out); senders `send` on a fixed schedule (open loop), each
//! message carrying its send time as `rid`, and `sent` (which Konsult sends only after the
//! commit and fsync) gives the acknowledgement latency. With `--closed-loop` each sender waits
//! for its `sent` before the next `send`: with one sender, every message is its own commit,
//! the one-commit-per-message baseline.

use super::{CLASS, Common, student_tokens};
use crate::procfs::{cpu_percent, sample};
use crate::stats::{Summary, percentile, sort};
use crate::target::Kind;
use crate::tokens;
use futures_util::{SinkExt, StreamExt};
use konsult_testkit::ws::{Ws, connect_as, recv_type, send, source};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Debug, clap::Args)]
pub struct ChatArgs {
    /// Senders, each on its own connection and thread.
    #[arg(long, default_value_t = 1_000)]
    pub senders: usize,
    /// Messages per second over all senders (open loop).
    #[arg(long, default_value_t = 20_000)]
    pub rate: u32,
    /// Seconds measured.
    #[arg(long, default_value_t = 10)]
    pub secs: u64,
    /// Each sender waits for `sent` before sending again (rate is ignored).
    #[arg(long)]
    pub closed_loop: bool,
    /// First student number of the senders (other scenarios' students are not reused).
    #[arg(long, default_value_t = 30_000)]
    pub first: usize,
}

#[derive(Debug, Default)]
struct SenderLog {
    acks_ms: Vec<f64>,
    sent: u64,
    errors: u64,
    first_error: Option<String>,
}

pub async fn run(common: &Common, args: &ChatArgs) -> anyhow::Result<Summary> {
    anyhow::ensure!(
        common.target == Kind::Konsult,
        "durable chat needs Konsult's store; the baseline has none"
    );
    // The per-connection message rate is a policy, not the store's limit: lifted here so that a
    // single closed-loop sender measures commits, not the rate limiter.
    let env = [
        (
            "KONSULT_SERVER_MAX_CONNECTIONS",
            (args.senders + 100).to_string(),
        ),
        ("KONSULT_LIMITS_MESSAGES_PER_SECOND", "100000".to_string()),
        ("KONSULT_LIMITS_MESSAGE_BURST", "100000".to_string()),
    ];
    let target = common.start(&env)?;
    let teacher_token = tokens::teacher(0, &["math"]);
    // The teacher's id: from a welcome, as any client learns it.
    let teacher_id = {
        let mut ws = konsult_testkit::ws::connect(
            target.addr,
            source(0, common.sources),
            konsult_testkit::ws::small_config(),
        )
        .await?;
        let welcome = konsult_testkit::ws::hello(&mut ws, &teacher_token).await?;
        welcome["user"]["id"].as_i64().unwrap_or(0)
    };
    let mut senders = Vec::new();
    for (i, token) in student_tokens(args.first, args.senders, CLASS)
        .into_iter()
        .enumerate()
    {
        let mut ws = connect_as(target.addr, source(i + 1, common.sources), &token).await?;
        send(
            &mut ws,
            &json!({"type": "create_thread", "kind": "personal", "title": "",
                    "members": [teacher_id], "rid": 1}),
        )
        .await?;
        let added = recv_type(&mut ws, "thread_added", Duration::from_secs(30)).await?;
        let thread = added["thread"]["id"].as_i64().unwrap_or(0);
        senders.push((ws, thread));
    }
    let base = Instant::now() + Duration::from_millis(200);
    let end = base + Duration::from_secs(args.secs);
    let period = Duration::from_secs_f64(args.senders as f64 / f64::from(args.rate.max(1)));
    let before = sample(target.pid)?;
    let mut tasks = Vec::new();
    for (i, (ws, thread)) in senders.into_iter().enumerate() {
        let schedule = Schedule {
            base,
            first: base + period.mul_f64(i as f64 / args.senders as f64),
            period,
            end,
            closed_loop: args.closed_loop,
        };
        tasks.push(tokio::spawn(sender(ws, thread, i, schedule)));
    }
    let mut acks = Vec::new();
    let (mut sent, mut errors, mut first_error) = (0, 0, None);
    for t in tasks {
        let log = t.await?;
        acks.extend(log.acks_ms);
        sent += log.sent;
        errors += log.errors;
        first_error = first_error.or(log.first_error);
    }
    let after = sample(target.pid)?;
    sort(&mut acks);
    let mut s = Summary::new("chat", common.target.name());
    s.param("store", common.store())
        .param("senders", args.senders)
        .param("rate", if args.closed_loop { 0 } else { args.rate })
        .param("secs", args.secs)
        .param("closed_loop", args.closed_loop);
    s.figure("sent", sent as f64, "messages")
        .figure("acked", acks.len() as f64, "messages")
        .figure("errors", errors as f64, "replies")
        .figure(
            "acks_per_sec",
            acks.len() as f64 / args.secs as f64,
            "msg/s",
        )
        .figure("ack_p50", percentile(&acks, 50.0), "ms")
        .figure("ack_p99", percentile(&acks, 99.0), "ms")
        .figure("ack_max", acks.last().copied().unwrap_or(0.0), "ms")
        .figure("server_cpu", cpu_percent(&before, &after), "% of a core");
    if let Some(e) = first_error {
        s.note(format!("first error reply: {e}"));
    }
    Ok(s)
}

/// When one sender sends.
#[derive(Clone, Copy, Debug)]
struct Schedule {
    /// The run's start: `rid`s and client ids count from it.
    base: Instant,
    /// This sender's first message (senders are spread over a period).
    first: Instant,
    period: Duration,
    end: Instant,
    /// One message at a time, each after the last one's `sent`, instead of on the period.
    closed_loop: bool,
}

/// One sender, `me`, in `thread`: messages on a schedule (or one at a time), acknowledgements
/// timed.
async fn sender(ws: Ws, thread: i64, me: usize, schedule: Schedule) -> SenderLog {
    let Schedule {
        base,
        first,
        period,
        end,
        closed_loop,
    } = schedule;
    let (mut sink, mut stream) = ws.split();
    let since_base = move |t: Instant| t.duration_since(base).as_nanos() as i64;
    let mut log = SenderLog::default();
    let message = |k: u64| {
        json!({"type": "send", "thread": thread, "client_id": format!("b{me}-{k}-{}", since_base(Instant::now())),
               "text": "bench", "rid": since_base(Instant::now())})
    };
    let on_reply = |text: &str, log: &mut SenderLog| -> bool {
        let now = since_base(Instant::now());
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            return false;
        };
        let Some(re) = value["re"].as_i64() else {
            return false;
        };
        match value["type"].as_str() {
            Some("sent") => log.acks_ms.push((now - re) as f64 / 1e6),
            Some("error") => {
                log.errors += 1;
                log.first_error.get_or_insert_with(|| text.to_string());
            }
            _ => return false,
        }
        true
    };
    if closed_loop {
        tokio::time::sleep_until(first.into()).await;
        let mut k = 0u64;
        while Instant::now() < end {
            if sink
                .send(Message::Text(message(k).to_string().into()))
                .await
                .is_err()
            {
                break;
            }
            log.sent += 1;
            k += 1;
            loop {
                match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
                    Ok(Some(Ok(Message::Text(text)))) => {
                        if on_reply(&text, &mut log) {
                            break;
                        }
                    }
                    Ok(Some(Ok(_))) => {}
                    _ => return log,
                }
            }
        }
        return log;
    }
    let writer = async {
        let mut tick = tokio::time::interval_at(first.into(), period);
        let mut sent = 0u64;
        loop {
            let at = tick.tick().await.into_std();
            if at >= end {
                break;
            }
            if sink
                .send(Message::Text(message(sent).to_string().into()))
                .await
                .is_err()
            {
                break;
            }
            sent += 1;
        }
        sent
    };
    let reader = async {
        let mut log = SenderLog::default();
        let deadline = tokio::time::Instant::from(end + Duration::from_secs(5));
        while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, stream.next()).await {
            if let Message::Text(text) = msg {
                on_reply(&text, &mut log);
            }
        }
        log
    };
    let (sent, mut reader_log) = tokio::join!(writer, reader);
    reader_log.sent = sent;
    reader_log
}
