//! Rows f and g: one publisher (a teacher sending 360p-like VP8 video and audio) in a
//! frontal session, received through the SFU by many students. Every member is a real user
//! on its own WebSocket and a str0m peer on its own UDP socket; subscribers read raw RTP and
//! count sequence gaps and the delay from the send time stamped in each frame. Row f measures
//! the forwarding in a steady window (against the bare UDP forwarder of `konsult-baseline` for
//! the same packets); row g has every member offer at once and times ICE + DTLS and the first
//! keyframe.

use super::{CLASS, Common, student_tokens};
use crate::client::{Ws, connect, hello, recv_type, send, source};
use crate::procfs::{cpu_percent, cpu_secs, run_queue_wait_ns, sample};
use crate::rtc::{Peer, Stamp, audio_frame, clock_ns, read_payload, signal, video_frame};
use crate::stats::{Summary, percentile, sort};
use crate::target::Kind;
use crate::tokens::{Who, mint};
use anyhow::Context;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use str0m::Event;
use str0m::format::Codec;
use str0m::media::{Frequency, MediaTime};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

/// The publisher's media: what a 360p camera and a microphone send.
#[derive(Clone, Debug, clap::Args)]
pub struct MediaArgs {
    /// Video bitrate, kbit/s.
    #[arg(long, default_value_t = 500)]
    pub video_kbps: u32,
    /// Video frames per second.
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    /// Bytes of an audio frame (one packet each, 50 a second).
    #[arg(long, default_value_t = 160)]
    pub audio_bytes: usize,
}

impl MediaArgs {
    fn frame_bytes(&self) -> usize {
        (self.video_kbps as usize * 1000 / 8 / self.fps.max(1) as usize).max(24)
    }
}

#[derive(Clone, Debug, clap::Args)]
pub struct ForwardArgs {
    /// Members receiving the publisher.
    #[arg(long, default_value_t = 50)]
    pub subscribers: usize,
    /// Seconds of the measured window, once every subscriber receives.
    #[arg(long, default_value_t = 20)]
    pub secs: u64,
    /// Members negotiating with the SFU at once while the crowd joins.
    #[arg(long, default_value_t = 20)]
    pub join_concurrency: usize,
    #[command(flatten)]
    pub media: MediaArgs,
}

#[derive(Clone, Debug, clap::Args)]
pub struct JoinArgs {
    /// Members offering at once.
    #[arg(long, default_value_t = 200)]
    pub members: usize,
    /// Seconds of forwarding measured after the join (0: none).
    #[arg(long, default_value_t = 5)]
    pub secs: u64,
    #[command(flatten)]
    pub media: MediaArgs,
}

/// How long a member may take from its offer to its first keyframe before it counts as lost.
const JOIN_LIMIT: Duration = Duration::from_secs(30);

/// The deadline of row g.
const ALL_IN: Duration = Duration::from_secs(5);

/// Audio packets per second (20 ms Opus frames).
const AUDIO_PER_SEC: u32 = 50;

/// Largest RTP payload of the baseline's video packets, as str0m's packetizer makes them.
const BASELINE_MTU: usize = 1_100;

/// What the subscribers have received, shared by their tasks.
#[derive(Debug, Default)]
struct Counters {
    /// Whether delays are being recorded (the measured window).
    measuring: AtomicBool,
    /// RTP packets with a payload received.
    packets: AtomicU64,
    /// Packets the sequence numbers say were sent (highest minus first plus one, per stream):
    /// loss on the leg from the server to the subscriber.
    expected: AtomicU64,
    /// Frames received (audio frames and video frames' first packets).
    frames: AtomicU64,
    /// Frames the publisher's frame numbers say were sent since each subscriber's first: loss
    /// from the publisher to the subscriber, wherever it happened.
    frames_expected: AtomicU64,
    /// Packets the publisher wrote (audio frames plus video frames' packets, estimated for
    /// Konsult by the frame size).
    published: AtomicU64,
}

/// A subscriber's join: nanoseconds from its offer to connected and to the first keyframe.
#[derive(Clone, Copy, Debug)]
struct Joined {
    connect_ns: Option<u64>,
    keyframe_ns: Option<u64>,
}

