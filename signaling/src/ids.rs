//! Maps keyed by the numeric ids the server hands out (users, connections, requests,
//! sessions), hashed with one multiply instead of keyed SipHash: no client picks these keys, so
//! there is no flooding to defend against, and the hub looks them up on every input.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A hash map keyed by a server-assigned id.
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Multiplicative hashing (as in Firefox's FxHash) for integer keys.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct IdHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u64(u64::from(*byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(SEED);
    }

    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use konsult_protocol::UserId;
    use std::collections::BTreeSet;

    fn hash(id: i64) -> u64 {
        let mut h = IdHasher::default();
        h.write_i64(id);
        h.finish()
    }

    #[test]
    fn sequential_ids_spread_over_buckets() {
        let mut map: IdMap<UserId, i64> = IdMap::default();
        for id in 0..10_000 {
            map.insert(UserId(id), id);
        }
        assert!((0..10_000).all(|id| map.get(&UserId(id)) == Some(&id)));
        // The map picks a bucket from the low bits: 1,024 neighbouring ids get 1,024 buckets.
        let buckets: BTreeSet<u64> = (0..1024).map(|id| hash(id) & 1023).collect();
        assert_eq!(buckets.len(), 1024);
        // And it filters probes with the top 7 bits: neighbours must not share them all.
        let tags: BTreeSet<u64> = (0..128).map(|id| hash(id) >> 57).collect();
        assert!(tags.len() > 32, "{} distinct tags", tags.len());
    }
}
