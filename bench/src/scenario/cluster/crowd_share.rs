//! A share of the crowd in a process of its own (`konsult-load cluster-crowd`, hidden): one
//! process may hold only so many sockets (`ulimit -n`), so the scenario spreads its crowd over
//! several. The process reads its [`Share`] as the first line of its stdin, runs those
//! clients, and writes each client's [`Event`]s to its stdout, one line each, until its stdin
//! ends: the scenario closing it, or dying.

use super::FD_MARGIN;
use super::client::{self, Backoff, Failure, Member};
use super::event::{Event, What};
use crate::procfs::open_files_limit;
use serde_json::{Value, json};
use std::io::{BufRead, BufWriter, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, watch};

/// Events waiting for the writer; a client whose event finds the queue full waits.
const EVENTS_QUEUE: usize = 4_096;
/// How long the clients and the writer may take to end after the stop.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// What one crowd process runs.
#[derive(Clone, Debug)]
pub struct Share {
    /// The nodes' addresses, in the scenario's order.
    pub nodes: Vec<SocketAddr>,
    pub backoff: Backoff,
    /// Handshakes in flight at once in this process while the crowd connects.
    pub concurrency: usize,
    /// The process's clients, each with its index in the whole crowd.
    pub members: Vec<(usize, Member)>,
}

impl Share {
    /// The share as one line of JSON, without the line's end.
    pub fn to_line(&self) -> String {
        let members: Vec<Value> = self
            .members
            .iter()
            .map(|(index, m)| {
                json!({"index": index, "token": m.token, "school": m.school, "home": m.home,
                       "source": m.source.to_string()})
            })
            .collect();
        json!({
            "nodes": self.nodes.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "backoff_first_ms": self.backoff.first.as_millis() as u64,
            "backoff_cap_ms": self.backoff.cap.as_millis() as u64,
            "concurrency": self.concurrency,
            "members": members,
        })
        .to_string()
    }

    /// Reads a line [`Share::to_line`] wrote.
    pub fn parse(line: &str) -> anyhow::Result<Share> {
        let value: Value = serde_json::from_str(line)?;
        let unsigned = |v: &Value, key: &str| -> anyhow::Result<u64> {
            v[key]
                .as_u64()
                .ok_or_else(|| anyhow::anyhow!("the share has no {key}"))
        };
        let text = |v: &Value, key: &str| -> anyhow::Result<String> {
            v[key]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| anyhow::anyhow!("the share has no {key}"))
        };
        let nodes = value["nodes"]
            .as_array()
            .ok_or_else(|| anyhow::anyhow!("the share has no nodes"))?
            .iter()
            .map(|a| Ok(a.as_str().unwrap_or_default().parse()?))
            .collect::<anyhow::Result<Vec<SocketAddr>>>()?;
        let mut members = Vec::new();
        for m in value["members"].as_array().into_iter().flatten() {
            let member = Member {
                token: text(m, "token")?,
                school: unsigned(m, "school")? as usize,
                home: unsigned(m, "home")? as usize,
                source: text(m, "source")?.parse()?,
            };
            anyhow::ensure!(member.home < nodes.len(), "a home beyond the nodes");
            members.push((unsigned(m, "index")? as usize, member));
        }
        Ok(Share {
            nodes,
            backoff: Backoff {
                first: Duration::from_millis(unsigned(&value, "backoff_first_ms")?),
                cap: Duration::from_millis(unsigned(&value, "backoff_cap_ms")?),
            },
            concurrency: unsigned(&value, "concurrency")? as usize,
            members,
        })
    }
}

/// The crowd process: its share from stdin, its clients' events to stdout, until stdin ends.
pub async fn run() -> anyhow::Result<()> {
    let line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map(|_| line)
    })
    .await??;
    let share = Share::parse(&line)?;
    let limit = open_files_limit()?;
    anyhow::ensure!(
        share.members.len() as u64 + FD_MARGIN <= limit,
        "a crowd process of {} clients needs {} open files, and may hold {limit} (ulimit -n)",
        share.members.len(),
        share.members.len() as u64 + FD_MARGIN
    );
    let (stop_tx, mut stop_rx) = watch::channel(false);
    // The end of stdin is the stop.
    std::thread::spawn(move || {
        let _read = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _stopped = stop_tx.send(true);
    });
    let (events_tx, events_rx) = mpsc::channel(EVENTS_QUEUE);
    let writer = tokio::task::spawn_blocking(move || write_events(events_rx));
    let nodes = Arc::new(share.nodes);
    let gate = Arc::new(Semaphore::new(share.concurrency.max(1)));
    for (index, member) in share.members {
        tokio::spawn(client::run(
            index,
            member,
            nodes.clone(),
            events_tx.clone(),
            gate.clone(),
            share.backoff,
            stop_rx.clone(),
        ));
    }
    drop(events_tx);
    let _stopped = stop_rx.wait_for(|stop| *stop).await;
    // The writer ends when the last client has ended and its events are out.
    match tokio::time::timeout(STOP_WAIT, writer).await {
        Ok(written) => written??,
        Err(_) => eprintln!("cluster-crowd: the clients did not end within {STOP_WAIT:?}"),
    }
    Ok(())
}

/// Writes events to stdout as they come, a flush whenever the queue is empty. Only the first
/// failure of each kind in this process keeps its detail: the scenario quotes one of each.
fn write_events(mut events: mpsc::Receiver<Event>) -> std::io::Result<()> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut detailed: Vec<Failure> = Vec::new();
    while let Some(event) = events.blocking_recv() {
        let mut next = Some(event);
        while let Some(mut event) = next {
            if let What::Failed { failure, detail } = &mut event.what
                && detail.is_some()
            {
                if detailed.contains(failure) {
                    *detail = None;
                } else {
                    detailed.push(*failure);
                }
            }
            writeln!(out, "{}", event.to_line())?;
            next = events.try_recv().ok();
        }
        out.flush()?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn a_share_reads_back_as_written() {
        let member = |k: usize| Member {
            token: format!("token-{k}"),
            school: k % 3,
            home: k % 2,
            source: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + k as u8)),
        };
        let share = Share {
            nodes: vec![
                "127.0.0.1:4001".parse().unwrap(),
                "[::1]:4002".parse().unwrap(),
            ],
            backoff: Backoff {
                first: Duration::from_millis(500),
                cap: Duration::from_secs(10),
            },
            concurrency: 32,
            members: vec![(4, member(4)), (7, member(7))],
        };
        let line = share.to_line();
        assert!(!line.contains('\n'));
        let read = Share::parse(&line).expect("a share");
        assert_eq!(read.nodes, share.nodes);
        assert_eq!(read.concurrency, 32);
        assert_eq!(read.backoff.cap, Duration::from_secs(10));
        let indexes: Vec<usize> = read.members.iter().map(|(i, _)| *i).collect();
        assert_eq!(indexes, [4, 7]);
        let (_, seventh) = &read.members[1];
        assert_eq!(
            (seventh.token.as_str(), seventh.school, seventh.home),
            ("token-7", 1, 1)
        );
        assert_eq!(seventh.source, member(7).source);
    }
}
