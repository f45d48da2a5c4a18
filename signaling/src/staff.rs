//! The staff index: which active staff members serve each subject, kept up to date as accounts
//! change, so that matching, estimates and the teacher list touch only staff, never every
//! account the hub knows.

use konsult_protocol::UserId;
use std::collections::{BTreeSet, HashMap};

/// Active staff, all of them and by subject served, each set in id order.
#[derive(Debug, Default)]
pub(crate) struct StaffIndex {
    all: BTreeSet<UserId>,
    by_subject: HashMap<String, BTreeSet<UserId>>,
}

impl StaffIndex {
    /// Records that `user` now serves `after` (`None`: not active staff) where they served
    /// `before`.
    pub fn update(
        &mut self,
        user: UserId,
        before: Option<Vec<String>>,
        after: Option<Vec<String>>,
    ) {
        if before == after {
            return;
        }
        for subject in before.iter().flatten() {
            if let Some(staff) = self.by_subject.get_mut(subject) {
                staff.remove(&user);
                if staff.is_empty() {
                    self.by_subject.remove(subject);
                }
            }
        }
        match after {
            Some(subjects) => {
                self.all.insert(user);
                for subject in subjects {
                    self.by_subject.entry(subject).or_default().insert(user);
                }
            }
            None => {
                self.all.remove(&user);
            }
        }
    }

    /// Active staff serving `subject`, in id order.
    pub fn of(&self, subject: &str) -> impl Iterator<Item = UserId> + '_ {
        self.by_subject.get(subject).into_iter().flatten().copied()
    }

    /// Every active staff member, in id order.
    pub fn all(&self) -> impl Iterator<Item = UserId> + '_ {
        self.all.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subjects(s: &[&str]) -> Option<Vec<String>> {
        Some(s.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn follows_subject_changes_and_deactivation() {
        let mut index = StaffIndex::default();
        index.update(UserId(2), None, subjects(&["math"]));
        index.update(UserId(1), None, subjects(&["math", "physics"]));
        assert_eq!(index.of("math").collect::<Vec<_>>(), [UserId(1), UserId(2)]);
        index.update(
            UserId(1),
            subjects(&["math", "physics"]),
            subjects(&["physics"]),
        );
        assert_eq!(index.of("math").collect::<Vec<_>>(), [UserId(2)]);
        assert_eq!(index.of("physics").collect::<Vec<_>>(), [UserId(1)]);
        index.update(UserId(2), subjects(&["math"]), None);
        assert_eq!(index.of("math").count(), 0);
        assert_eq!(index.all().collect::<Vec<_>>(), [UserId(1)]);
    }
}
