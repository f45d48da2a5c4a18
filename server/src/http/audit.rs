//! The audit log's writer for the administration's API: every change an admin makes, and every
//! export of the record, is written with who did it.

use super::bearer::Caller;
use crate::app::App;
use serde_json::Value;

/// Writes an audit entry; a failure is logged, never hidden from the operator.
pub async fn audit(app: &App, caller: &Caller, action: &str, target: Option<&str>, details: Value) {
    if let Err(e) = app
        .store
        .audit(caller.0.school, Some(caller.0.id), action, target, details)
        .await
    {
        tracing::error!(error = %e, action, "writing the audit log failed");
    }
}
