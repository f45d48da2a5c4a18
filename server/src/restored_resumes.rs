//! Resume tokens that outlive a restart: the hub keeps a digest of each token it was told of
//! (never the token), its snapshot carries them, and after a restart this book holds those of
//! the restored hub, so that a client coming back with a token issued before the restart
//! resumes (`welcome.resumed`) within the grace period.

use konsult_protocol::UserId;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The digest of a resume token the hub keeps in its place: SHA-256, hex. The token is 128
/// random bits, so the digest gives nothing away.
pub fn token_digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A school's restored resume tokens, open once its hub is up.
#[derive(Debug)]
pub struct RestoredResumes {
    /// `true` once the hub is up and [`RestoredResumes::open`] filled the book.
    ready: watch::Sender<bool>,
    /// Never held across an `.await`.
    book: Mutex<Book>,
}

#[derive(Debug, Default)]
struct Book {
    /// Token digest -> the user it was issued to.
    by_digest: HashMap<String, UserId>,
    /// Honoured until then.
    until: Option<Instant>,
}

impl Default for RestoredResumes {
    fn default() -> Self {
        RestoredResumes {
            ready: watch::Sender::new(false),
            book: Mutex::new(Book::default()),
        }
    }
}

impl RestoredResumes {
    /// The hub is up: the digests restored from its snapshot are honoured until `until`
    /// (none when it started empty).
    pub fn open(&self, digests: impl IntoIterator<Item = (String, UserId)>, until: Instant) {
        {
            let mut book = self.book.lock().unwrap_or_else(|e| e.into_inner());
            book.by_digest = digests.into_iter().collect();
            book.until = Some(until);
        }
        self.ready.send_replace(true);
    }

    /// Whether `token`, given by `user` in `hello.resume`, was issued to them before the
    /// restart and is still honoured; it is honoured once. Waits for the hub to be up, at
    /// most `wait`.
    pub async fn take(&self, token: &str, user: UserId, wait: Duration) -> bool {
        let mut ready = self.ready.subscribe();
        if tokio::time::timeout(wait, ready.wait_for(|up| *up))
            .await
            .is_err()
        {
            return false;
        }
        let digest = token_digest(token);
        let mut book = self.book.lock().unwrap_or_else(|e| e.into_inner());
        if book.until.is_none_or(|until| Instant::now() >= until) {
            book.by_digest.clear();
            return false;
        }
        if book.by_digest.get(&digest) != Some(&user) {
            return false;
        }
        book.by_digest.remove(&digest);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_sha256_hex_and_not_the_token() {
        let digest = token_digest("abc");
        assert_eq!(
            digest,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(token_digest("abd"), digest);
    }

    #[tokio::test]
    async fn a_restored_token_is_honoured_once_for_its_user_until_the_grace_ends() {
        let book = RestoredResumes::default();
        let wait = Duration::from_millis(50);
        // Not up yet: nothing is honoured.
        assert!(!book.take("t1", UserId(1), wait).await);
        let until = Instant::now() + Duration::from_secs(60);
        book.open(
            [
                (token_digest("t1"), UserId(1)),
                (token_digest("t2"), UserId(2)),
            ],
            until,
        );
        assert!(
            !book.take("t1", UserId(2), wait).await,
            "another user's token"
        );
        assert!(book.take("t1", UserId(1), wait).await);
        assert!(!book.take("t1", UserId(1), wait).await, "used once");
        book.open([(token_digest("t2"), UserId(2))], Instant::now());
        assert!(!book.take("t2", UserId(2), wait).await, "past the grace");
    }
}
