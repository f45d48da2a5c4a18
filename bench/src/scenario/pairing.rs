//! Row e, over sockets: a pairing storm. Teachers go available; then every student asks for
//! help at once (individual, online), spread over subjects; each teacher accepts every offer
//! as it arrives and ends the session at once, which makes them available for the next one.
//! Checks that every request is matched, and in queue order per subject.

use super::{CLASS, Common};
use crate::procfs::{cpu_percent, sample};
use crate::stats::{Summary, ms, percentile, sort};
use crate::target::Kind;
use crate::tokens;
use futures_util::StreamExt;
use konsult_testkit::ws::{Ws, connect_as, recv_type, send, source};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Barrier, watch};
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Debug, clap::Args)]
pub struct PairingArgs {
    #[arg(long, default_value_t = 2_000)]
    pub students: usize,
    #[arg(long, default_value_t = 100)]
    pub teachers: usize,
    /// Subjects the requests and teachers are spread over.
    #[arg(long, default_value_t = 4)]
    pub subjects: usize,
    /// Longest the storm may take.
    #[arg(long, default_value_t = 120)]
    pub timeout_secs: u64,
}

const SUBJECTS: [&str; 8] = [
    "math",
    "physics",
    "russian",
    "chemistry",
    "biology",
    "history",
    "english",
    "literature",
];

/// One offer a teacher received.
#[derive(Debug)]
struct Offer {
    subject: String,
    request: i64,
    at: Duration,
}

/// What a teacher saw.
#[derive(Debug, Default)]
struct TeacherLog {
    offers: Vec<Offer>,
    errors: Vec<String>,
}

/// What a student saw.
#[derive(Debug, Default)]
struct StudentLog {
    queued: Option<i64>,
    started: Option<Duration>,
    frames: u64,
    error: Option<String>,
}

pub async fn run(common: &Common, args: &PairingArgs) -> anyhow::Result<Summary> {
    anyhow::ensure!(
        common.target == Kind::Konsult,
        "the pairing storm needs Konsult's hub; the baseline has none"
    );
    let subjects = &SUBJECTS[..args.subjects.clamp(1, SUBJECTS.len())];
    let total = args.students + args.teachers;
    let env = [("KONSULT_SERVER_MAX_CONNECTIONS", (total + 100).to_string())];
    let target = common.start(&env)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let start = Instant::now();

    let mut teachers = Vec::new();
    for t in 0..args.teachers {
        let subject = subjects[t % subjects.len()];
        let token = tokens::teacher(t, &[subject]);
        let mut ws = connect_as(target.addr, source(t, common.sources), &token).await?;
        send(
            &mut ws,
            &json!({"type": "set_status", "status": "available", "rid": 0}),
        )
        .await?;
        recv_type(&mut ws, "ok", Duration::from_secs(10)).await?;
        teachers.push(tokio::spawn(teacher(ws, start, stop_rx.clone())));
    }

    let barrier = Arc::new(Barrier::new(args.students + 1));
    let gate = Arc::new(tokio::sync::Semaphore::new(common.concurrency.max(1)));
    let mut students = Vec::new();
    for i in 0..args.students {
        let subject = subjects[i % subjects.len()].to_string();
        let token = tokens::student(i, CLASS);
        let (addr, src) = (target.addr, source(i + args.teachers, common.sources));
        let (barrier, gate, deadline) = (
            barrier.clone(),
            gate.clone(),
            Duration::from_secs(args.timeout_secs),
        );
        students.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await;
            let ws = connect_as(addr, src, &token).await;
            drop(permit);
            barrier.wait().await;
            match ws {
                Ok(ws) => student(ws, subject, start, deadline).await,
                Err(e) => StudentLog {
                    error: Some(format!("{e:#}")),
                    ..StudentLog::default()
                },
            }
        }));
    }
    barrier.wait().await;
    let storm_start = start.elapsed();
    let before = sample(target.pid)?;
    let mut logs = Vec::new();
    for s in students {
        logs.push(s.await?);
    }
    let after = sample(target.pid)?;
    let _stopped = stop_tx.send(true);
    let mut teacher_logs = Vec::new();
    for t in teachers {
        teacher_logs.push(t.await?);
    }

    // Every request matched.
    let matched = logs.iter().filter(|l| l.started.is_some()).count();
    let mut waits: Vec<f64> = logs
        .iter()
        .filter_map(|l| l.started)
        .map(|t| ms(t.saturating_sub(storm_start)))
        .collect();
    sort(&mut waits);
    let storm_ms = waits.last().copied().unwrap_or(0.0);
    let frames: u64 = logs.iter().map(|l| l.frames).sum();
    // Queue order: each teacher's offers of a subject come in request order, and over all
    // teachers of a subject, offers in arrival order follow request order.
    let mut per_teacher_violations = 0usize;
    let mut by_subject: BTreeMap<&str, Vec<(Duration, i64)>> = BTreeMap::new();
    for log in &teacher_logs {
        let mut last: BTreeMap<&str, i64> = BTreeMap::new();
        for offer in &log.offers {
            let prev = last.insert(&offer.subject, offer.request);
            if prev.is_some_and(|p| p > offer.request) {
                per_teacher_violations += 1;
            }
            by_subject
                .entry(&offer.subject)
                .or_default()
                .push((offer.at, offer.request));
        }
    }
    let mut inversions = 0usize;
    let mut worst_inversion = Duration::ZERO;
    for offers in by_subject.values_mut() {
        offers.sort();
        for (i, (at, req)) in offers.iter().enumerate() {
            // An earlier request offered after this later one: how much later did it arrive?
            if let Some((later_at, _)) = offers[i + 1..].iter().find(|(_, r)| r < req) {
                inversions += 1;
                worst_inversion = worst_inversion.max(later_at.saturating_sub(*at));
            }
        }
    }
    let offers: usize = teacher_logs.iter().map(|l| l.offers.len()).sum();
    let teacher_errors: usize = teacher_logs.iter().map(|l| l.errors.len()).sum();

    let mut s = Summary::new("pairing", common.target.name());
    s.param("students", args.students)
        .param("teachers", args.teachers)
        .param("subjects", subjects.len());
    s.figure("matched", matched as f64, "requests")
        .figure(
            "queued",
            logs.iter().filter(|l| l.queued.is_some()).count() as f64,
            "requests",
        )
        .figure("offers", offers as f64, "offers")
        .figure("storm_ms", storm_ms, "ms")
        .figure("wait_p50", percentile(&waits, 50.0), "ms")
        .figure("wait_p99", percentile(&waits, 99.0), "ms")
        .figure(
            "per_teacher_order_violations",
            per_teacher_violations as f64,
            "offers",
        )
        .figure("arrival_inversions", inversions as f64, "offers")
        .figure("worst_inversion", ms(worst_inversion), "ms")
        .figure("student_frames", frames as f64, "frames")
        .figure("teacher_errors", teacher_errors as f64, "errors")
        .figure(
            "server_cpu_secs",
            crate::procfs::cpu_secs(&before, &after),
            "s",
        )
        .figure("server_cpu", cpu_percent(&before, &after), "% of a core");
    if let Some(e) = logs.iter().find_map(|l| l.error.as_ref()) {
        s.note(format!("first student error: {e}"));
    }
    if let Some(e) = teacher_logs.iter().find_map(|l| l.errors.first()) {
        s.note(format!("first teacher error: {e}"));
    }
    Ok(s)
}

