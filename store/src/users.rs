//! User accounts and subjects: the rows, and the [`Store`] methods that read and write them.

use crate::{Store, StoreError};
use konsult_protocol::model::{Role, UserInfo};
use konsult_protocol::{SchoolId, UserId};

/// An account as the server knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// The school the account belongs to; its login is unique there.
    pub school: SchoolId,
    pub login: String,
    pub name: String,
    pub role: Role,
    pub class: Option<String>,
    pub subjects: Vec<String>,
    /// argon2 PHC string; `None` for portal-only users.
    pub password_hash: Option<String>,
    pub active: bool,
    /// Tokens carrying an older version are refused.
    pub token_version: i64,
    /// A student's anonymous identity (see `store::anonymous`): never listed, never an admin's
    /// to manage.
    pub anonymous: bool,
}

impl User {
    /// The user as other users see them.
    pub fn info(&self) -> UserInfo {
        UserInfo {
            id: self.id,
            login: self.login.clone(),
            name: self.name.clone(),
            role: self.role,
            class: self.class.clone(),
            subjects: self.subjects.clone(),
            anonymous: self.anonymous,
        }
    }
}

/// A student as the staff's directory lists them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DirectoryStudent {
    pub id: UserId,
    pub name: String,
    pub class: Option<String>,
}

/// A name as the directory's search compares it: trimmed, lower case, ё written е (as people
/// often type it).
pub(crate) fn fold_name(name: &str) -> String {
    name.trim().to_lowercase().replace('ё', "е")
}

/// A user to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewUser {
    pub login: String,
    pub name: String,
    pub role: Role,
    pub class: Option<String>,
    pub subjects: Vec<String>,
    pub password_hash: Option<String>,
    pub external_id: Option<String>,
}

/// Which users to list.
#[derive(Debug, Default, Clone)]
pub struct UserFilter {
    /// Part of the login or name, case-insensitive.
    pub q: Option<String>,
    pub role: Option<Role>,
    pub class: Option<String>,
    pub active: Option<bool>,
}

impl Store {
    delegate! {
        /// An account of `school` by its login (case-insensitive).
        pub async fn user_by_login(&self, school: SchoolId, login: &str) -> Result<Option<User>, StoreError>;
        /// An account by its id, whatever its school (ids are unique across schools).
        pub async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError>;
        /// An account of `school` by its portal id.
        pub async fn user_by_external_id(&self, school: SchoolId, external: &str) -> Result<Option<User>, StoreError>;
        /// Every active user, for the hub's directory of people.
        pub async fn active_users(&self, school: SchoolId) -> Result<Vec<User>, StoreError>;
        /// Whether any active admin exists.
        pub async fn has_admin(&self, school: SchoolId) -> Result<bool, StoreError>;
        /// Logins among `logins` that already exist (case-insensitive).
        pub async fn existing_logins(&self, school: SchoolId, logins: &[String]) -> Result<Vec<String>, StoreError>;
        /// Creates users in one transaction: all of them or none.
        pub async fn insert_users(&self, school: SchoolId, users: &[NewUser]) -> Result<Vec<UserId>, StoreError>;
        /// Creates users whose login is free and leaves existing ones as they are; returns how
        /// many were created.
        pub async fn insert_users_if_missing(&self, school: SchoolId, users: &[NewUser]) -> Result<usize, StoreError>;
        /// Adds subjects with display names, keeping existing names.
        pub async fn ensure_subjects(&self, school: SchoolId, subjects: &[(&str, &str)]) -> Result<(), StoreError>;
        /// Every subject as `(code, name)`.
        pub async fn subjects(&self, school: SchoolId) -> Result<Vec<(String, String)>, StoreError>;
        /// Replaces a portal user's name, role, class and subjects with the token's claims.
        pub async fn update_portal_user(&self, id: UserId, user: &NewUser) -> Result<(), StoreError>;
        /// Users matching a filter, by name, at most `limit`; the text search is
        /// case-insensitive beyond ASCII (names are Cyrillic).
        pub async fn list_users(&self, school: SchoolId, filter: &UserFilter, limit: usize) -> Result<Vec<User>, StoreError>;
        /// Activates or deactivates an account; older tokens stop working either way.
        pub async fn set_active(&self, id: UserId, active: bool) -> Result<bool, StoreError>;
        /// Sets a new password hash; older tokens stop working.
        pub async fn set_password(&self, id: UserId, hash: &str) -> Result<bool, StoreError>;
        /// Active students for the staff's directory, by class then name, optionally of one
        /// class and matching part of a name (case-insensitive and with ё as е).
        /// At most `limit` rows; the flag says whether more matched.
        pub async fn student_directory(&self, school: SchoolId, class: Option<&str>, q: Option<&str>, limit: usize) -> Result<(Vec<DirectoryStudent>, bool), StoreError>;
        /// Classes with their number of active students.
        pub async fn classes(&self, school: SchoolId) -> Result<Vec<(String, i64)>, StoreError>;
        /// The active students of a class, by id.
        pub async fn class_students(&self, school: SchoolId, class: &str) -> Result<Vec<UserId>, StoreError>;
        /// Subjects with their display names and how many active staff help with each.
        pub async fn subjects_with_staff(&self, school: SchoolId) -> Result<Vec<(String, String, i64)>, StoreError>;
        /// Adds a subject or renames it.
        pub async fn upsert_subject(&self, school: SchoolId, code: &str, name: &str) -> Result<(), StoreError>;
    }
}