/// What one subscriber reads from its packets.
#[derive(Debug, Default)]
struct Reception {
    /// Highest extended sequence number per SSRC.
    streams: HashMap<u32, u64>,
    /// Highest audio and video frame numbers.
    audio_frame: Option<u32>,
    video_frame: Option<u32>,
    /// Delays from the send stamp, µs, in the measured window.
    delays_us: Vec<u32>,
    first_keyframe: Option<u64>,
}

impl Reception {
    /// Counts one RTP packet; returns its stamp.
    fn packet(&mut self, ssrc: u32, seq: u64, payload: &[u8], counters: &Counters) {
        if payload.is_empty() {
            return;
        }
        let now = clock_ns();
        counters.packets.fetch_add(1, Ordering::Relaxed);
        let new = match self.streams.get_mut(&ssrc) {
            None => {
                self.streams.insert(ssrc, seq);
                1
            }
            Some(highest) if seq > *highest => {
                let gap = seq - *highest;
                *highest = seq;
                gap
            }
            Some(_) => 0,
        };
        counters.expected.fetch_add(new, Ordering::Relaxed);
        let sent = match read_payload(payload) {
            Some(Stamp::Audio { sent_ns, number }) => {
                count_frame(&mut self.audio_frame, number, counters);
                Some(sent_ns)
            }
            Some(Stamp::VideoStart {
                sent_ns,
                number,
                key,
            }) => {
                if key && self.first_keyframe.is_none() {
                    self.first_keyframe = Some(now);
                }
                count_frame(&mut self.video_frame, number, counters);
                Some(sent_ns)
            }
            _ => None,
        };
        if let Some(sent) = sent
            && counters.measuring.load(Ordering::Relaxed)
        {
            self.delays_us
                .push((now.saturating_sub(sent) / 1_000).min(u64::from(u32::MAX)) as u32);
        }
    }
}

/// Counts frame `number` against the highest seen so far.
fn count_frame(highest: &mut Option<u32>, number: u32, counters: &Counters) {
    counters.frames.fetch_add(1, Ordering::Relaxed);
    let new = match *highest {
        None => 1,
        Some(h) if number > h => number - h,
        Some(_) => 0,
    };
    if new > 0 {
        *highest = Some(number);
    }
    counters
        .frames_expected
        .fetch_add(u64::from(new), Ordering::Relaxed);
}

/// Row f.
pub async fn forward(common: &Common, args: &ForwardArgs) -> anyhow::Result<Summary> {
    let run = match common.target {
        Kind::Konsult => {
            run_konsult(
                common,
                args.subscribers,
                args.join_concurrency,
                args.secs,
                &args.media,
            )
            .await?
        }
        Kind::Baseline => run_baseline(common, args.subscribers, args.secs, &args.media).await?,
    };
    let mut s = Summary::new("forward", common.target.name());
    s.param("subscribers", args.subscribers)
        .param("secs", args.secs)
        .param("video_kbps", args.media.video_kbps)
        .param("fps", args.media.fps)
        .param("frame_bytes", args.media.frame_bytes())
        .param("audio_bytes", args.media.audio_bytes);
    run.window_figures(&mut s);
    s.figure("join_secs", run.join_secs, "s");
    for note in run.notes {
        s.note(note);
    }
    Ok(s)
}

