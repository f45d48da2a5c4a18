//! Row b: signaling round trips with row a's crowd connected. Probe clients send requests on
//! a fixed schedule (open loop: a slow reply never delays the next request), each carrying its
//! send time as `rid`; the reply's `re` gives the round trip.

use super::{CLASS, Common, student_tokens};
use crate::crowd::crowd;
use crate::procfs::{cpu_percent, sample};
use crate::stats::{Summary, percentile, sort};
use futures_util::{SinkExt, StreamExt};
use konsult_testkit::ws::{Ws, connect_as, source};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Debug, clap::Args)]
pub struct RttArgs {
    /// Idle clients connected while probing (row a's crowd).
    #[arg(long, default_value_t = 1_000)]
    pub idle: usize,
    /// Probe clients (Konsult allows 30 messages/s per connection by default).
    #[arg(long, default_value_t = 100)]
    pub clients: usize,
    /// Requests per second over all probes.
    #[arg(long, default_value_t = 2_000)]
    pub rate: u32,
    /// Seconds measured.
    #[arg(long, default_value_t = 20)]
    pub secs: u64,
    /// Seconds sent before measuring.
    #[arg(long, default_value_t = 3)]
    pub warmup_secs: u64,
    /// The request: `ping` (answered by the connection) or `list_teachers` (by the hub).
    #[arg(long, default_value = "ping")]
    pub request: String,
}

/// What one probe saw.
#[derive(Debug, Default)]
struct Probe {
    rtts_ms: Vec<f64>,
    sent: u64,
    errors: u64,
    first_error: Option<String>,
}

pub async fn run(common: &Common, args: &RttArgs) -> anyhow::Result<Summary> {
    let total = args.idle + args.clients;
    let env = [("KONSULT_SERVER_MAX_CONNECTIONS", (total + 100).to_string())];
    let target = common.start(&env)?;
    let crowd = crowd(
        target.addr,
        student_tokens(0, args.idle, CLASS),
        common.sources,
        common.concurrency,
    )
    .await;
    let mut probes = Vec::new();
    for (j, token) in student_tokens(args.idle, args.clients, CLASS)
        .into_iter()
        .enumerate()
    {
        probes.push(connect_as(target.addr, source(j, common.sources), &token).await?);
    }
    let base = Instant::now() + Duration::from_millis(200);
    let start_measure = base + Duration::from_secs(args.warmup_secs);
    let end = start_measure + Duration::from_secs(args.secs);
    let period = Duration::from_secs_f64(args.clients as f64 / f64::from(args.rate.max(1)));
    let mut tasks = Vec::new();
    for (j, ws) in probes.into_iter().enumerate() {
        let first = base + period.mul_f64(j as f64 / args.clients as f64);
        let request = args.request.clone();
        tasks.push(tokio::spawn(probe(
            ws,
            request,
            base,
            first,
            period,
            start_measure,
            end,
        )));
    }
    tokio::time::sleep_until(start_measure.into()).await;
    let before = sample(target.pid)?;
    tokio::time::sleep_until(end.into()).await;
    let after = sample(target.pid)?;
    let mut rtts = Vec::new();
    let (mut sent, mut errors, mut first_error) = (0, 0, None);
    for task in tasks {
        let p = task.await?;
        rtts.extend(p.rtts_ms);
        sent += p.sent;
        errors += p.errors;
        first_error = first_error.or(p.first_error);
    }
    sort(&mut rtts);
    let held = crowd.counters.open.load(Ordering::Relaxed);

    let mut s = Summary::new("rtt", common.target.name());
    s.param("idle", args.idle)
        .param("clients", args.clients)
        .param("rate", args.rate)
        .param("secs", args.secs)
        .param("request", &args.request);
    s.figure("idle_held", held as f64, "connections")
        .figure("sent", sent as f64, "requests")
        .figure("answered", rtts.len() as f64, "replies")
        .figure("errors", errors as f64, "replies")
        .figure(
            "rate_achieved",
            rtts.len() as f64 / args.secs as f64,
            "req/s",
        )
        .figure("p50", percentile(&rtts, 50.0), "ms")
        .figure("p90", percentile(&rtts, 90.0), "ms")
        .figure("p99", percentile(&rtts, 99.0), "ms")
        .figure("p999", percentile(&rtts, 99.9), "ms")
        .figure("max", rtts.last().copied().unwrap_or(0.0), "ms")
        .figure("server_cpu", cpu_percent(&before, &after), "% of a core");
    if let Some(e) = first_error {
        s.note(format!("first error reply: {e}"));
    }
    drop(crowd);
    Ok(s)
}

/// Sends `request` every `period` from `first` until `end` and collects the round trips of
/// those sent from `measure`.
async fn probe(
    ws: Ws,
    request: String,
    base: Instant,
    first: Instant,
    period: Duration,
    measure: Instant,
    end: Instant,
) -> Probe {
    let (mut sink, mut stream) = ws.split();
    let since_base = move |t: Instant| t.duration_since(base).as_nanos() as i64;
    let writer = async {
        let mut tick = tokio::time::interval_at(first.into(), period);
        let mut sent = 0u64;
        loop {
            let at = tick.tick().await.into_std();
            if at >= end {
                break;
            }
            let now = Instant::now();
            let msg = json!({"type": request, "rid": since_base(now)});
            if sink
                .send(Message::Text(msg.to_string().into()))
                .await
                .is_err()
            {
                break;
            }
            if now >= measure {
                sent += 1;
            }
        }
        sent
    };
    let reader = async {
        let mut p = Probe::default();
        let deadline = tokio::time::Instant::from(end + Duration::from_secs(2));
        while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, stream.next()).await {
            let Message::Text(text) = msg else { continue };
            let now = since_base(Instant::now());
            let Ok(value) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            let Some(re) = value["re"].as_i64() else {
                continue;
            };
            if re < since_base(measure) {
                continue;
            }
            if value["type"] == "error" {
                p.errors += 1;
                p.first_error.get_or_insert_with(|| text.to_string());
                continue;
            }
            p.rtts_ms.push((now - re) as f64 / 1e6);
        }
        p
    };
    let (sent, mut p) = tokio::join!(writer, reader);
    p.sent = sent;
    p
}
