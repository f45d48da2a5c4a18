//! Memory and CPU of one process, read from /proc: the server's figures, apart from the load
//! generator's.

use std::time::Instant;

/// Clock ticks per second in /proc/<pid>/stat: USER_HZ, 100 on every Linux architecture that
/// Konsult runs on.
const TICKS_PER_SEC: f64 = 100.0;

/// One reading of a process.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub at: Instant,
    /// Resident memory (VmRSS), KiB.
    pub rss_kib: u64,
    /// User plus system CPU time so far, in clock ticks.
    pub cpu_ticks: u64,
}

/// Reads VmRSS and CPU time of `pid`.
pub fn sample(pid: u32) -> anyhow::Result<Sample> {
    let at = Instant::now();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/{pid}/status"))?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces: the 14th and
    // 15th fields of the line (utime, stime) are the 12th and 13th after it.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow::anyhow!("unreadable /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("unreadable /proc/{pid}/stat"))
    };
    Ok(Sample {
        at,
        rss_kib,
        cpu_ticks: tick(11)? + tick(12)?,
    })
}

/// CPU use between two samples, in percent of one core.
pub fn cpu_percent(before: &Sample, after: &Sample) -> f64 {
    let secs = after.at.duration_since(before.at).as_secs_f64();
    if secs <= 0.0 {
        return 0.0;
    }
    (after.cpu_ticks.saturating_sub(before.cpu_ticks)) as f64 / TICKS_PER_SEC / secs * 100.0
}

/// CPU seconds between two samples.
pub fn cpu_secs(before: &Sample, after: &Sample) -> f64 {
    after.cpu_ticks.saturating_sub(before.cpu_ticks) as f64 / TICKS_PER_SEC
}

/// Nanoseconds the threads of `pid` have spent runnable but waiting for a CPU, summed
/// (`/proc/<pid>/task/*/schedstat`, second field): how much CPU the process was denied.
pub fn run_queue_wait_ns(pid: u32) -> anyhow::Result<u64> {
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = task?.path().join("schedstat");
        // A thread that ended between the listing and the read is not counted.
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        total += text
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(total)
}

/// This process's limit on open files (the soft one, `Max open files` in /proc/self/limits):
/// how many sockets the load generator may hold at once.
pub fn open_files_limit() -> anyhow::Result<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits")?;
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|soft| soft.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no open files limit in /proc/self/limits"))
}

/// The load average over 1, 5 and 15 minutes, as /proc/loadavg gives it.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let s = sample(std::process::id()).expect("own /proc entry");
        assert!(s.rss_kib > 0);
        assert!(run_queue_wait_ns(std::process::id()).is_ok());
        assert!(open_files_limit().expect("a limit") > 0);
        assert_eq!(load_average().split(' ').count(), 3);
    }
}