/// Row g.
pub async fn join(common: &Common, args: &JoinArgs) -> anyhow::Result<Summary> {
    anyhow::ensure!(
        common.target == Kind::Konsult,
        "row g measures the SFU: --target konsult"
    );
    let run = run_konsult(common, args.members, args.members, args.secs, &args.media).await?;
    let mut connect: Vec<f64> = Vec::new();
    let mut keyframe: Vec<f64> = Vec::new();
    let mut within = 0usize;
    for j in &run.joins {
        if let Some(c) = j.connect_ns {
            connect.push(c as f64 / 1e6);
        }
        if let Some(k) = j.keyframe_ns {
            keyframe.push(k as f64 / 1e6);
            if Duration::from_nanos(k) <= ALL_IN {
                within += 1;
            }
        }
    }
    sort(&mut connect);
    sort(&mut keyframe);
    let mut s = Summary::new("join", "konsult");
    s.param("members", args.members)
        .param("secs", args.secs)
        .param("video_kbps", args.media.video_kbps)
        .param("fps", args.media.fps);
    s.figure("connected", connect.len() as f64, "members")
        .figure("keyframe_received", keyframe.len() as f64, "members")
        .figure("within_5s", within as f64, "members")
        .figure("connect_p50", percentile(&connect, 50.0), "ms")
        .figure("connect_p95", percentile(&connect, 95.0), "ms")
        .figure("connect_max", percentile(&connect, 100.0), "ms")
        .figure("keyframe_p50", percentile(&keyframe, 50.0), "ms")
        .figure("keyframe_p95", percentile(&keyframe, 95.0), "ms")
        .figure("keyframe_max", percentile(&keyframe, 100.0), "ms")
        .figure("join_secs", run.join_secs, "s")
        .figure(
            "join_server_cpu_per_member",
            run.join_server_cpu_ms / args.members.max(1) as f64,
            "ms",
        )
        .figure(
            "join_load_cpu_per_member",
            run.join_load_cpu_ms / args.members.max(1) as f64,
            "ms",
        );
    if args.secs > 0 {
        run.window_figures(&mut s);
    }
    for note in run.notes {
        s.note(note);
    }
    Ok(s)
}

/// What a run measured.
#[derive(Debug, Default)]
struct Run {
    receiving: usize,
    joins: Vec<Joined>,
    /// Seconds from the first offer until every member received (or gave up).
    join_secs: f64,
    /// CPU the server spent from the first offer until every member received, ms.
    join_server_cpu_ms: f64,
    /// CPU the load generator (the members' side of each handshake) spent meanwhile, ms.
    join_load_cpu_ms: f64,
    window_secs: f64,
    packets: u64,
    expected: u64,
    frames: u64,
    frames_expected: u64,
    published: u64,
    server_cpu: f64,
    /// Time the server's threads were runnable but got no CPU, % of the window (summed over
    /// threads): CPU the shared machine denied it.
    server_wait: f64,
    /// The load generator's own CPU in the window: the client side of every peer.
    load_cpu: f64,
    rss_mib: f64,
    delays_ms: Vec<f64>,
    notes: Vec<String>,
}

impl Run {
    fn window_figures(&self, s: &mut Summary) {
        let pps = self.packets as f64 / self.window_secs.max(1e-9);
        let lost = |expected: u64, got: u64| {
            if expected == 0 {
                0.0
            } else {
                expected.saturating_sub(got) as f64 / expected as f64 * 100.0
            }
        };
        s.figure("receiving", self.receiving as f64, "subscribers")
            .figure(
                "published_pps",
                self.published as f64 / self.window_secs.max(1e-9),
                "packets/s",
            )
            .figure("forwarded_pps", pps, "packets/s")
            .figure("server_cpu", self.server_cpu, "% of a core")
            .figure(
                "pps_per_core",
                pps / (self.server_cpu / 100.0).max(1e-9),
                "packets/s/core",
            )
            .figure("server_run_queue_wait", self.server_wait, "% of the window")
            .figure("load_generator_cpu", self.load_cpu, "% of a core")
            .figure("frame_loss", lost(self.frames_expected, self.frames), "%")
            .figure("packet_loss", lost(self.expected, self.packets), "%")
            .figure("delay_p50", percentile(&self.delays_ms, 50.0), "ms")
            .figure("delay_p99", percentile(&self.delays_ms, 99.0), "ms")
            .figure("delay_max", percentile(&self.delays_ms, 100.0), "ms")
            .figure("server_rss", self.rss_mib, "MiB");
    }
}

