//! The administration's API: accounts (list, search, add, import with a preview, password
//! reset, deactivation), classes and subjects, consultation hours of any staff member, the
//! links on `/help`, the summary report, and the audit log. Every change is audited.

use super::audit::audit;
use super::bearer::Caller;
use super::error::{ApiError, account_error};
use super::import_outcome::{import_refused, imported_answer};
use crate::accounts::{self, AddUser};
use crate::app::App;
use crate::auth::{generate_password, hash_password};
use crate::store::users::{User, UserFilter};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use konsult_protocol::http::{HelpLink, NewUserBody, SubjectBody};
use konsult_protocol::model::{HoursSlot, Role};
use konsult_protocol::{CloseCode, ErrorCode, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

/// Most users one listing returns.
const LIST_LIMIT: usize = 2_000;

/// A user as the admin screens show them.
#[derive(Debug, Serialize)]
pub struct UserView {
    id: UserId,
    login: String,
    name: String,
    role: Role,
    class: Option<String>,
    subjects: Vec<String>,
    active: bool,
}

impl From<&User> for UserView {
    fn from(u: &User) -> UserView {
        UserView {
            id: u.id,
            login: u.login.clone(),
            name: u.name.clone(),
            role: u.role,
            class: u.class.clone(),
            subjects: u.subjects.clone(),
            active: u.active,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    role: Option<String>,
    class: Option<String>,
    active: Option<bool>,
}

pub async fn list_users(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let role = match query.role.as_deref() {
        None | Some("") => None,
        Some(r) => Some(Role::parse(r).ok_or_else(|| {
            ApiError::new(
                ErrorCode::BadRequest,
                "role is student, teacher, support or admin",
            )
        })?),
    };
    let filter = UserFilter {
        q: query.q.filter(|q| !q.trim().is_empty()),
        role,
        class: query.class.filter(|c| !c.is_empty()),
        active: query.active,
    };
    let users = app
        .store
        .list_users(caller.0.school, &filter, LIST_LIMIT)
        .await?;
    let views: Vec<UserView> = users.iter().map(UserView::from).collect();
    Ok(Json(json!({ "users": views })))
}

pub async fn create_user(
    State(app): State<Arc<App>>,
    caller: Caller,
    body: Result<Json<NewUserBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let Json(body) = body.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    let role = Role::parse(&body.role).ok_or_else(|| {
        ApiError::new(
            ErrorCode::BadRequest,
            "role is student, teacher, support or admin",
        )
    })?;
    let login = body.login.trim().to_string();
    let generated = accounts::add_user(
        &app.store,
        caller.0.school,
        AddUser {
            login: login.clone(),
            name: body.name.trim().to_string(),
            role,
            class: body.class,
            subjects: body
                .subjects
                .iter()
                .flat_map(|s| accounts::parse_subjects(s))
                .collect(),
            password: body.password.filter(|p| !p.is_empty()),
        },
    )
    .await
    .map_err(account_error)?;
    let user = app
        .store
        .user_by_login(caller.0.school, &login)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::Internal, "the new account vanished"))?;
    app.user_changed(&user).await;
    audit(
        &app,
        &caller,
        "user.create",
        Some(&user.login),
        json!({"role": user.role}),
    )
    .await;
    Ok(Json(
        json!({ "user": UserView::from(&user), "password": generated }),
    ))
}

#[derive(Debug, Deserialize)]
pub struct ImportQuery {
    /// Check only: report what would be created and every bad line, write nothing.
    #[serde(default)]
    dry_run: bool,
    /// Answer as it goes (`application/x-ndjson`, see `import_progress`).
    #[serde(default)]
    progress: bool,
}

#[derive(Debug, Serialize)]
struct PreviewRow {
    line: usize,
    login: String,
    name: String,
    role: Role,
    class: Option<String>,
    subjects: Vec<String>,
}

/// `POST /api/admin/users/import`: a CSV file exported from the school's electronic journal
/// (the body), previewed with `?dry_run=true`, imported whole or not at all.
pub async fn import_users(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(query): Query<ImportQuery>,
    body: Bytes,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    caller.require_admin()?;
    let text = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::new(ErrorCode::BadRequest, "the file is not UTF-8 text"))?;
    if query.progress && !query.dry_run {
        return Ok(super::import_progress::answer(app, caller, text));
    }
    if query.dry_run {
        let plan = accounts::check_import(&app.store, caller.0.school, &text)
            .await
            .map_err(account_error)?;
        let preview: Vec<PreviewRow> = plan
            .rows
            .iter()
            .map(|r| PreviewRow {
                line: r.line,
                login: r.user.login.clone(),
                name: r.user.name.clone(),
                role: r.user.role,
                class: r.user.class.clone(),
                subjects: r.user.subjects.clone(),
            })
            .collect();
        return Ok(Json(json!({
            "ok": plan.errors.is_empty(),
            "rows": preview,
            "errors": plan.errors,
        }))
        .into_response());
    }
    match accounts::import_text(&app.store, caller.0.school, &text)
        .await
        .map_err(account_error)?
    {
        Ok(imported) => Ok(Json(imported_answer(&app, &caller, &imported).await?).into_response()),
        Err(errors) => Err(import_refused(&errors)),
    }
}

