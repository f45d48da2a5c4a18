//! Rows f and g against Konsult: a teacher publishing in a frontal session, students joining
//! it through the SFU, each on its own WebSocket and str0m peer.

use super::reception::{Counters, Joined, Reception};
use super::run::{Run, window};
use super::{AUDIO_PER_SEC, BASELINE_MTU, MediaArgs};
use crate::procfs::{cpu_secs, sample};
use crate::rtc::{Peer, audio_frame, clock_ns, signal, video_frame};
use crate::scenario::{CLASS, Common, student_tokens};
use crate::stats::sort;
use crate::tokens;
use anyhow::Context;
use futures_util::StreamExt;
use konsult_testkit::ws::{Ws, connect, hello, recv_type, send, small_config, source};
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use str0m::Event;
use str0m::format::Codec;
use str0m::media::{Frequency, MediaTime};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

/// How long a member may take from its offer to its first keyframe before it counts as lost.
const JOIN_LIMIT: Duration = Duration::from_secs(30);

/// Everything a Konsult run's tasks share.
#[derive(Debug)]
struct Ctx {
    addr: SocketAddr,
    counters: Counters,
    session: watch::Receiver<i64>,
    go: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
    gate: Semaphore,
}

/// The orchestrator's channels a member reports each step on, once: its user id, its join
/// of the session, its first keyframe. Steps not reported when the member ends fail.
struct Steps {
    id: Option<mpsc::UnboundedSender<Option<i64>>>,
    ready: Option<mpsc::UnboundedSender<bool>>,
    joined: Option<mpsc::UnboundedSender<Joined>>,
}

impl Steps {
    /// Reports the first step not reported as failed; the orchestrator does not wait for
    /// later steps of a member that failed an earlier one.
    fn fail(&mut self) {
        if let Some(id) = self.id.take() {
            let _ = id.send(None);
        } else if let Some(ready) = self.ready.take() {
            let _ = ready.send(false);
        } else if let Some(joined) = self.joined.take() {
            let _ = joined.send(Joined {
                connect_ns: None,
                keyframe_ns: None,
            });
        }
    }
}

/// Konsult: a teacher publishes in a frontal session; `members` students join it, at most
/// `concurrency` negotiating at once; then `secs` of forwarding are measured.
pub(super) async fn run(
    common: &Common,
    members: usize,
    concurrency: usize,
    secs: u64,
    media: &MediaArgs,
) -> anyhow::Result<Run> {
    let env = [(
        "KONSULT_SERVER_MAX_CONNECTIONS",
        (members + 100).to_string(),
    )];
    let target = common.start(&env)?;
    eprintln!("media: server pid {}", target.pid);
    let mut teacher = connect(target.addr, source(0, common.sources), small_config()).await?;
    hello(&mut teacher, &tokens::teacher(0, &["math"])).await?;

    let (session_tx, session_rx) = watch::channel(0i64);
    let (go_tx, go_rx) = watch::channel(false);
    let (stop_tx, stop_rx) = watch::channel(false);
    let ctx = Arc::new(Ctx {
        addr: target.addr,
        counters: Counters::default(),
        session: session_rx,
        go: go_rx,
        stop: stop_rx,
        gate: Semaphore::new(concurrency.max(1)),
    });
    // Students connect (a few at a time), say who they are, join when the session exists,
    // then wait for the go.
    let (ids_tx, mut ids_rx) = mpsc::unbounded_channel::<Option<i64>>();
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<bool>();
    let (joined_tx, mut joined_rx) = mpsc::unbounded_channel::<Joined>();
    let connecting = Arc::new(Semaphore::new(common.concurrency.max(1)));
    let mut tasks = Vec::new();
    for (i, token) in student_tokens(0, members, CLASS).into_iter().enumerate() {
        let src = source(i + 1, common.sources);
        let (ctx, connecting) = (ctx.clone(), connecting.clone());
        let (ids, ready, joined) = (ids_tx.clone(), ready_tx.clone(), joined_tx.clone());
        tasks.push(tokio::spawn(async move {
            let mut steps = Steps {
                id: Some(ids),
                ready: Some(ready),
                joined: Some(joined),
            };
            let result = subscriber(&ctx, src, &token, &connecting, &mut steps).await;
            if let Err(e) = &result {
                eprintln!("member {i}: {e:#}");
            }
            steps.fail();
            result.unwrap_or_default()
        }));
    }
    drop((ids_tx, ready_tx, joined_tx));
    let mut ids = Vec::new();
    for _ in 0..members {
        match ids_rx.recv().await {
            Some(Some(id)) => ids.push(id),
            Some(None) => {}
            None => break,
        }
    }
    anyhow::ensure!(!ids.is_empty(), "no student connected");
    send(
        &mut teacher,
        &json!({"type": "create_session", "form": "frontal", "subject": "math",
                "title": "bench", "invite": ids, "rid": 1}),
    )
    .await?;
    let started = recv_type(&mut teacher, "session_started", Duration::from_secs(30)).await?;
    let session = started["session"]["id"]
        .as_i64()
        .context("session_started without an id")?;
    session_tx.send(session)?;
    let mut ready = 0usize;
    for _ in 0..ids.len() {
        match ready_rx.recv().await {
            Some(true) => ready += 1,
            Some(false) => {}
            None => break,
        }
    }
    let published = Arc::new(AtomicBool::new(false));
    let publisher = tokio::spawn({
        let (ctx, media, published) = (ctx.clone(), media.clone(), published.clone());
        async move {
            let result = publish(teacher, session, ctx, media, published).await;
            if let Err(e) = &result {
                eprintln!("publisher: {e:#}");
            }
        }
    });
    let wait_until = Instant::now() + Duration::from_secs(20);
    while !published.load(Ordering::Acquire) && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    anyhow::ensure!(
        published.load(Ordering::Acquire),
        "the publisher did not connect to the SFU within 20 s"
    );
    // A second of media before the crowd offers, as in a lesson already under way.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut run = Run::default();
    let join_started = Instant::now();
    let (server_before, load_before) = (sample(target.pid)?, sample(std::process::id())?);
    eprintln!("media: {ready} members offer now");
    go_tx.send(true)?;
    for _ in 0..ready {
        match tokio::time::timeout(JOIN_LIMIT + Duration::from_secs(5), joined_rx.recv()).await {
            Ok(Some(j)) => run.joins.push(j),
            _ => break,
        }
    }
    run.join_secs = join_started.elapsed().as_secs_f64();
    run.join_server_cpu_ms = cpu_secs(&server_before, &sample(target.pid)?) * 1e3;
    run.join_load_cpu_ms = cpu_secs(&load_before, &sample(std::process::id())?) * 1e3;
    run.receiving = run.joins.iter().filter(|j| j.keyframe_ns.is_some()).count();
    eprintln!(
        "media: {} of {members} members receiving after {:.1} s",
        run.receiving, run.join_secs
    );
    if secs > 0 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        window(target.pid, secs, &ctx.counters, &mut run).await?;
    }
    stop_tx.send(true)?;
    let mut delays = Vec::new();
    for task in tasks {
        delays.extend(task.await?);
    }
    let _ = publisher.await;
    run.delays_ms = delays.iter().map(|&us| f64::from(us) / 1e3).collect();
    sort(&mut run.delays_ms);
    if ready < members {
        run.notes
            .push(format!("{} members never joined", members - ready));
    }
    Ok(run)
}

