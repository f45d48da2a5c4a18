//! Creating accounts: the first administrator, the demo school, `konsult user add` and
//! `konsult user import`, and the token secret kept in the data folder.

use crate::auth::{generate_password, generate_secret, hash_password};
use crate::store::Store;
use crate::store::users::NewUser;
use konsult_config::Config;
use konsult_protocol::SchoolId;
use konsult_protocol::import;
pub use konsult_protocol::import::{LineError, parse_subjects};
use konsult_protocol::model::Role;
use std::collections::HashSet;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A problem with an account to create, reported to whoever runs the command.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Invalid(String),
    /// A given password under the floor (`check_password`).
    #[error("{0}")]
    WeakPassword(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    /// Whoever asked for an import stopped waiting for it; nothing was written.
    #[error("the import was abandoned before it was written")]
    Abandoned,
}

/// The file in the data folder holding the generated token secret.
const SECRET_FILE: &str = "jwt_secret";

/// The HS256 secret: from config, else from the data folder, generated on first start.
pub fn jwt_secret(config: &Config) -> anyhow::Result<String> {
    if let Some(secret) = &config.auth.jwt_secret {
        return Ok(secret.clone());
    }
    let path = config.server.data.join(SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => anyhow::bail!("reading {}: {e}", path.display()),
    }
    let secret = generate_secret(32);
    write_private(&path, &secret)?;
    tracing::info!(path = %path.display(), "generated the token secret");
    Ok(secret)
}

/// Writes a file readable by its owner only.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// Creates the `admin` account of `school` with a random password when the school has no
/// administrator, and returns the password so it can be shown once.
pub async fn ensure_admin(store: &Store, school: SchoolId) -> Result<Option<String>, AccountError> {
    if store.has_admin(school).await? {
        return Ok(None);
    }
    let password = generate_password();
    let hash = hash_off_thread(password.clone()).await;
    let admin = NewUser {
        login: unused_login(store, school, "admin").await?,
        name: "Администратор".into(),
        role: Role::Admin,
        class: None,
        subjects: Vec::new(),
        password_hash: Some(hash),
        external_id: None,
    };
    store.insert_users(school, &[admin]).await?;
    Ok(Some(password))
}

async fn unused_login(store: &Store, school: SchoolId, base: &str) -> Result<String, AccountError> {
    for n in 0..100 {
        let login = if n == 0 {
            base.to_string()
        } else {
            format!("{base}{n}")
        };
        if store.user_by_login(school, &login).await?.is_none() {
            return Ok(login);
        }
    }
    Err(AccountError::Invalid(
        "no free login for the administrator".into(),
    ))
}

async fn hash_off_thread(password: String) -> String {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .unwrap_or_default()
}

/// The demo school's subjects: code and Russian name.
pub const DEMO_SUBJECTS: [(&str, &str); 3] = [
    ("math", "Математика"),
    ("physics", "Физика"),
    ("russian", "Русский язык"),
];

/// Seeds the demo school's accounts into `school`; accounts that exist already are left as
/// they are.
pub async fn seed_demo(store: &Store, school: SchoolId) -> Result<usize, AccountError> {
    store.ensure_subjects(school, &DEMO_SUBJECTS).await?;
    // Every demo account shares the published password `demo`, so one hash serves them all.
    let hash = hash_off_thread("demo".into()).await;
    let staff = |login: &str, name: &str, role: Role, subjects: &[&str]| NewUser {
        login: login.into(),
        name: name.into(),
        role,
        class: None,
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        password_hash: Some(hash.clone()),
        external_id: None,
    };
    let mut users = vec![
        staff("admin", "Администратор", Role::Admin, &[]),
        staff(
            "teacher1",
            "Анна Петровна Смирнова",
            Role::Teacher,
            &["math", "physics"],
        ),
        staff(
            "teacher2",
            "Игорь Николаевич Волков",
            Role::Teacher,
            &["math"],
        ),
        staff(
            "teacher3",
            "Елена Сергеевна Кузнецова",
            Role::Teacher,
            &["russian"],
        ),
        staff(
            "psychologist1",
            "Ольга Викторовна Соколова",
            Role::Support,
            &[],
        ),
    ];
    for n in 1..=30 {
        users.push(NewUser {
            login: format!("student{n}"),
            name: format!("Ученик {n}"),
            role: Role::Student,
            class: Some("9A".into()),
            subjects: Vec::new(),
            password_hash: Some(hash.clone()),
            external_id: None,
        });
    }
    Ok(store.insert_users_if_missing(school, &users).await?)
}

/// The floor for a password an admin sets or imports ([`import::check_password`]).
/// Generated passwords are longer (`crate::auth::GENERATED_PASSWORD_CHARS`); the demo school's
/// published `demo` is not an admin's choice and is not checked.
pub fn check_password(login: &str, password: &str) -> Result<(), AccountError> {
    import::check_password(login, password).map_err(AccountError::WeakPassword)
}

