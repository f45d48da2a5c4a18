//! `konsult-baseline`: the bare servers Konsult is measured against in the same run.
//! `konsult-baseline ws --listen ADDR` serves the WebSocket baseline (rows a-c);
//! `konsult-baseline udp --listen ADDR` the bare UDP forwarder (row f).

use clap::{Parser, Subcommand};
use std::net::SocketAddr;

#[derive(Parser)]
#[command(about = "Bare servers that Konsult's benchmarks compare against")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A tokio-tungstenite server with Konsult's buffer settings that answers and broadcasts.
    Ws {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// A bare UDP forwarder: each datagram to every subscriber, no SRTP or ICE.
    Udp {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Ws { listen } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind(listen).await?;
                println!(
                    "konsult-baseline listening on http://{} (pid {})",
                    listener.local_addr()?,
                    std::process::id()
                );
                konsult_bench::baseline::serve_ws(listener).await?;
                anyhow::Ok(())
            })
        }
        Command::Udp { listen } => {
            let socket = std::net::UdpSocket::bind(listen)?;
            println!(
                "konsult-baseline listening on udp://{} (pid {})",
                socket.local_addr()?,
                std::process::id()
            );
            konsult_bench::udp_forwarder::serve(&socket)?;
            Ok(())
        }
    }
}
