//! `POST /api/admin/users/import?progress=true`: the account import answered as it goes, as
//! `application/x-ndjson`: `{"done":n,"total":m}` lines while the passwords are hashed (the
//! slow part: about a minute for 1,500 students), then one summary line
//! `{ok, created, skipped, errors, passwords}` (`code` and `message` beside them when nothing
//! was imported). All rows or none, as without `progress`; an admin who goes away while the
//! passwords are hashed abandons the import and nothing is written.

use super::bearer::Caller;
use super::error::account_error;
use super::import_outcome::{imported_answer, refusal_code};
use crate::accounts;
use crate::app::App;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::watch;

/// The import of `text` for `caller`, as a streamed answer.
pub fn answer(app: Arc<App>, caller: Caller, text: String) -> Response {
    // The latest `(done, total)`: progress lines say where the import stands now, so a
    // reader slower than the hashing gets fewer lines, never a backlog.
    let (progress, watched) = watch::channel((0, 0));
    let work: BoxFuture<'static, Value> = Box::pin(async move {
        let abandoned = AtomicBool::new(false);
        let reporter: accounts::ImportProgress = Arc::new(move |done, total| {
            advance(&progress, done, total);
            // Nobody reads the answer any more: stop, and write nothing.
            if progress.is_closed() {
                if !abandoned.swap(true, Ordering::Relaxed) {
                    tracing::info!(done, total, "import abandoned: its reader went away");
                }
                return false;
            }
            true
        });
        summary(&app, &caller, &text, reporter).await
    });
    let lines = futures_util::stream::unfold(Some((work, watched)), next_line);
    let mut response = (StatusCode::OK, Body::from_stream(lines)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

type Running = (BoxFuture<'static, Value>, watch::Receiver<(usize, usize)>);

/// Moves the progress on to `done` of `total`, never back: the hashing threads count in turn
/// but may report out of turn (one counts 192 and reports it before another reports 191).
fn advance(progress: &watch::Sender<(usize, usize)>, done: usize, total: usize) {
    progress.send_if_modified(|now| {
        let later = done >= now.0;
        if later {
            *now = (done, total);
        }
        later
    });
}

/// The next line of the answer: a progress line while the import runs, the summary when it
/// ends, then nothing.
async fn next_line(state: Option<Running>) -> Option<(Result<Bytes, Infallible>, Option<Running>)> {
    let (mut work, mut watched) = state?;
    tokio::select! {
        biased;
        changed = watched.changed() => match changed {
            Ok(()) => {
                let (done, total) = *watched.borrow_and_update();
                Some((line(&json!({"done": done, "total": total})), Some((work, watched))))
            }
            // The hashing is over: the summary is all that is left.
            Err(_) => Some((line(&work.await), None)),
        },
        summary = &mut work => Some((line(&summary), None)),
    }
}

fn line(value: &Value) -> Result<Bytes, Infallible> {
    let mut text = value.to_string();
    text.push('\n');
    Ok(Bytes::from(text))
}

/// Checks and imports `text`; the summary line.
async fn summary(
    app: &App,
    caller: &Caller,
    text: &str,
    progress: accounts::ImportProgress,
) -> Value {
    let plan = match accounts::check_import(&app.store, caller.0.school, text).await {
        Ok(plan) => plan,
        Err(e) => return failure(account_error(e), 0),
    };
    let skipped = plan.skipped;
    if !plan.errors.is_empty() {
        return json!({
            "ok": false,
            "code": refusal_code(&plan.errors),
            "message": format!("nothing was imported: {} lines have errors", plan.errors.len()),
            "created": 0,
            "skipped": skipped,
            "errors": plan.errors,
            "passwords": [],
        });
    }
    let imported = match accounts::import_plan(&app.store, caller.0.school, plan, progress).await {
        Ok(imported) => imported,
        Err(e) => return failure(account_error(e), skipped),
    };
    match imported_answer(app, caller, &imported).await {
        Ok(mut answer) => {
            answer["skipped"] = json!(skipped);
            answer["errors"] = json!([]);
            answer
        }
        // The accounts are written, only telling the hub failed: their passwords are shown
        // all the same, since nobody could see them again.
        Err(e) => {
            tracing::error!(code = %e.code.as_str(), message = %e.message, "after an import");
            let passwords: Vec<Value> = imported
                .generated
                .iter()
                .map(|(login, password)| json!({"login": login, "password": password}))
                .collect();
            json!({
                "ok": true,
                "created": imported.created,
                "skipped": skipped,
                "errors": [],
                "passwords": passwords,
            })
        }
    }
}

/// The summary of an import that wrote nothing because of `error`.
fn failure(error: super::ApiError, skipped: usize) -> Value {
    json!({
        "ok": false,
        "code": error.code,
        "message": error.message,
        "created": 0,
        "skipped": skipped,
        "errors": [],
        "passwords": [],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_reported_out_of_turn_never_goes_back() {
        let (progress, watched) = watch::channel((0, 0));
        advance(&progress, 0, 240);
        advance(&progress, 192, 240);
        advance(&progress, 191, 240);
        assert_eq!(*watched.borrow(), (192, 240));
        advance(&progress, 193, 240);
        assert_eq!(*watched.borrow(), (193, 240));
    }
}