/// Checks one account's fields (the import's rules, [`import::check_account`]).
fn validate(user: &NewUser) -> Result<(), AccountError> {
    import::check_account(
        &user.login,
        &user.name,
        user.role,
        user.class.as_deref(),
        &user.subjects,
    )
    .map_err(AccountError::Invalid)
}

/// An account for `konsult user add`, password included (generated when not given).
#[derive(Debug)]
pub struct AddUser {
    pub login: String,
    pub name: String,
    pub role: Role,
    pub class: Option<String>,
    pub subjects: Vec<String>,
    pub password: Option<String>,
}

/// `konsult user add`: creates one account in `school`; returns the password when it was
/// generated.
pub async fn add_user(
    store: &Store,
    school: SchoolId,
    add: AddUser,
) -> Result<Option<String>, AccountError> {
    let generated = add.password.is_none().then(generate_password);
    let password = add.password.or(generated.clone()).unwrap_or_default();
    let user = NewUser {
        login: add.login,
        name: add.name,
        role: add.role,
        class: add.class.filter(|c| !c.is_empty()),
        subjects: add.subjects,
        password_hash: None,
        external_id: None,
    };
    validate(&user)?;
    if generated.is_none() {
        check_password(&user.login, &password)?;
    }
    if store.user_by_login(school, &user.login).await?.is_some() {
        return Err(AccountError::Invalid(format!(
            "login {:?} already exists",
            user.login
        )));
    }
    let user = NewUser {
        password_hash: Some(hash_off_thread(password).await),
        ..user
    };
    store.insert_users(school, &[user]).await?;
    Ok(generated)
}

/// One row of an import, before hashing.
#[derive(Debug, Clone)]
pub struct ImportRow {
    /// The row's line in the file (the header is line 1).
    pub line: usize,
    pub user: NewUser,
    password: String,
    generated: bool,
}

/// What an import would do: the rows that are fine and every line that is not.
#[derive(Debug, Default)]
pub struct ImportPlan {
    pub rows: Vec<ImportRow>,
    pub errors: Vec<LineError>,
    /// Lines that hold no account (blank ones).
    pub skipped: usize,
}

/// The outcome of an import.
#[derive(Debug)]
pub struct Imported {
    pub created: usize,
    /// `(login, password)` for rows whose password was generated.
    pub generated: Vec<(String, String)>,
}

/// Hears how far an import got, `(done, total)` rows made ready (their passwords hashed, the
/// slow part), from the threads doing it; answers whether to go on. `false` abandons the
/// import before anything is written.
pub type ImportProgress = Arc<dyn Fn(usize, usize) -> bool + Send + Sync>;

/// Reads and checks a whole CSV file without touching the database ([`import::parse`]):
/// every bad line is reported with its number; missing passwords are generated.
pub fn plan_import(text: &str) -> ImportPlan {
    let parsed = import::parse(text);
    let rows = parsed
        .rows
        .into_iter()
        .map(|row| {
            let generated = row.password.is_none();
            ImportRow {
                line: row.line,
                password: row.password.unwrap_or_else(generate_password),
                user: NewUser {
                    login: row.login,
                    name: row.name,
                    role: row.role,
                    class: row.class,
                    subjects: row.subjects,
                    password_hash: None,
                    external_id: None,
                },
                generated,
            }
        })
        .collect();
    ImportPlan {
        rows,
        errors: parsed.errors,
        skipped: parsed.skipped,
    }
}

/// Plans an import into `school` against the database too: logins that exist there already
/// are errors.
pub async fn check_import(
    store: &Store,
    school: SchoolId,
    text: &str,
) -> Result<ImportPlan, AccountError> {
    let mut plan = plan_import(text);
    let logins: Vec<String> = plan.rows.iter().map(|r| r.user.login.clone()).collect();
    let taken: HashSet<String> = store
        .existing_logins(school, &logins)
        .await?
        .into_iter()
        .map(|l| l.to_lowercase())
        .collect();
    for row in &plan.rows {
        if taken.contains(&row.user.login.to_lowercase()) {
            plan.errors.push(LineError {
                line: row.line,
                message: format!("login {:?} already exists", row.user.login),
                code: None,
            });
        }
    }
    plan.errors.sort_by_key(|e| e.line);
    Ok(plan)
}

/// Imports CSV text into `school`: every row, or none when any line has an error.
pub async fn import_text(
    store: &Store,
    school: SchoolId,
    text: &str,
) -> Result<Result<Imported, Vec<LineError>>, AccountError> {
    import_text_reporting(store, school, text, Arc::new(|_, _| true)).await
}

/// [`import_text`], telling `progress` how far it got.
pub async fn import_text_reporting(
    store: &Store,
    school: SchoolId,
    text: &str,
    progress: ImportProgress,
) -> Result<Result<Imported, Vec<LineError>>, AccountError> {
    let plan = check_import(store, school, text).await?;
    if !plan.errors.is_empty() {
        return Ok(Err(plan.errors));
    }
    import_plan(store, school, plan, progress).await.map(Ok)
}

