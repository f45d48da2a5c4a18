//! Which school a portal token names, remembered for a while: every `hello` of a portal user
//! names its school by code, and a reconnection storm after a node's loss would otherwise ask
//! the store the same question thousands of times a second.
//!
//! Only answers the store gave are kept, never an unknown code or an error, so a wrong code
//! costs its query each time, as before. Schools are neither renamed nor removed; a kept answer
//! expires after [`KEEP`] so that a token without a school stops naming the only school soon
//! after a second one is added.

use crate::schools::{ResolveError, resolve};
use crate::store::Store;
use konsult_protocol::SchoolId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an answer is kept.
pub const KEEP: Duration = Duration::from_secs(30);

/// The schools codes named lately, by normalised code (`""` for none).
#[derive(Debug, Default)]
pub struct SchoolCodes {
    /// Never held across an `.await`.
    known: Mutex<HashMap<String, (SchoolId, Instant)>>,
}

impl SchoolCodes {
    /// The school `code` names (the only school when `None`), from memory when asked within
    /// [`KEEP`], else from the store.
    pub async fn resolve_id(
        &self,
        store: &Store,
        code: Option<&str>,
    ) -> Result<SchoolId, ResolveError> {
        let key = code.map(str::trim).unwrap_or("").to_ascii_lowercase();
        let now = Instant::now();
        if let Some(id) = self.kept(&key, now) {
            return Ok(id);
        }
        let id = resolve(store, code).await?.id;
        // A map of one entry per school: a panic elsewhere cannot leave it half-changed.
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known.retain(|_, (_, at)| now.duration_since(*at) < KEEP);
        known.insert(key, (id, now));
        Ok(id)
    }

    fn kept(&self, key: &str, now: Instant) -> Option<SchoolId> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let (id, at) = known.get(key)?;
        (now.duration_since(*at) < KEEP).then_some(*id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_code_is_asked_once_and_an_unknown_one_every_time() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("konsult-codes-{}-{nanos}", std::process::id()));
        let store = Store::open(&dir).await.unwrap();
        let first = store.create_school("one", "One", "").await.unwrap();
        let codes = SchoolCodes::default();
        assert_eq!(
            codes.resolve_id(&store, Some(" ONE ")).await.unwrap(),
            first
        );
        assert_eq!(codes.resolve_id(&store, None).await.unwrap(), first);
        // The only school is remembered for tokens that name none, until KEEP passes.
        store.create_school("two", "Two", "").await.unwrap();
        assert_eq!(codes.resolve_id(&store, None).await.unwrap(), first);
        assert!(matches!(
            codes.resolve_id(&store, Some("three")).await,
            Err(ResolveError::Unknown(_))
        ));
        store.create_school("three", "Three", "").await.unwrap();
        assert!(codes.resolve_id(&store, Some("three")).await.is_ok());
        let stale = Instant::now() - KEEP;
        codes
            .known
            .lock()
            .unwrap()
            .insert(String::new(), (first, stale));
        assert!(matches!(
            codes.resolve_id(&store, None).await,
            Err(ResolveError::Ambiguous(_))
        ));
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
