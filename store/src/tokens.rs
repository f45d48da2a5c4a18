//! Access tokens revoked by logout: the [`Store`] methods that keep them until they expire.

use crate::{Store, StoreError};

impl Store {
    delegate! {
        /// Keeps token `id` revoked until `expires` (Unix seconds); forgets those past `now`.
        pub async fn revoke_token(&self, id: &str, expires: u64, now: u64) -> Result<(), StoreError>;
        /// The revoked tokens still unexpired at `now`, with their expiry.
        pub async fn revoked_tokens(&self, now: u64) -> Result<Vec<(String, u64)>, StoreError>;
    }
}