/// Measures the window: server CPU from /proc, packets and delays from the subscribers.
async fn window(pid: u32, secs: u64, counters: &Counters, run: &mut Run) -> anyhow::Result<()> {
    let before = sample(pid)?;
    let wait_before = run_queue_wait_ns(pid)?;
    let load_before = sample(std::process::id())?;
    let load = |c: &AtomicU64| c.load(Ordering::Acquire);
    let (p0, e0, s0) = (
        load(&counters.packets),
        load(&counters.expected),
        load(&counters.published),
    );
    let (f0, fe0) = (load(&counters.frames), load(&counters.frames_expected));
    counters.measuring.store(true, Ordering::Release);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    counters.measuring.store(false, Ordering::Release);
    let after = sample(pid)?;
    let waited = run_queue_wait_ns(pid)?.saturating_sub(wait_before);
    run.load_cpu = cpu_percent(&load_before, &sample(std::process::id())?);
    run.window_secs = after.at.duration_since(before.at).as_secs_f64();
    run.packets = counters.packets.load(Ordering::Acquire) - p0;
    run.expected = counters.expected.load(Ordering::Acquire) - e0;
    run.published = counters.published.load(Ordering::Acquire) - s0;
    run.frames = load(&counters.frames) - f0;
    run.frames_expected = load(&counters.frames_expected) - fe0;
    run.server_cpu = cpu_percent(&before, &after);
    run.server_wait = waited as f64 / 1e9 / run.window_secs.max(1e-9) * 100.0;
    run.rss_mib = after.rss_kib as f64 / 1024.0;
    Ok(())
}

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
async fn run_konsult(
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
    let mut teacher = connect(target.addr, source(0, common.sources)).await?;
    hello(&mut teacher, &mint(&Who::teacher(0, &["math"]))).await?;

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
    let mut ws = connect(ctx.addr, src).await?;
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

/// The baseline: `konsult-baseline udp` forwards plain RTP-like packets (no SRTP, no ICE) to
/// every subscriber socket that said `subscribe`; the same schedule and packet sizes.
async fn run_baseline(
    common: &Common,
    subscribers: usize,
    secs: u64,
    media: &MediaArgs,
) -> anyhow::Result<Run> {
    let mut spec = common.spec(&[]);
    spec.baseline_command = "udp";
    let target = crate::target::Target::start(&spec)?;
    let counters = Arc::new(Counters::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let (joined_tx, mut joined_rx) = mpsc::unbounded_channel::<bool>();
    let mut tasks = Vec::new();
    for i in 0..subscribers {
        let src = source(i + 1, common.sources);
        let (counters, mut stop, joined) = (counters.clone(), stop_rx.clone(), joined_tx.clone());
        let addr = target.addr;
        tasks.push(tokio::spawn(async move {
            let result: anyhow::Result<Vec<u32>> = async {
                let socket = tokio::net::UdpSocket::bind(SocketAddr::new(src, 0)).await?;
                socket
                    .send_to(crate::udp_forwarder::SUBSCRIBE, addr)
                    .await?;
                let mut reception = Reception::default();
                let mut last: HashMap<u32, u64> = HashMap::new();
                let mut buf = vec![0u8; 2048];
                let mut reported = false;
                loop {
                    tokio::select! {
                        r = socket.recv_from(&mut buf) => {
                            let (n, _) = r?;
                            let Some((ssrc, seq16, payload)) = rtp_parts(&buf[..n]) else {
                                continue;
                            };
                            let seq = extend_seq(last.entry(ssrc).or_insert(u64::from(seq16)), seq16);
                            reception.packet(ssrc, seq, payload, &counters);
                            if !reported && reception.first_keyframe.is_some() {
                                reported = true;
                                let _ = joined.send(true);
                            }
                        }
                        _ = stop.changed() => break,
                    }
                }
                Ok(reception.delays_us)
            }
            .await;
            result.unwrap_or_else(|e| {
                eprintln!("baseline subscriber {i}: {e:#}");
                let _ = joined.send(false);
                Vec::new()
            })
        }));
    }
    drop(joined_tx);
    // Subscriptions reach the forwarder before the first packet is sent.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let publisher = tokio::spawn(publish_plain(
        target.addr,
        counters.clone(),
        media.clone(),
        stop_rx.clone(),
    ));
    let mut run = Run::default();
    let started = Instant::now();
    for _ in 0..subscribers {
        match tokio::time::timeout(Duration::from_secs(10), joined_rx.recv()).await {
            Ok(Some(true)) => run.receiving += 1,
            Ok(Some(false)) => {}
            _ => break,
        }
    }
    run.join_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    window(target.pid, secs, &counters, &mut run).await?;
    stop_tx.send(true)?;
    let mut delays = Vec::new();
    for task in tasks {
        delays.extend(task.await?);
    }
    let _ = publisher.await;
    run.delays_ms = delays.iter().map(|&us| f64::from(us) / 1e3).collect();
    sort(&mut run.delays_ms);
    Ok(run)
}

