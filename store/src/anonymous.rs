//! Students' anonymous identities for questions to the support service: the accounts that
//! stand for them, the sealed reference to their student, and the blocks the support service
//! sets. The student is kept only as an owner digest (a keyed hash the server computes from
//! the student's own token), so no query here can name the student of an identity.

use crate::users::User;
use crate::{Store, StoreError};
use konsult_protocol::{SchoolId, UserId};

/// An identity to create for the student whose digest is `owner_digest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAnonymous<'a> {
    pub owner_digest: &'a str,
    /// A random login nobody signs in with (the account has no password).
    pub login: &'a str,
    /// What others see as its name ("Анонимно").
    pub name: &'a str,
    /// The student's class when they chose to show it.
    pub class: Option<&'a str>,
}

impl Store {
    delegate! {
        /// The student's identity still in use (active and never revealed), if any.
        pub async fn anonymous_identity(&self, school: SchoolId, owner_digest: &str) -> Result<Option<User>, StoreError>;
        /// Creates an identity (a student account marked anonymous) with its sealed owner.
        pub async fn create_anonymous_identity(&self, school: SchoolId, new: &NewAnonymous<'_>) -> Result<User, StoreError>;
        /// Shows or hides the class on an identity.
        pub async fn set_anonymous_class(&self, user: UserId, class: Option<&str>) -> Result<(), StoreError>;
        /// The owner digest of an identity; `None` for any other account.
        pub async fn anonymous_owner(&self, user: UserId) -> Result<Option<String>, StoreError>;
        /// Marks an identity revealed by its student; it is not handed out again.
        pub async fn reveal_anonymous_identity(&self, user: UserId, at_ms: i64) -> Result<(), StoreError>;
        /// Refuses the owner's anonymous questions until `until_ms` (a later block wins).
        pub async fn block_anonymous(&self, school: SchoolId, owner_digest: &str, until_ms: i64) -> Result<(), StoreError>;
        /// Until when the owner's anonymous questions are refused, when that is after `now_ms`.
        pub async fn anonymous_blocked_until(&self, school: SchoolId, owner_digest: &str, now_ms: i64) -> Result<Option<i64>, StoreError>;
    }
}
