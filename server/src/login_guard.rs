//! Bounds on login attempts: a rate per source address, and a limit on failures with a
//! lockout that doubles while the guessing goes on, counted apart for each account's untrusted
//! devices together and for each of its trusted devices (those holding its device token,
//! `crate::device`) alone: whoever hammers an account locks out only untrusted devices and
//! their own.

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

/// Whose failures an attempt counts towards.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// Every device without the account's device token, together.
    Untrusted(String),
    /// One device holding a valid device token for the account: its id.
    Device(String),
}

impl Key {
    fn new(login: &str, device: Option<&str>) -> Key {
        match device {
            Some(id) => Key::Device(id.to_string()),
            None => Key::Untrusted(crate::device::normalize(login)),
        }
    }
}

/// Counts login attempts.
#[derive(Debug)]
pub struct LoginGuard {
    per_ip_limit: u32,
    per_account_limit: u32,
    per_ip: Mutex<HashMap<IpAddr, Window>>,
    per_account: Mutex<HashMap<Key, Failures>>,
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

    /// Counts an attempt on `login` from `device` (the id of a valid device token for this
    /// login, if one came); `Err(retry_after)` when the address, or the account from such a
    /// device, must wait.
    pub fn attempt(
        &self,
        ip: IpAddr,
        login: &str,
        device: Option<&str>,
        now: Instant,
    ) -> Result<(), Duration> {
        {
            let per_account = lock(&self.per_account);
            if let Some(f) = per_account.get(&Key::new(login, device))
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

    /// A wrong password for `login` from `device`: counts towards the lockout of that device,
    /// or of the account's untrusted devices.
    pub fn failed(&self, login: &str, device: Option<&str>, now: Instant) {
        let mut per_account = lock(&self.per_account);
        if per_account.len() > SWEEP_AT {
            per_account.retain(|_, f| now.duration_since(f.last_seen) < MAX_LOCKOUT);
        }
        let f = per_account
            .entry(Key::new(login, device))
            .or_insert(Failures {
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

    /// A successful login clears the failures of the device it came from (or of the
    /// account's untrusted devices).
    pub fn succeeded(&self, login: &str, device: Option<&str>) {
        lock(&self.per_account).remove(&Key::new(login, device));
    }
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
            assert!(guard.attempt(ip, "a", None, t).is_ok());
        }
        assert!(guard.attempt(ip, "a", None, t).is_err());
        assert!(guard.attempt([10, 0, 0, 2].into(), "a", None, t).is_ok());
        assert!(guard.attempt(ip, "a", None, t + WINDOW).is_ok());
    }

    #[test]
    fn failing_accounts_lock_with_doubling_backoff() {
        let guard = LoginGuard::new(1000, 3);
        let ip: IpAddr = [10, 0, 0, 1].into();
        let t = Instant::now();
        for _ in 0..3 {
            assert!(guard.attempt(ip, "Student1", None, t).is_ok());
            guard.failed("student1", None, t);
        }
        let wait = guard.attempt(ip, "student1", None, t).expect_err("locked");
        assert_eq!(wait, FIRST_LOCKOUT);
        assert!(
            guard.attempt(ip, "student2", None, t).is_ok(),
            "other accounts unaffected"
        );
        let t2 = t + FIRST_LOCKOUT;
        for _ in 0..3 {
            assert!(guard.attempt(ip, "student1", None, t2).is_ok());
            guard.failed("student1", None, t2);
        }
        assert_eq!(
            guard.attempt(ip, "student1", None, t2),
            Err(FIRST_LOCKOUT * 2)
        );
        guard.succeeded("student1", None);
        assert!(guard.attempt(ip, "student1", None, t2).is_ok());
    }

    #[test]
    fn a_trusted_device_is_judged_on_its_own() {
        let guard = LoginGuard::new(1000, 3);
        let ip: IpAddr = [10, 0, 0, 1].into();
        let t = Instant::now();
        for _ in 0..3 {
            assert!(guard.attempt(ip, "teacher1", None, t).is_ok());
            guard.failed("teacher1", None, t);
        }
        assert!(guard.attempt(ip, "teacher1", None, t).is_err());
        assert!(
            guard.attempt(ip, "teacher1", Some("own"), t).is_ok(),
            "the owner's device still gets in"
        );
        for _ in 0..3 {
            guard.failed("teacher1", Some("own"), t);
        }
        assert!(guard.attempt(ip, "teacher1", Some("own"), t).is_err());
        assert!(guard.attempt(ip, "teacher1", Some("other"), t).is_ok());
    }
}
