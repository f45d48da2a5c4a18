//! Schools: the unit every account, thread and record belongs to; the rows, the rule for a
//! school's code, and the [`Store`] methods that create and find them.

use crate::{Store, StoreError};
use konsult_protocol::SchoolId;

/// A school as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct School {
    pub id: SchoolId,
    /// 1 to 32 of `[a-z0-9-]`: what a login, a URL (`/s/<code>/`) and the CLI name it by.
    pub code: String,
    pub name: String,
    /// An IANA time zone, for consultation hours and reports; empty for the school an
    /// earlier version's data moved into, until the server fills it from config.
    pub timezone: String,
}

/// The longest school code.
pub const CODE_MAX: usize = 32;

/// A school code as stored: trimmed and lower-cased, or why it cannot be one.
pub fn normalize_code(code: &str) -> Result<String, StoreError> {
    let code = code.trim().to_ascii_lowercase();
    let valid = !code.is_empty()
        && code.len() <= CODE_MAX
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(code)
    } else {
        Err(StoreError::Invalid(format!(
            "school code {code:?}: 1 to {CODE_MAX} characters of a-z, 0-9 and -"
        )))
    }
}

impl Store {
    delegate! {
        /// Creates a school with the default links on its help page; a code already taken
        /// (in any case) is refused with [`StoreError::Invalid`] naming it.
        pub async fn create_school(&self, code: &str, name: &str, timezone: &str) -> Result<SchoolId, StoreError>;
        /// Every school, by code.
        pub async fn schools(&self) -> Result<Vec<School>, StoreError>;
        /// A school by its code (case-insensitive).
        pub async fn school_by_code(&self, code: &str) -> Result<Option<School>, StoreError>;
        /// A school by its id.
        pub async fn school_by_id(&self, id: SchoolId) -> Result<Option<School>, StoreError>;
        /// Sets a school's name and time zone (the school of an earlier version's data gets
        /// them from config).
        pub async fn update_school(&self, id: SchoolId, name: &str, timezone: &str) -> Result<(), StoreError>;
    }
}
