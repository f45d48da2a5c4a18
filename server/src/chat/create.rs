//! Who may create which thread with `create_thread`:
//! - `personal`: a student with one teacher or support staff member, opened by either of
//!   them; asking again returns the existing personal thread of the two.
//! - `group`: staff (teachers, support) and admins, with chosen active users.
//! - `class`: staff and admins, with every active student of a class.
//!
//! The creator is always a member. Threads of help requests and sessions are created by the
//! hub, not here.

use super::{ChatError, NewThread};
use crate::store::Store;
use crate::store::users::User;
use konsult_protocol::UserId;
use konsult_protocol::limits::{MAX_INVITES, MAX_TOPIC_CHARS};
use konsult_protocol::model::{Role, ThreadKind, ThreadSummary};

/// A `create_thread` request.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub kind: ThreadKind,
    pub title: String,
    pub members: Vec<UserId>,
    pub class: Option<String>,
}

/// What to do for a request that passed the rules.
#[derive(Debug)]
pub enum Plan {
    /// Create this thread.
    Create(NewThread),
    /// The two already share a personal thread: this one, as the creator sees it.
    Existing(ThreadSummary),
}

/// Checks `request` against the creator's role and the people named, and plans the thread.
pub async fn plan(
    store: &Store,
    creator: &User,
    request: CreateRequest,
) -> Result<Plan, ChatError> {
    let title = request.title.trim().to_string();
    if title.chars().count() > MAX_TOPIC_CHARS {
        return Err(ChatError::TooLarge(format!(
            "a thread title has at most {MAX_TOPIC_CHARS} characters"
        )));
    }
    if request.members.len() > MAX_INVITES {
        return Err(ChatError::TooLarge(format!(
            "a thread is created with at most {MAX_INVITES} members"
        )));
    }
    let mut members = request.members.clone();
    members.retain(|m| *m != creator.id);
    members.sort();
    members.dedup();
    match request.kind {
        ThreadKind::Personal => personal(store, creator, title, &members).await,
        ThreadKind::Group => {
            require_organiser(creator, "group")?;
            if members.is_empty() {
                return Err(ChatError::BadRequest(
                    "a group thread needs at least one other member".into(),
                ));
            }
            for member in &members {
                active_user(store, creator, *member).await?;
            }
            members.push(creator.id);
            Ok(Plan::Create(NewThread {
                kind: ThreadKind::Group,
                title: non_empty(title)?,
                members,
                class: None,
                request: None,
                session: None,
                created_by: Some(creator.id),
                support_service: false,
                opening: Vec::new(),
            }))
        }
        ThreadKind::Class => {
            require_organiser(creator, "class")?;
            let class = request
                .class
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .ok_or_else(|| ChatError::BadRequest("a class thread needs `class`".into()))?;
            let mut members = class_students(store, creator, &class).await?;
            if members.is_empty() {
                return Err(ChatError::NotFound(format!(
                    "class {class} has no active students"
                )));
            }
            members.push(creator.id);
            let title = if title.is_empty() {
                class.clone()
            } else {
                title
            };
            Ok(Plan::Create(NewThread {
                kind: ThreadKind::Class,
                title,
                members,
                class: Some(class),
                request: None,
                session: None,
                created_by: Some(creator.id),
                support_service: false,
                opening: Vec::new(),
            }))
        }
    }
}

/// A personal thread: a student and one staff member.
async fn personal(
    store: &Store,
    creator: &User,
    title: String,
    members: &[UserId],
) -> Result<Plan, ChatError> {
    let [other] = members else {
        return Err(ChatError::BadRequest(
            "a personal thread has exactly one other member".into(),
        ));
    };
    let other = active_user(store, creator, *other).await?;
    let pair_ok = match creator.role {
        Role::Student => other.role.is_staff(),
        Role::Teacher | Role::Support => other.role == Role::Student,
        Role::Admin => false,
    };
    if !pair_ok {
        return Err(ChatError::Forbidden(
            "a personal thread is between a student and a teacher or support staff member; \
             use a group thread otherwise"
                .into(),
        ));
    }
    if let Some(existing) = existing_personal(store, creator, other.id).await? {
        return Ok(Plan::Existing(existing));
    }
    let (student, staff) = if creator.role == Role::Student {
        (creator, &other)
    } else {
        (&other, creator)
    };
    let title = if title.is_empty() {
        format!("{} — {}", student.name, staff.name)
    } else {
        title
    };
    Ok(Plan::Create(NewThread {
        kind: ThreadKind::Personal,
        title,
        members: vec![creator.id, other.id],
        class: None,
        request: None,
        session: None,
        created_by: Some(creator.id),
        support_service: false,
        opening: Vec::new(),
    }))
}

fn require_organiser(creator: &User, kind: &str) -> Result<(), ChatError> {
    if creator.role == Role::Student {
        return Err(ChatError::Forbidden(format!(
            "only teachers, support staff and administrators create {kind} threads"
        )));
    }
    Ok(())
}

fn non_empty(title: String) -> Result<String, ChatError> {
    if title.is_empty() {
        return Err(ChatError::BadRequest("the thread needs a title".into()));
    }
    Ok(title)
}

/// An active user of the creator's school: someone of another school does not exist here.
async fn active_user(store: &Store, creator: &User, id: UserId) -> Result<User, ChatError> {
    match store.user_by_id(id).await? {
        Some(user) if user.active && user.school == creator.school => Ok(user),
        _ => Err(ChatError::NotFound(format!("user {id} does not exist"))),
    }
}

async fn class_students(
    store: &Store,
    creator: &User,
    class: &str,
) -> Result<Vec<UserId>, ChatError> {
    Ok(store.class_students(creator.school, class).await?)
}

/// The personal thread of these two people opened with `create_thread` (not a request's or a
/// session's), if there is one, as `a` sees it.
async fn existing_personal(
    store: &Store,
    a: &User,
    b: UserId,
) -> Result<Option<ThreadSummary>, ChatError> {
    let Some(id) = store.personal_thread(a.school, a.id, b).await? else {
        return Ok(None);
    };
    Ok(store.summary(a.id, id).await?)
}
