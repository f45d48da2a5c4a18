//! The share of WebSocket connections one IP address may hold before their `hello`
//! (`limits.anonymous_per_ip`): a slot is taken at the upgrade and given back when a `hello`
//! with a token whose signature holds arrives (or the socket closes), so sockets that never
//! authenticate cannot use up `server.max_connections`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Connections waiting for `hello`, by address.
#[derive(Debug)]
pub struct Anonymous {
    max: usize,
    by_ip: Mutex<HashMap<IpAddr, usize>>,
}

impl Anonymous {
    pub fn new(max: usize) -> Arc<Anonymous> {
        Arc::new(Anonymous {
            max,
            by_ip: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for one more connection from `ip`, or `None` when it holds its share already.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<AnonymousSlot> {
        let ip = ip.to_canonical();
        let mut by_ip = self.by_ip.lock().unwrap_or_else(PoisonError::into_inner);
        let held = by_ip.entry(ip).or_insert(0);
        if *held >= self.max {
            return None;
        }
        *held += 1;
        Some(AnonymousSlot {
            owner: self.clone(),
            ip,
        })
    }

    /// Connections from `ip` waiting for `hello`.
    #[cfg(test)]
    pub fn held(&self, ip: IpAddr) -> usize {
        let by_ip = self.by_ip.lock().unwrap_or_else(PoisonError::into_inner);
        by_ip.get(&ip.to_canonical()).copied().unwrap_or(0)
    }
}

/// One connection's place in its address's share, until dropped.
#[derive(Debug)]
pub struct AnonymousSlot {
    owner: Arc<Anonymous>,
    ip: IpAddr,
}

impl Drop for AnonymousSlot {
    fn drop(&mut self) {
        let mut by_ip = self
            .owner
            .by_ip
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(held) = by_ip.get_mut(&self.ip) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                by_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_per_address_given_back_on_drop() {
        let anonymous = Anonymous::new(2);
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "::ffff:10.0.0.2".parse().expect("ip");
        let first = anonymous.admit(a).expect("first");
        let _second = anonymous.admit(a).expect("second");
        assert!(anonymous.admit(a).is_none());
        assert!(
            anonymous.admit(b).is_some(),
            "another address has its own share"
        );
        drop(first);
        assert_eq!(anonymous.held(a), 1);
        assert!(anonymous.admit(a).is_some());
        assert_eq!(anonymous.held("10.0.0.2".parse().expect("ip")), 0);
    }
}
