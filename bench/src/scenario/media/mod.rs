//! Rows f and g: one publisher (a teacher sending 360p-like VP8 video and audio) in a
//! frontal session, received through the SFU by many students. Every member is a real user
//! on its own WebSocket and a str0m peer on its own UDP socket; subscribers read raw RTP and
//! count sequence gaps and the delay from the send time stamped in each frame. Row f measures
//! the forwarding in a steady window (against the bare UDP forwarder of `konsult-baseline` for
//! the same packets); row g has every member offer at once and times ICE + DTLS and the first
//! keyframe.

mod baseline;
mod konsult;
mod reception;
mod run;

use super::Common;
use crate::stats::{Summary, percentile, sort};
use crate::target::Kind;
use std::time::Duration;

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

/// The deadline of row g.
const ALL_IN: Duration = Duration::from_secs(5);

/// Audio packets per second (20 ms Opus frames).
const AUDIO_PER_SEC: u32 = 50;

/// Largest RTP payload of the baseline's video packets, as str0m's packetizer makes them.
const BASELINE_MTU: usize = 1_100;

/// Row f.
pub async fn forward(common: &Common, args: &ForwardArgs) -> anyhow::Result<Summary> {
    let run = match common.target {
        Kind::Konsult => {
            konsult::run(
                common,
                args.subscribers,
                args.join_concurrency,
                args.secs,
                &args.media,
            )
            .await?
        }
        Kind::Baseline => baseline::run(common, args.subscribers, args.secs, &args.media).await?,
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
    let run = konsult::run(common, args.members, args.members, args.secs, &args.media).await?;
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