/// One student: connects, joins the session, then (on the go and a free slot) offers to the
/// SFU and receives until told to stop. Returns the delays it recorded, µs.
async fn subscriber(
    ctx: &Ctx,
    src: IpAddr,
    token: &str,
    connecting: &Semaphore,
    steps: &mut Steps,
) -> anyhow::Result<Vec<u32>> {
    let permit = connecting.acquire().await?;
    let mut ws = connect(ctx.addr, src, small_config()).await?;
    let welcome = hello(&mut ws, token).await?;
    drop(permit);
    let id = welcome["user"]["id"]
        .as_i64()
        .context("welcome without id")?;
    if let Some(ids) = steps.id.take() {
        let _ = ids.send(Some(id));
    }
    let mut session_rx = ctx.session.clone();
    let session = *session_rx.wait_for(|s| *s != 0).await?;
    send(
        &mut ws,
        &json!({"type": "join_session", "session": session, "rid": 2}),
    )
    .await?;
    recv_type(&mut ws, "session_started", Duration::from_secs(60)).await?;
    if let Some(ready) = steps.ready.take() {
        let _ = ready.send(true);
    }
    // The member's peer, with its DTLS key and certificate, is made before the go, as a
    // browser makes them with its RTCPeerConnection, on its own device: at the go 200 of them
    // would otherwise be generated at once on the same two cores as the server.
    let mut peer = Peer::bind(src, true).await?;
    // Pushes keep coming while the others join: read them.
    let mut go = ctx.go.clone();
    loop {
        tokio::select! {
            r = go.wait_for(|g| *g) => { r?; break; }
            msg = ws.next() => { msg.context("closed while waiting")??; }
        }
    }
    let permit = ctx.gate.acquire().await?;
    let mut permit = Some(permit);
    let offer = peer.offer_receive()?;
    let offered = clock_ns();
    send(&mut ws, &signal(session, offer)).await?;
    let mut reception = Reception::default();
    let mut connected: Option<u64> = None;
    let mut reported = false;
    let mut stop = ctx.stop.clone();
    let mut buf = vec![0u8; 2048];
    let give_up = tokio::time::Instant::now() + JOIN_LIMIT;
    loop {
        let timeout = peer.drain(|event| match event {
            Event::Connected => connected = Some(clock_ns()),
            Event::RtpPacket(p) => {
                reception.packet(*p.header.ssrc, *p.seq_no, &p.payload, &ctx.counters)
            }
            _ => {}
        })?;
        if !reported
            && (reception.first_keyframe.is_some() || tokio::time::Instant::now() >= give_up)
        {
            reported = true;
            drop(permit.take());
            if let Some(joined) = steps.joined.take() {
                let _ = joined.send(Joined {
                    connect_ns: connected.map(|c| c.saturating_sub(offered)),
                    keyframe_ns: reception.first_keyframe.map(|k| k.saturating_sub(offered)),
                });
            }
        }
        let wake = tokio::time::Instant::from_std(timeout).min(if reported {
            tokio::time::Instant::from_std(timeout)
        } else {
            give_up
        });
        tokio::select! {
            r = peer.socket.recv_from(&mut buf) => {
                let (n, from) = r?;
                // A datagram str0m cannot take (stray, late) is not fatal.
                let _ = peer.receive(&buf[..n], from);
            }
            msg = ws.next() => {
                let msg = msg.context("closed")??;
                if let Message::Text(text) = msg {
                    let value: Value = serde_json::from_str(&text)?;
                    if value["type"] == "signal" && value["from"] == "sfu" {
                        if let Some(answer) = peer.on_signal(&value["data"])? {
                            send(&mut ws, &signal(session, answer)).await?;
                        }
                    } else if value["type"] == "error" {
                        anyhow::bail!("error from the server: {value}");
                    }
                }
            }
            _ = tokio::time::sleep_until(wake) => peer.tick()?,
            _ = stop.changed() => break,
        }
    }
    Ok(reception.delays_us)
}