/// Writes a checked plan without errors ([`check_import`]) into `school` in one transaction,
/// after hashing its passwords; `progress` hears of each hash.
pub async fn import_plan(
    store: &Store,
    school: SchoolId,
    plan: ImportPlan,
    progress: ImportProgress,
) -> Result<Imported, AccountError> {
    if let Some(error) = plan.errors.first() {
        return Err(AccountError::Invalid(error.to_string()));
    }
    let passwords: Vec<String> = plan.rows.iter().map(|r| r.password.clone()).collect();
    let hashes = tokio::task::spawn_blocking(move || hash_all(&passwords, &*progress))
        .await
        .map_err(|e| AccountError::Invalid(format!("password hashing failed: {e}")))?
        .ok_or(AccountError::Abandoned)?;
    let mut users = Vec::with_capacity(plan.rows.len());
    let mut generated = Vec::new();
    for (row, hash) in plan.rows.into_iter().zip(hashes) {
        if row.generated {
            generated.push((row.user.login.clone(), row.password));
        }
        users.push(NewUser {
            password_hash: Some(hash),
            ..row.user
        });
    }
    store.insert_users(school, &users).await?;
    Ok(Imported {
        created: users.len(),
        generated,
    })
}

/// `konsult user import FILE.csv`: all rows or none, into `school`; `progress` hears how far
/// it got.
pub async fn import_users(
    store: &Store,
    school: SchoolId,
    path: &Path,
    progress: ImportProgress,
) -> Result<Imported, AccountError> {
    let file_error = |reason: String| AccountError::File {
        path: path.display().to_string(),
        reason,
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(|e| file_error(e.to_string()))?;
    match import_text_reporting(store, school, &text, progress).await? {
        Ok(imported) => Ok(imported),
        Err(errors) => {
            let shown: Vec<String> = errors.iter().take(20).map(LineError::to_string).collect();
            Err(file_error(shown.join("\n  ")))
        }
    }
}

/// Hashes many passwords on all cores, in their order, telling `progress` of each; `None`
/// when `progress` asked to stop.
fn hash_all(
    passwords: &[String],
    progress: &(dyn Fn(usize, usize) -> bool + Sync),
) -> Option<Vec<String>> {
    let total = passwords.len();
    let done = AtomicUsize::new(0);
    if !progress(0, total) {
        return None;
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = total.div_ceil(threads).max(1);
    let done = &done;
    std::thread::scope(|scope| {
        let handles: Vec<_> = passwords
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let mut hashes = Vec::with_capacity(part.len());
                    for password in part {
                        hashes.push(hash_password(password));
                        let now = done.fetch_add(1, Ordering::Relaxed) + 1;
                        if !progress(now, total) {
                            return None;
                        }
                    }
                    Some(hashes)
                })
            })
            .collect();
        let mut all = Vec::with_capacity(total);
        let mut complete = true;
        for handle in handles {
            match handle.join() {
                Ok(Some(hashes)) => all.extend(hashes),
                Ok(None) => complete = false,
                // Never an import with fewer hashes than rows: the caller's task fails.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        complete.then_some(all)
    })
}

/// The account for a school portal token in `school`: created on first sight, its name, role, class and
/// subjects refreshed from the claims afterwards; `true` beside it when its role changed. An
/// account the claims describe as it is costs one query.
pub async fn portal_user(
    store: &Store,
    school: SchoolId,
    claims: &crate::auth::PortalClaims,
) -> Result<(crate::store::users::User, bool), crate::auth::AuthError> {
    use crate::auth::AuthError;
    let bad = |e: AccountError| AuthError::BadClaims(e.to_string());
    let user = NewUser {
        login: claims.sub.clone(),
        name: claims.name.clone(),
        role: claims.role()?,
        class: claims.class.clone().filter(|c| !c.is_empty()),
        subjects: claims
            .subjects
            .iter()
            .flat_map(|s| parse_subjects(s))
            .collect(),
        password_hash: None,
        external_id: Some(claims.sub.clone()),
    };
    validate(&user).map_err(bad)?;
    let store_error = |e: crate::store::StoreError| AuthError::Unavailable(e.to_string());
    let mut role_changed = false;
    match store
        .user_by_external_id(school, &claims.sub)
        .await
        .map_err(store_error)?
    {
        Some(existing) => {
            let same = existing.name == user.name
                && existing.role == user.role
                && existing.class == user.class
                && existing.subjects == user.subjects;
            if same {
                // The account as the claims describe it: nothing to write or read again.
                return Ok((existing, false));
            }
            role_changed = existing.role != user.role;
            store
                .update_portal_user(existing.id, &user)
                .await
                .map_err(store_error)?;
        }
        None => {
            if store
                .user_by_login(school, &user.login)
                .await
                .map_err(store_error)?
                .is_some()
            {
                return Err(AuthError::BadClaims(format!(
                    "login {:?} belongs to a local account",
                    user.login
                )));
            }
            store
                .insert_users(school, &[user])
                .await
                .map_err(store_error)?;
            tracing::info!("created an account from a portal token");
        }
    }
    let user = store
        .user_by_external_id(school, &claims.sub)
        .await
        .map_err(store_error)?
        .ok_or(AuthError::NoAccount)?;
    Ok((user, role_changed))
}
