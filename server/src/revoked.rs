//! Tokens revoked by `POST /api/logout`: each token's id until the token would have expired,
//! swept once it has. The store keeps them too (`revoked_tokens`), so a restart starts from
//! them; this is the copy every request checks.

use std::collections::HashMap;
use std::sync::Mutex;

/// Revoked token ids with their expiry (Unix seconds).
#[derive(Debug, Default)]
pub struct Revoked {
    ids: Mutex<HashMap<String, u64>>,
}

impl Revoked {
    /// The revocations the store kept, `(id, expires)`.
    pub fn from_kept(kept: Vec<(String, u64)>) -> Revoked {
        Revoked {
            ids: Mutex::new(kept.into_iter().collect()),
        }
    }

    /// Revokes the token `id` until `expires`; entries past their expiry are swept meanwhile.
    pub fn revoke(&self, id: String, expires: u64, now: u64) {
        let mut ids = lock(&self.ids);
        ids.retain(|_, until| *until >= now);
        if expires >= now {
            ids.insert(id, expires);
        }
    }

    /// Whether the token `id` was revoked.
    pub fn contains(&self, id: &str) -> bool {
        lock(&self.ids).contains_key(id)
    }

    /// Ids held now.
    pub fn len(&self) -> usize {
        lock(&self.ids).len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A plain map: a panic elsewhere cannot leave it inconsistent, so a poisoned lock is used
/// as it is.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocations_last_until_expiry_and_are_swept() {
        let revoked = Revoked::default();
        revoked.revoke("a".into(), 100, 10);
        revoked.revoke("b".into(), 50, 10);
        assert!(revoked.contains("a") && revoked.contains("b"));
        revoked.revoke("c".into(), 200, 60);
        assert!(!revoked.contains("b"), "swept after its expiry");
        assert!(revoked.contains("a"));
        assert_eq!(revoked.len(), 2);
    }
}
