//! Bounds on login attempts: a rate per source address, and for each account a limit on
//! failures with a lockout that doubles while the guessing goes on.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window both limits count in.
const WINDOW: Duration = Duration::from_secs(60);
/// The first lockout of an account; each further one doubles, up to `MAX_LOCKOUT`.
const FIRST_LOCKOUT: Duration = Duration::from_secs(60);
const MAX_LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Entries kept before old ones are swept, so that a spray of addresses or logins cannot grow
/// memory without bound.
const SWEEP_AT: usize = 10_000;

#[derive(Debug)]
struct Window {
    start: Instant,
    count: u32,
}

#[derive(Debug)]
struct Failures {
    window: Window,
    /// Lockouts so far; the next one lasts `FIRST_LOCKOUT * 2^lockouts`.
    lockouts: u32,
    locked_until: Option<Instant>,
    last_seen: Instant,
}

/// Counts login attempts.
#[derive(Debug)]
pub struct LoginGuard {
    per_ip_limit: u32,
    per_account_limit: u32,
    per_ip: Mutex<HashMap<IpAddr, Window>>,
    per_account: Mutex<HashMap<String, Failures>>,
}

impl LoginGuard {
    pub fn new(per_ip_limit: u32, per_account_limit: u32) -> LoginGuard {
        LoginGuard {
            per_ip_limit,
            per_account_limit,
            per_ip: Mutex::new(HashMap::new()),
            per_account: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt; `Err(retry_after)` when the address or the account must wait.
    pub fn attempt(&self, ip: IpAddr, login: &str, now: Instant) -> Result<(), Duration> {
        {
            let per_account = lock(&self.per_account);
            if let Some(f) = per_account.get(&normalize(login))
                && let Some(until) = f.locked_until
                && until > now
            {
                return Err(until - now);
            }
        }
        let mut per_ip = lock(&self.per_ip);
        if per_ip.len() > SWEEP_AT {
            per_ip.retain(|_, w| now.duration_since(w.start) < WINDOW);
        }
        let window = per_ip.entry(ip).or_insert(Window {
            start: now,
            count: 0,
        });
        if now.duration_since(window.start) >= WINDOW {
            *window = Window {
                start: now,
                count: 0,
            };
        }
        if window.count >= self.per_ip_limit {
            return Err(WINDOW.saturating_sub(now.duration_since(window.start)));
        }
        window.count += 1;
        Ok(())
    }

    /// A wrong password for `login`: counts towards its lockout.
    pub fn failed(&self, login: &str, now: Instant) {
        let mut per_account = lock(&self.per_account);
        if per_account.len() > SWEEP_AT {
            per_account.retain(|_, f| now.duration_since(f.last_seen) < MAX_LOCKOUT);
        }
        let f = per_account.entry(normalize(login)).or_insert(Failures {
            window: Window {
                start: now,
                count: 0,
            },
            lockouts: 0,
            locked_until: None,
            last_seen: now,
        });
        f.last_seen = now;
        if now.duration_since(f.window.start) >= WINDOW {
            f.window = Window {
                start: now,
                count: 0,
            };
        }
        f.window.count += 1;
        if f.window.count >= self.per_account_limit {
            let lockout = FIRST_LOCKOUT
                .saturating_mul(1 << f.lockouts.min(10))
                .min(MAX_LOCKOUT);
            f.locked_until = Some(now + lockout);
            f.lockouts += 1;
            f.window = Window {
                start: now,
                count: 0,
            };
        }
    }

    /// A successful login clears the account's failures.
    pub fn succeeded(&self, login: &str) {
        lock(&self.per_account).remove(&normalize(login));
    }
}

fn normalize(login: &str) -> String {
    login.trim().to_lowercase()
}

/// The maps hold plain counters: a panic elsewhere cannot leave them inconsistent, so a
/// poisoned lock is used as it is.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_limited_per_minute() {
        let guard = LoginGuard::new(3, 100);
        let ip: IpAddr = [10, 0, 0, 1].into();
        let t = Instant::now();
        for _ in 0..3 {
            assert!(guard.attempt(ip, "a", t).is_ok());
        }
        assert!(guard.attempt(ip, "a", t).is_err());
        assert!(guard.attempt([10, 0, 0, 2].into(), "a", t).is_ok());
        assert!(guard.attempt(ip, "a", t + WINDOW).is_ok());
    }

    #[test]
    fn failing_accounts_lock_with_doubling_backoff() {
        let guard = LoginGuard::new(1000, 3);
        let ip: IpAddr = [10, 0, 0, 1].into();
        let t = Instant::now();
        for _ in 0..3 {
            assert!(guard.attempt(ip, "Student1", t).is_ok());
            guard.failed("student1", t);
        }
        let wait = guard.attempt(ip, "student1", t).expect_err("locked");
        assert_eq!(wait, FIRST_LOCKOUT);
        assert!(
            guard.attempt(ip, "student2", t).is_ok(),
            "other accounts unaffected"
        );
        let t2 = t + FIRST_LOCKOUT;
        for _ in 0..3 {
            assert!(guard.attempt(ip, "student1", t2).is_ok());
            guard.failed("student1", t2);
        }
        assert_eq!(guard.attempt(ip, "student1", t2), Err(FIRST_LOCKOUT * 2));
        guard.succeeded("student1");
        assert!(guard.attempt(ip, "student1", t2).is_ok());
    }
}