/// The teacher's peer: offers audio and video, then sends frames on schedule, a keyframe
/// first and whenever the SFU asks, until told to stop.
async fn publish(
    mut ws: Ws,
    session: i64,
    ctx: Arc<Ctx>,
    media: MediaArgs,
    published: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let mut peer = Peer::bind(IpAddr::from([127, 0, 0, 1]), false).await?;
    let (offer, audio, video) = peer.offer_publish()?;
    send(&mut ws, &signal(session, offer)).await?;
    let frame_bytes = media.frame_bytes();
    // Packets of a frame as str0m cuts it (about 1,150 bytes of payload each).
    let packets_per_frame = frame_bytes.div_ceil(BASELINE_MTU) as u64;
    let mut audio_tick = tokio::time::interval(Duration::from_secs(1) / AUDIO_PER_SEC);
    let mut video_tick = tokio::time::interval(Duration::from_secs(1) / media.fps.max(1));
    let mut connected = false;
    let mut key_next = true;
    let mut keyframes_asked = 0u64;
    let (mut audio_n, mut video_n) = (0u64, 0u64);
    let mut stop = ctx.stop.clone();
    let mut buf = vec![0u8; 2048];
    loop {
        let timeout = peer.drain(|event| match event {
            Event::Connected => connected = true,
            Event::KeyframeRequest(_) => {
                key_next = true;
                keyframes_asked += 1;
            }
            _ => {}
        })?;
        if connected {
            published.store(true, Ordering::Release);
        }
        tokio::select! {
            r = peer.socket.recv_from(&mut buf) => {
                let (n, from) = r?;
                let _ = peer.receive(&buf[..n], from);
            }
            msg = ws.next() => {
                let msg = msg.context("teacher closed")??;
                if let Message::Text(text) = msg {
                    let value: Value = serde_json::from_str(&text)?;
                    if value["type"] == "signal"
                        && value["from"] == "sfu"
                        && let Some(answer) = peer.on_signal(&value["data"])?
                    {
                        send(&mut ws, &signal(session, answer)).await?;
                    } else if value["type"] == "error" {
                        anyhow::bail!("error from the server: {value}");
                    }
                }
            }
            _ = audio_tick.tick(), if connected => {
                let frame = audio_frame(clock_ns(), audio_n as u32, media.audio_bytes);
                let time = MediaTime::new(audio_n * 960, Frequency::FORTY_EIGHT_KHZ);
                audio_n += 1;
                if peer.write(audio, Codec::Opus, time, frame) {
                    ctx.counters.published.fetch_add(1, Ordering::Relaxed);
                }
                peer.tick()?;
            }
            _ = video_tick.tick(), if connected => {
                let frame = video_frame(clock_ns(), video_n as u32, frame_bytes, key_next);
                let time = MediaTime::from_90khz(video_n * 90_000 / u64::from(media.fps.max(1)));
                video_n += 1;
                if peer.write(video, Codec::Vp8, time, frame) {
                    key_next = false;
                    ctx.counters.published.fetch_add(packets_per_frame, Ordering::Relaxed);
                }
                peer.tick()?;
            }
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(timeout)) => peer.tick()?,
            _ = stop.changed() => break,
        }
    }
    eprintln!("media: the publisher was asked for {keyframes_asked} keyframes");
    Ok(())
}
