//! The server's keyed digests: students' anonymous identities' owner digests (`anonymity.rs`),
//! the one thing that links an identity to its student, computed only from the student's own
//! token; the proofs in the addresses of private calendar feeds (`booking/calendar.rs`); and
//! the seal on an edge node's word for a bridged connection (`ws/passport.rs`).

use hmac::{Hmac, KeyInit, Mac};
use konsult_protocol::{SchoolId, UserId};

/// The key of owner digests, derived from the token secret: a database without the secret
/// cannot tell whose an identity is, even by trying every student id.
pub struct Seal {
    key: Vec<u8>,
}

impl std::fmt::Debug for Seal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seal")
    }
}

impl Seal {
    pub fn new(secret: &[u8]) -> Seal {
        Seal {
            key: secret.to_vec(),
        }
    }

    fn mac(&self) -> Hmac<sha2::Sha256> {
        <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"))
    }

    /// The seal of `body`, a bridged connection's passport: only a node holding the cluster's
    /// secret can make it.
    pub fn passport_seal(&self, body: &[u8]) -> [u8; 32] {
        let mut mac = self.mac();
        mac.update(b"konsult-bridge-passport:v1:");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }

    /// Whether `seal` is `body`'s, compared in constant time.
    pub fn passport_sealed(&self, body: &[u8], seal: &[u8]) -> bool {
        let mut mac = self.mac();
        mac.update(b"konsult-bridge-passport:v1:");
        mac.update(body);
        mac.verify_slice(seal).is_ok()
    }

    /// The proof in the address of a user's calendar feed of `generation`: a renewal makes a
    /// new generation, so an old address stops proving anything.
    pub fn calendar_proof(&self, user: UserId, generation: i64) -> String {
        let mut mac = self.mac();
        mac.update(format!("konsult-calendar-feed:v1:{}:{generation}", user.0).as_bytes());
        mac.finalize().into_bytes()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The digest the identities of `student` of `school` are filed under.
    pub fn owner_digest(&self, school: SchoolId, student: UserId) -> String {
        let mut mac = self.mac();
        mac.update(format!("konsult-anonymous-owner:v1:{}:{}", school.0, student.0).as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_depend_on_the_key_the_school_and_the_student() {
        let seal = Seal::new(b"one secret of at least thirty-two bytes");
        let a = seal.owner_digest(SchoolId(1), UserId(7));
        assert_eq!(a, seal.owner_digest(SchoolId(1), UserId(7)));
        assert_eq!(a.len(), 64);
        assert_ne!(a, seal.owner_digest(SchoolId(1), UserId(8)));
        assert_ne!(a, seal.owner_digest(SchoolId(2), UserId(7)));
        let other = Seal::new(b"another secret of at least thirty-two b");
        assert_ne!(a, other.owner_digest(SchoolId(1), UserId(7)));
    }
}
