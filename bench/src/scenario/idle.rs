//! Row a: how many authenticated idle WebSocket clients one server holds, and what each costs
//! in server memory (VmRSS after minus before, over the clients held) and CPU.
//!
//! Konsult first meets every account once (a portal token creates the account on first sight),
//! then restarts, so that the measured run pays for connections only: the accounts are loaded
//! before the "before" sample, as they are in a school whose users already exist.

use super::{CLASS, Common, student_tokens};
use crate::crowd::crowd;
use crate::procfs::{cpu_percent, sample};
use crate::stats::Summary;
use crate::target::Kind;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[derive(Clone, Debug, clap::Args)]
pub struct IdleArgs {
    /// Clients to connect.
    #[arg(long, default_value_t = 1_000)]
    pub clients: usize,
    /// Seconds to hold them idle after connecting (CPU while idle is measured over it).
    #[arg(long, default_value_t = 10)]
    pub hold_secs: u64,
    /// Skip the first pass that creates the accounts (when the data folder has them).
    #[arg(long)]
    pub no_warmup: bool,
}

/// Time for the server to settle between the last handshake and the "after" sample.
const SETTLE: Duration = Duration::from_secs(3);

pub async fn run(common: &Common, args: &IdleArgs) -> anyhow::Result<Summary> {
    let tokens = student_tokens(0, args.clients, CLASS);
    let env = [(
        "KONSULT_SERVER_MAX_CONNECTIONS",
        (args.clients + 100).to_string(),
    )];
    if common.target == Kind::Konsult && !args.no_warmup {
        let target = common.start(&env)?;
        let first = crowd(
            target.addr,
            tokens.clone(),
            common.sources,
            common.concurrency,
        )
        .await;
        eprintln!(
            "idle: accounts ready ({} connected, {} failed) in {:.1} s",
            first.counters.open.load(Ordering::Relaxed),
            first.counters.failed.load(Ordering::Relaxed),
            first.connect_time.as_secs_f64()
        );
        drop(first);
        drop(target);
    }
    let target = common.start(&env)?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = sample(target.pid)?;
    let crowd = crowd(target.addr, tokens, common.sources, common.concurrency).await;
    let connected = sample(target.pid)?;
    tokio::time::sleep(SETTLE).await;
    let after = sample(target.pid)?;
    tokio::time::sleep(Duration::from_secs(args.hold_secs)).await;
    let end = sample(target.pid)?;
    let held = crowd.counters.open.load(Ordering::Relaxed);
    let failed = crowd.counters.failed.load(Ordering::Relaxed);
    let closed = crowd.counters.closed.load(Ordering::Relaxed);
    let load = sample(std::process::id())?;

    let mut s = Summary::new("idle", common.target.name());
    s.param("clients", args.clients)
        .param("sources", common.sources)
        .param("concurrency", common.concurrency)
        .param("hold_secs", args.hold_secs);
    let grown = end.rss_kib.saturating_sub(before.rss_kib) as f64;
    s.figure("held", held as f64, "connections")
        .figure("failed", failed as f64, "connections")
        .figure("closed_while_held", closed as f64, "connections")
        .figure("connect_secs", crowd.connect_time.as_secs_f64(), "s")
        .figure(
            "connect_rate",
            held as f64 / crowd.connect_time.as_secs_f64().max(1e-9),
            "conn/s",
        )
        .figure("rss_before", before.rss_kib as f64 / 1024.0, "MiB")
        .figure("rss_held", end.rss_kib as f64 / 1024.0, "MiB")
        .figure("kib_per_conn", grown / held.max(1) as f64, "KiB")
        .figure(
            "cpu_connecting",
            cpu_percent(&before, &connected),
            "% of a core",
        )
        .figure("cpu_idle", cpu_percent(&after, &end), "% of a core")
        .figure("load_rss", load.rss_kib as f64 / 1024.0, "MiB");
    if failed > 0 {
        s.note(format!(
            "{failed} clients failed to connect (first errors above)"
        ));
    }
    Ok(s)
}
