//! A school's own consultation hours, the links on the public help page, and the append-only audit log: the
//! rows, and the [`Store`] methods that read and write them.

use crate::{Store, StoreError};
use konsult_protocol::model::HoursSlot;
use konsult_protocol::{SchoolId, UserId};
use serde::Serialize;

/// A link on `/help`: the type `PUT /api/admin/help-links` takes.
pub use konsult_protocol::http::HelpLink;

/// One line of the audit log.
#[derive(Clone, Debug, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    /// Milliseconds since the Unix epoch, UTC.
    pub ts: i64,
    pub actor: Option<i64>,
    pub actor_login: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub details: serde_json::Value,
}

impl Store {
    delegate! {
        /// A staff member's weekly hours.
        pub async fn hours_of(&self, user: UserId) -> Result<Vec<HoursSlot>, StoreError>;
        /// The hours of everyone in the school, for the hub at start and the help page.
        pub async fn all_hours(&self, school: SchoolId) -> Result<Vec<(UserId, Vec<HoursSlot>)>, StoreError>;
        /// Replaces a staff member's hours (in the staff member's school).
        pub async fn set_hours(&self, user: UserId, hours: &[HoursSlot]) -> Result<(), StoreError>;
        /// The links on `/help`, in order.
        pub async fn help_links(&self, school: SchoolId) -> Result<Vec<HelpLink>, StoreError>;
        /// Replaces the links on `/help`.
        pub async fn set_help_links(&self, school: SchoolId, links: &[HelpLink]) -> Result<(), StoreError>;
        /// Appends to the audit log.
        pub async fn audit(&self, school: SchoolId, actor: Option<UserId>, action: &str, target: Option<&str>, details: serde_json::Value) -> Result<(), StoreError>;
        /// The newest audit entries, before `before` (an id) when given.
        pub async fn audit_log(&self, school: SchoolId, before: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>, StoreError>;
    }
}
