//! `konsult-load`: drives Konsult (or the baseline) with one scenario of issue 8's table (or
//! issue 17's cluster of nodes) and prints a summary block with the exact parameters and the
//! figures BENCHMARKS.md quotes.

use clap::{Parser, Subcommand};
use konsult_bench::scenario::{Common, chat, cluster, fanout, hub, idle, media, pairing, rtt};

#[derive(Parser)]
#[command(about = "Konsult's load generator: one scenario per subcommand")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Row a: authenticated idle connections, server memory and CPU per connection.
    Idle {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: idle::IdleArgs,
    },
    /// Row b: request round trips at a fixed rate with an idle crowd connected.
    Rtt {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: rtt::RttArgs,
    },
    /// Row c: one broadcast to many members; then a sustained delivery rate.
    Fanout {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: fanout::FanoutArgs,
    },
    /// Row d: chat messages acknowledged after fsync.
    Chat {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: chat::ChatArgs,
    },
    /// Row e: students ask for help at once, teachers accept as offers arrive.
    Pairing {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: pairing::PairingArgs,
    },
    /// Row f: one publisher through the SFU (or the bare UDP forwarder) to many subscribers.
    Forward {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: media::ForwardArgs,
    },
    /// Row g: many members offer to the SFU at once; ICE + DTLS, then the first keyframe.
    Join {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: media::JoinArgs,
    },
    /// Row h: three or more nodes sharing PostgreSQL and Redis; bridged latency; failover.
    Cluster {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: cluster::ClusterArgs,
    },
    /// Row e: the hub alone, in this process, on one thread.
    Hub {
        #[command(flatten)]
        args: hub::HubArgs,
    },
    /// Row h's helper: a share of the cluster's crowd, read from stdin; its clients' events
    /// to stdout. `cluster` starts these.
    #[command(name = "cluster-crowd", hide = true)]
    ClusterCrowd,
}

fn main() -> anyhow::Result<()> {
    let summary = match Cli::parse().command {
        Command::Hub { args } => hub::run(&args),
        Command::ClusterCrowd => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(cluster::run_crowd_share())?;
            runtime.shutdown_background();
            return Ok(());
        }
        command => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let summary = runtime.block_on(run(command))?;
            // Crowds' tasks may still be parked on sockets: end now rather than wait.
            runtime.shutdown_background();
            summary
        }
    };
    print!("{}", summary.render());
    Ok(())
}

async fn run(command: Command) -> anyhow::Result<konsult_bench::stats::Summary> {
    match command {
        Command::Idle { common, args } => idle::run(&common, &args).await,
        Command::Rtt { common, args } => rtt::run(&common, &args).await,
        Command::Fanout { common, args } => fanout::run(&common, &args).await,
        Command::Chat { common, args } => chat::run(&common, &args).await,
        Command::Pairing { common, args } => pairing::run(&common, &args).await,
        Command::Forward { common, args } => media::forward(&common, &args).await,
        Command::Join { common, args } => media::join(&common, &args).await,
        Command::Cluster { common, args } => cluster::run(&common, &args).await,
        Command::Hub { args } => Ok(hub::run(&args)),
        Command::ClusterCrowd => anyhow::bail!("cluster-crowd prints no summary"),
    }
}