/// A teacher: accepts every offer, ends each session at once.
async fn teacher(mut ws: Ws, start: Instant, mut stop: watch::Receiver<bool>) -> TeacherLog {
    let mut log = TeacherLog::default();
    let mut rid = 1i64;
    loop {
        let msg = tokio::select! {
            msg = ws.next() => msg,
            _ = stop.changed() => break,
        };
        let Some(Ok(Message::Text(text))) = msg else {
            if matches!(msg, None | Some(Err(_))) {
                break;
            }
            continue;
        };
        let Ok(value) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let reply = match value["type"].as_str() {
            Some("help_offer") => {
                let request = value["request"]["id"].as_i64().unwrap_or(0);
                log.offers.push(Offer {
                    subject: value["request"]["subject"].as_str().unwrap_or("").into(),
                    request,
                    at: start.elapsed(),
                });
                json!({"type": "accept", "request": request, "rid": rid})
            }
            Some("session_started") if value.get("re").is_some() => {
                let session = value["session"]["id"].as_i64().unwrap_or(0);
                json!({"type": "end_session", "session": session, "rid": rid})
            }
            Some("error") => {
                log.errors.push(text.to_string());
                continue;
            }
            _ => continue,
        };
        rid += 1;
        if send(&mut ws, &reply).await.is_err() {
            break;
        }
    }
    log
}

/// A student: asks for help and waits for the session.
async fn student(mut ws: Ws, subject: String, start: Instant, deadline: Duration) -> StudentLog {
    let mut log = StudentLog::default();
    let ask = json!({"type": "request_help", "subject": subject, "form": "individual",
                     "mode": "online", "topic": "bench", "rid": 1});
    if let Err(e) = send(&mut ws, &ask).await {
        log.error = Some(format!("{e:#}"));
        return log;
    }
    let until = tokio::time::Instant::now() + deadline;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(until, ws.next()).await {
        let Message::Text(text) = msg else { continue };
        log.frames += 1;
        let Ok(value) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        match value["type"].as_str() {
            Some("request_queued") => log.queued = value["request"]["id"].as_i64(),
            Some("session_started") => {
                log.started = Some(start.elapsed());
                break;
            }
            Some("error") | Some("request_deferred") => {
                log.error = Some(text.to_string());
                break;
            }
            _ => {}
        }
    }
    // Stay connected a moment so that leaving does not disturb the storm's tail.
    tokio::time::sleep(Duration::from_millis(200)).await;
    log
}
