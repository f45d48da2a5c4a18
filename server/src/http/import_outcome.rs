//! How an account import ends, with or without progress: the accounts it created told to the
//! hub and audited, the answer with the generated passwords, or the refusal naming the lines.

use super::audit::audit;
use super::bearer::Caller;
use super::error::ApiError;
use crate::accounts::{self, LineError};
use crate::app::App;
use konsult_protocol::ErrorCode;
use serde_json::{Value, json};

/// Tells the hub of the accounts an import created and audits it; the answer
/// `{ok, created, passwords:[{login, password}]}`.
pub(super) async fn imported_answer(
    app: &App,
    caller: &Caller,
    imported: &accounts::Imported,
) -> Result<Value, ApiError> {
    for (login, _) in &imported.generated {
        if let Some(user) = app.store.user_by_login(caller.0.school, login).await? {
            app.user_changed(&user).await;
        }
    }
    reload_users(app, caller.0.school).await?;
    audit(
        app,
        caller,
        "users.import",
        None,
        json!({"created": imported.created}),
    )
    .await;
    let passwords: Vec<Value> = imported
        .generated
        .iter()
        .map(|(login, password)| json!({"login": login, "password": password}))
        .collect();
    Ok(json!({
        "ok": true,
        "created": imported.created,
        "passwords": passwords,
    }))
}

/// The code of an import refused for `errors`: `weak_password` when weak passwords are all
/// that stands in the way, else `bad_request`.
pub(super) fn refusal_code(errors: &[LineError]) -> ErrorCode {
    if errors
        .iter()
        .all(|e| e.code == Some(ErrorCode::WeakPassword))
    {
        ErrorCode::WeakPassword
    } else {
        ErrorCode::BadRequest
    }
}

pub(super) fn import_refused(errors: &[LineError]) -> ApiError {
    let shown: Vec<String> = errors.iter().take(20).map(LineError::to_string).collect();
    ApiError::new(
        refusal_code(errors),
        format!("nothing was imported: {}", shown.join("; ")),
    )
}

/// Tells the school's hub about every active account (after a bulk change).
pub(super) async fn reload_users(
    app: &App,
    school: konsult_protocol::SchoolId,
) -> Result<(), ApiError> {
    for user in app.store.active_users(school).await? {
        app.user_changed(&user).await;
    }
    Ok(())
}
