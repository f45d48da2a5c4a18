//! What a media run measured, the measured window, and the figures it gives.

use super::reception::{Counters, Joined};
use crate::procfs::{cpu_percent, run_queue_wait_ns, sample};
use crate::stats::{Summary, percentile};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What a run measured.
#[derive(Debug, Default)]
pub(super) struct Run {
    pub(super) receiving: usize,
    pub(super) joins: Vec<Joined>,
    /// Seconds from the first offer until every member received (or gave up).
    pub(super) join_secs: f64,
    /// CPU the server spent from the first offer until every member received, ms.
    pub(super) join_server_cpu_ms: f64,
    /// CPU the load generator (the members' side of each handshake) spent meanwhile, ms.
    pub(super) join_load_cpu_ms: f64,
    pub(super) window_secs: f64,
    pub(super) packets: u64,
    pub(super) expected: u64,
    pub(super) frames: u64,
    pub(super) frames_expected: u64,
    pub(super) published: u64,
    pub(super) server_cpu: f64,
    /// Time the server's threads were runnable but got no CPU, % of the window (summed over
    /// threads): CPU the shared machine denied it.
    pub(super) server_wait: f64,
    /// The load generator's own CPU in the window: the client side of every peer.
    pub(super) load_cpu: f64,
    pub(super) rss_mib: f64,
    pub(super) delays_ms: Vec<f64>,
    pub(super) notes: Vec<String>,
}

impl Run {
    pub(super) fn window_figures(&self, s: &mut Summary) {
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
pub(super) async fn window(
    pid: u32,
    secs: u64,
    counters: &Counters,
    run: &mut Run,
) -> anyhow::Result<()> {
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