/// The account an admin acts on: one of the admin's own school (another school's account
/// does not exist here).
async fn target(app: &App, caller: &Caller, id: i64) -> Result<User, ApiError> {
    app.store
        .user_by_id(UserId(id))
        .await?
        // A student's anonymous identity is nobody's to manage: an admin who could reset its
        // password could sign in as it and read what the student told the support service.
        .filter(|user| user.school == caller.0.school && !user.anonymous)
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no user {id}")))
}

/// `POST /api/admin/users/{id}/password`: a new generated password; the old tokens stop working.
pub async fn reset_password(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let user = target(&app, &caller, id).await?;
    let password = generate_password();
    let hash = {
        let password = password.clone();
        tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|_| ApiError::new(ErrorCode::Internal, "hashing failed"))?
    };
    app.store.set_password(user.id, &hash).await?;
    // The reset ends every session the old password opened, as a deactivation does.
    app.close_user(&user, CloseCode::AccountDisabled).await;
    audit(
        &app,
        &caller,
        "user.password_reset",
        Some(&user.login),
        json!({}),
    )
    .await;
    Ok(Json(json!({ "login": user.login, "password": password })))
}

/// `POST /api/admin/users/{id}/deactivate` and `/activate`.
pub async fn set_active(
    app: Arc<App>,
    caller: Caller,
    id: i64,
    active: bool,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let user = target(&app, &caller, id).await?;
    if user.id == caller.0.id && !active {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "an administrator cannot deactivate their own account",
        ));
    }
    app.store.set_active(user.id, active).await?;
    let user = target(&app, &caller, id).await?;
    app.user_changed(&user).await;
    if !active {
        app.close_user(&user, CloseCode::AccountDisabled).await;
    }
    let action = if active {
        "user.activate"
    } else {
        "user.deactivate"
    };
    audit(&app, &caller, action, Some(&user.login), json!({})).await;
    Ok(Json(json!({ "user": UserView::from(&user) })))
}

pub async fn deactivate(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    set_active(app, caller, id, false).await
}

pub async fn activate(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    set_active(app, caller, id, true).await
}

/// `PUT /api/admin/users/{id}/hours`.
pub async fn set_user_hours(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<i64>,
    body: Result<Json<Vec<HoursSlot>>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let user = target(&app, &caller, id).await?;
    let Json(hours) = body.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    super::hours::store_hours(&app, &user, hours.clone()).await?;
    audit(
        &app,
        &caller,
        "hours.set",
        Some(&user.login),
        json!({"slots": hours.len()}),
    )
    .await;
    Ok(Json(json!({ "hours": hours })))
}

pub async fn classes(State(app): State<Arc<App>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    super::students::class_list(&app, caller.0.school).await
}

pub async fn subjects(
    State(app): State<Arc<App>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let subjects: Vec<Value> = app
        .store
        .subjects_with_staff(caller.0.school)
        .await?
        .into_iter()
        .map(|(code, name, staff)| json!({"code": code, "name": name, "staff": staff}))
        .collect();
    Ok(Json(json!({ "subjects": subjects })))
}

/// `PUT /api/admin/subjects/{code}`: add a subject or rename it.
pub async fn put_subject(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(code): Path<String>,
    body: Result<Json<SubjectBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let Json(body) = body.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    let code = code.trim().to_lowercase();
    let valid = !code.is_empty()
        && code.len() <= 64
        && code
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    let name = body.name.trim().to_string();
    if !valid || name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "a subject code of letters, digits, '_' or '-', and a name of 1 to 100 characters",
        ));
    }
    app.store
        .upsert_subject(caller.0.school, &code, &name)
        .await?;
    audit(
        &app,
        &caller,
        "subject.put",
        Some(&code),
        json!({"name": name}),
    )
    .await;
    Ok(Json(json!({"code": code, "name": name})))
}

pub async fn get_links(
    State(app): State<Arc<App>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    Ok(Json(
        json!({ "links": app.store.help_links(caller.0.school).await? }),
    ))
}

/// `PUT /api/admin/help-links`: the useful links on `/help`, in order.
pub async fn put_links(
    State(app): State<Arc<App>>,
    caller: Caller,
    body: Result<Json<Vec<HelpLink>>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let Json(links) = body.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    if links.len() > 50 {
        return Err(ApiError::new(ErrorCode::TooLarge, "at most 50 links"));
    }
    for link in &links {
        let url_ok = (link.url.starts_with("https://") || link.url.starts_with("http://"))
            && link.url.len() <= 2_000
            && !link.url.chars().any(char::is_whitespace);
        if !url_ok || link.title.trim().is_empty() || link.title.chars().count() > 200 {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("link {:?}: a title and an http(s) address", link.title),
            ));
        }
    }
    app.store.set_help_links(caller.0.school, &links).await?;
    audit(
        &app,
        &caller,
        "help_links.put",
        None,
        json!({"links": links.len()}),
    )
    .await;
    Ok(Json(json!({ "links": links })))
}

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    before: Option<i64>,
    limit: Option<i64>,
}

/// `GET /api/admin/audit`: newest first; admins read it, nobody edits it.
pub async fn audit_log(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1_000);
    let entries = app
        .store
        .audit_log(caller.0.school, query.before, limit)
        .await?;
    Ok(Json(json!({ "entries": entries })))
}
