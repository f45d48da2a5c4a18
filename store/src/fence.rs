//! School epochs as fencing tokens for the writes of a node of a cluster (docs/cluster.md):
//! the school a write is for, the epoch its writer claimed it under, and the check that refuses
//! the write once another node claimed the school under a newer epoch.

use crate::StoreError;
use konsult_protocol::SchoolId;

/// A school and the epoch its writer claimed it under.
pub type Fence = (SchoolId, i64);

/// The first of `fences` whose epoch is not the one `current` reports (none: the school was
/// never claimed), as the [`StoreError::Stale`] that refuses the write.
pub(crate) fn first_stale(fences: &[Fence], current: &[(i64, i64)]) -> Option<StoreError> {
    fences.iter().find_map(|(school, epoch)| {
        let now = current
            .iter()
            .find(|(id, _)| *id == school.0)
            .map_or(0, |(_, e)| *e);
        (now != *epoch).then_some(StoreError::Stale {
            school: *school,
            epoch: *epoch,
            current: now,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_school_whose_epoch_moved_on_or_was_never_claimed_is_stale() {
        let (a, b) = (SchoolId(1), SchoolId(2));
        assert!(first_stale(&[(a, 3), (b, 7)], &[(1, 3), (2, 7)]).is_none());
        assert!(first_stale(&[], &[]).is_none());
        let moved = first_stale(&[(a, 3), (b, 7)], &[(1, 3), (2, 8)]);
        assert!(matches!(
            moved,
            Some(StoreError::Stale { school, epoch: 7, current: 8 }) if school == b
        ));
        let never = first_stale(&[(a, 1)], &[]);
        assert!(matches!(never, Some(StoreError::Stale { current: 0, .. })));
    }
}
