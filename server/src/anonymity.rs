//! Students' anonymous identities for questions to the support service: the seal that turns a
//! student into the digest their identity is filed under, and handing out the identity
//! (`POST /api/anonymous`). An identity is an account of its own, so the hub, the chat, the
//! record and every route see only it; what links it to its student is the digest, which only
//! the student's own token can produce, and the student's own reveal.

use crate::app::App;
use crate::store::anonymous::NewAnonymous;
use crate::store::users::User;
use konsult_config::Language;
use konsult_protocol::ErrorCode;
use konsult_protocol::model::Role;

/// How long the support service's block of a student's anonymous questions lasts.
pub const BLOCK_FOR: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Why an identity was not handed out.
#[derive(Debug, thiserror::Error)]
pub enum AnonymityError {
    #[error("only students ask anonymously")]
    NotAStudent,
    #[error(
        "the support service paused your anonymous questions until {until_ms} (ms since the epoch)"
    )]
    Blocked { until_ms: i64 },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl AnonymityError {
    pub fn code(&self) -> ErrorCode {
        match self {
            AnonymityError::NotAStudent => ErrorCode::Forbidden,
            AnonymityError::Blocked { .. } => ErrorCode::AnonymousBlocked,
            AnonymityError::Store(_) => ErrorCode::Internal,
        }
    }
}

/// What others see as an identity's name.
pub fn anonymous_name(language: Language) -> &'static str {
    match language {
        Language::Ru => "Анонимно",
        Language::En => "Anonymous",
    }
}

/// The student's identity in use, made when they have none (or revealed or lost the last
/// one), showing their class or not as they chose now.
pub async fn identity_for(
    app: &App,
    student: &User,
    show_class: bool,
) -> Result<User, AnonymityError> {
    if student.role != Role::Student || student.anonymous {
        return Err(AnonymityError::NotAStudent);
    }
    let digest = app.seal.owner_digest(student.school, student.id);
    let now = crate::store::now_ms();
    if let Some(until_ms) = app
        .store
        .anonymous_blocked_until(student.school, &digest, now)
        .await?
    {
        return Err(AnonymityError::Blocked { until_ms });
    }
    let class = student.class.as_deref().filter(|_| show_class);
    let identity = match app
        .store
        .anonymous_identity(student.school, &digest)
        .await?
    {
        Some(identity) if identity.class.as_deref() == class => identity,
        Some(identity) => {
            app.store.set_anonymous_class(identity.id, class).await?;
            let changed = app.store.user_by_id(identity.id).await?.unwrap_or(identity);
            app.user_changed(&changed).await;
            changed
        }
        None => {
            let login = format!("~anonymous-{}", crate::auth::generate_secret(12));
            let new = NewAnonymous {
                owner_digest: &digest,
                login: &login,
                name: anonymous_name(app.config.school.language),
                class,
            };
            let identity = app
                .store
                .create_anonymous_identity(student.school, &new)
                .await?;
            app.user_changed(&identity).await;
            identity
        }
    };
    Ok(identity)
}

/// Whether the holder of `token` is the student behind `identity`.
pub async fn owns(app: &App, token: &str, identity: &User) -> Option<User> {
    let student = app.authenticate(token).await.ok()?;
    if student.anonymous || student.school != identity.school {
        return None;
    }
    let digest = app.seal.owner_digest(student.school, student.id);
    let owner = app.store.anonymous_owner(identity.id).await.ok()??;
    (owner == digest).then_some(student)
}

/// The words of a reveal, in the school's language.
pub fn reveal_text(language: Language, student: &User) -> String {
    let who = match &student.class {
        Some(class) => format!("{} ({class})", student.name),
        None => student.name.clone(),
    };
    match language {
        Language::Ru => format!("Ученик назвал себя: {who}."),
        Language::En => format!("The student told you who they are: {who}."),
    }
}

/// The student a connection of `user` counts against (`directory.rs`), as their owner digest:
/// their own for a student, their student's for an anonymous identity (read from the store,
/// where it is all that is kept of the student), none for staff. A store that cannot be read
/// leaves an identity's connection counted as its own.
pub async fn connection_owner(app: &App, user: &User) -> Option<String> {
    if user.role != Role::Student {
        return None;
    }
    if !user.anonymous {
        return Some(app.seal.owner_digest(user.school, user.id));
    }
    match app.store.anonymous_owner(user.id).await {
        Ok(owner) => owner,
        Err(e) => {
            tracing::warn!(error = %e, user = %user.id, "an identity's owner is unreadable");
            None
        }
    }
}