/// SSRC, sequence number and payload of an RTP packet with a plain 12-byte header.
fn rtp_parts(packet: &[u8]) -> Option<(u32, u16, &[u8])> {
    if packet.len() < 12 || packet[0] >> 6 != 2 {
        return None;
    }
    let seq = u16::from_be_bytes([packet[2], packet[3]]);
    let ssrc = u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]);
    Some((ssrc, seq, &packet[12..]))
}

/// Extends a 16-bit sequence number next to the last extended one.
fn extend_seq(last: &mut u64, seq: u16) -> u64 {
    let delta = i64::from(seq.wrapping_sub(*last as u16) as i16);
    let extended = (*last as i64 + delta).max(0) as u64;
    *last = (*last).max(extended);
    extended
}

/// An RTP packet with a plain 12-byte header.
fn rtp_packet(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(12 + payload.len());
    p.push(0x80);
    p.push(pt | if marker { 0x80 } else { 0 });
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// The baseline's publisher: the same frames as [`publish`], cut into packets with a one-byte
/// VP8 payload descriptor, sent in the clear.
async fn publish_plain(
    to: SocketAddr,
    counters: Arc<Counters>,
    media: MediaArgs,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let frame_bytes = media.frame_bytes();
    let mut audio_tick = tokio::time::interval(Duration::from_secs(1) / AUDIO_PER_SEC);
    let mut video_tick = tokio::time::interval(Duration::from_secs(1) / media.fps.max(1));
    let (mut audio_seq, mut video_seq, mut frames, mut audio_n) = (0u16, 0u16, 0u64, 0u32);
    loop {
        tokio::select! {
            _ = audio_tick.tick() => {
                let frame = audio_frame(clock_ns(), audio_n, media.audio_bytes);
                audio_n += 1;
                let ts = (u64::from(audio_seq) * 960) as u32;
                let packet = rtp_packet(111, true, audio_seq, ts, 1, &frame);
                audio_seq = audio_seq.wrapping_add(1);
                if socket.send_to(&packet, to).await.is_ok() {
                    counters.published.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ = video_tick.tick() => {
                // A keyframe every 10 s; the first frame is one.
                let key = frames.is_multiple_of(u64::from(media.fps.max(1)) * 10);
                let frame = video_frame(clock_ns(), frames as u32, frame_bytes, key);
                let ts = (frames * 90_000 / u64::from(media.fps.max(1))) as u32;
                frames += 1;
                let chunks: Vec<&[u8]> = frame.chunks(BASELINE_MTU).collect();
                for (k, chunk) in chunks.iter().enumerate() {
                    let mut payload = Vec::with_capacity(chunk.len() + 1);
                    payload.push(if k == 0 { 0x10 } else { 0x00 });
                    payload.extend_from_slice(chunk);
                    let packet =
                        rtp_packet(96, k + 1 == chunks.len(), video_seq, ts, 2, &payload);
                    video_seq = video_seq.wrapping_add(1);
                    if socket.send_to(&packet, to).await.is_ok() {
                        counters.published.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            _ = stop.changed() => break,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_extend_across_the_wrap() {
        let mut last = 65_534u64;
        assert_eq!(extend_seq(&mut last, 65_535), 65_535);
        assert_eq!(extend_seq(&mut last, 0), 65_536);
        assert_eq!(extend_seq(&mut last, 65_535), 65_535);
        assert_eq!(last, 65_536);
    }

    #[test]
    fn plain_rtp_round_trips() {
        let p = rtp_packet(96, true, 7, 9000, 2, b"abc");
        assert_eq!(rtp_parts(&p), Some((2, 7, &b"abc"[..])));
    }
}
