//! The crowd's processes, from the scenario's side: splits the crowd into shares, starts a
//! `konsult-load cluster-crowd` for each, hands it its share, reads its events into the whole
//! crowd's logs as they come, and stops the processes at the end by closing their stdin.

use super::client::Member;
use super::crowd_share::Share;
use super::event::Event;
use super::journal::{Clock, SharedLog, record};
use crate::procfs::{Sample, sample};
use anyhow::Context;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::task::JoinHandle;

/// The hidden subcommand of `konsult-load` that runs a share.
pub const SUBCOMMAND: &str = "cluster-crowd";
/// How long a crowd process may take to end after its stdin closed.
const STOP_WAIT: Duration = Duration::from_secs(20);

/// One running crowd process.
#[derive(Debug)]
struct CrowdProcess {
    child: Child,
    pid: u32,
    /// Its share's first line went here; closing it stops the process.
    stdin: Option<ChildStdin>,
    /// Reads the process's events into the logs until its stdout ends.
    reader: Option<JoinHandle<anyhow::Result<()>>>,
}

/// The running crowd processes.
#[derive(Debug)]
pub struct CrowdProcesses {
    processes: Vec<CrowdProcess>,
}

/// Splits the crowd (client i is `members[i]`) over `processes`: client i goes to process
/// i mod `processes`, so that each holds a like mix of schools and nodes.
pub fn split(members: &[Member], processes: usize) -> Vec<Vec<(usize, Member)>> {
    let processes = processes.max(1);
    let mut shares: Vec<Vec<(usize, Member)>> = vec![Vec::new(); processes];
    for (i, member) in members.iter().enumerate() {
        shares[i % processes].push((i, member.clone()));
    }
    shares
}

impl CrowdProcesses {
    /// Starts `bin cluster-crowd` for each share; their events go to `logs` (the whole
    /// crowd's, by client index) on `clock`. The processes die with this value.
    pub async fn start(
        bin: &Path,
        shares: Vec<Share>,
        logs: Arc<Vec<SharedLog>>,
        clock: Clock,
    ) -> anyhow::Result<CrowdProcesses> {
        let mut processes = Vec::with_capacity(shares.len());
        for share in shares {
            let mut child = Command::new(bin)
                .arg(SUBCOMMAND)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("start {} {SUBCOMMAND}", bin.display()))?;
            let pid = child.id().context("a crowd process without a pid")?;
            let stdout = child.stdout.take().context("a crowd process's stdout")?;
            let mut stdin = child.stdin.take().context("a crowd process's stdin")?;
            // Reading first, so that the process never waits on a full pipe.
            let reader = tokio::spawn(read_events(pid, stdout, logs.clone(), clock));
            stdin.write_all(share.to_line().as_bytes()).await?;
            stdin.write_all(b"\n").await?;
            stdin.flush().await?;
            processes.push(CrowdProcess {
                child,
                pid,
                stdin: Some(stdin),
                reader: Some(reader),
            });
        }
        Ok(CrowdProcesses { processes })
    }

    /// How many processes hold the crowd.
    pub fn len(&self) -> usize {
        self.processes.len()
    }

    /// An error when a process has ended, or its report could not be read, before the stop.
    pub async fn check(&mut self) -> anyhow::Result<()> {
        for p in &mut self.processes {
            if let Some(status) = p.child.try_wait()? {
                anyhow::bail!("crowd process {} ended before the stop: {status}", p.pid);
            }
            if let Some(reader) = p.reader.take_if(|r| r.is_finished()) {
                reader.await??;
                anyhow::bail!("crowd process {}: its report ended before the stop", p.pid);
            }
        }
        Ok(())
    }

    /// Memory and CPU time of this process and every crowd process, summed: the load
    /// generator's.
    pub fn sample(&self) -> anyhow::Result<Sample> {
        let mut total = sample(std::process::id())?;
        for p in &self.processes {
            let one = sample(p.pid)?;
            total.rss_kib += one.rss_kib;
            total.cpu_ticks += one.cpu_ticks;
        }
        Ok(total)
    }

    /// Stops every process (closes its stdin) and reads the rest of its events; what went
    /// wrong on the way, for the summary's notes.
    pub async fn stop(mut self) -> Vec<String> {
        let mut problems = Vec::new();
        for p in &mut self.processes {
            p.stdin = None;
        }
        for p in &mut self.processes {
            match tokio::time::timeout(STOP_WAIT, p.child.wait()).await {
                Ok(Ok(status)) if status.success() => {}
                Ok(Ok(status)) => problems.push(format!("crowd process {}: {status}", p.pid)),
                Ok(Err(e)) => problems.push(format!("crowd process {}: {e}", p.pid)),
                Err(_) => {
                    problems.push(format!(
                        "crowd process {} did not end within {STOP_WAIT:?}: killed",
                        p.pid
                    ));
                    let _killed = p.child.kill().await;
                }
            }
            if let Some(reader) = p.reader.take() {
                match reader.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => problems.push(format!("crowd process {}: {e:#}", p.pid)),
                    Err(e) => problems.push(format!("crowd process {}: {e}", p.pid)),
                }
            }
        }
        problems
    }
}

/// Reads process `pid`'s events into `logs` until its stdout ends.
async fn read_events(
    pid: u32,
    stdout: tokio::process::ChildStdout,
    logs: Arc<Vec<SharedLog>>,
    clock: Clock,
) -> anyhow::Result<()> {
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next_line().await? {
        let event =
            Event::parse(&line).with_context(|| format!("a line of crowd process {pid}"))?;
        record(&logs, &clock, event)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn every_client_goes_to_one_process() {
        let members: Vec<Member> = (0..10)
            .map(|k| Member {
                token: format!("t{k}"),
                school: k % 4,
                home: k % 3,
                source: IpAddr::V4(Ipv4Addr::LOCALHOST),
            })
            .collect();
        let shares = split(&members, 3);
        assert_eq!(shares.iter().map(Vec::len).collect::<Vec<_>>(), [4, 3, 3]);
        let mut seen: Vec<usize> = shares.iter().flatten().map(|(i, _)| *i).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        for (i, member) in shares.iter().flatten() {
            assert_eq!(member.token, format!("t{i}"));
        }
    }
}
