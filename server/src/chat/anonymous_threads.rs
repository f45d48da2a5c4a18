//! What happens in an anonymous student's thread beyond messages: the student's reveal
//! (`reveal_identity`, their name written into the thread by the server) and the support
//! service's block (`block_anonymous`: the identity closed, the student's anonymous questions
//! refused for a day), neither of which tells the staff member who the student is.

use super::writer::{ReplyTo, SendJob};
use super::{ChatError, SERVER_CLIENT_ID_PREFIX, access};
use crate::anonymity;
use crate::app::App;
use crate::store::users::User;
use konsult_protocol::model::Role;
use konsult_protocol::{ClientId, CloseCode, Rid, ThreadId};
use std::sync::Arc;

/// `reveal_identity`: the identity's student, proven by their own `token`, has their name and
/// class written into the thread as the identity's message; the reply is that message's
/// `sent`. The identity is not handed out again afterwards.
pub async fn reveal(
    app: &Arc<App>,
    identity: &User,
    reply: ReplyTo,
    rid: Option<Rid>,
    thread: ThreadId,
    token: &str,
) -> Result<(), ChatError> {
    if !identity.anonymous {
        return Err(ChatError::Forbidden(
            "only an anonymous identity reveals who it is".into(),
        ));
    }
    access::require_member(&app.store, thread, identity.id).await?;
    let student = anonymity::owns(app, token, identity)
        .await
        .ok_or_else(|| ChatError::Forbidden("the token is not this identity's student's".into()))?;
    app.store
        .reveal_anonymous_identity(identity.id, crate::store::now_ms())
        .await?;
    let job = SendJob {
        reply: Some(reply),
        rid,
        sender: identity.id,
        answers_requests: false,
        thread,
        // One reveal per thread: a repeated one is answered with the first.
        client_id: ClientId(format!("{SERVER_CLIENT_ID_PREFIX}reveal:{thread}")),
        text: anonymity::reveal_text(app.config.school.language, &student),
        attachments: Vec::new(),
        fence: app
            .schools
            .get(identity.school)
            .and_then(|school| school.epoch.map(|epoch| (school.id, epoch))),
    };
    if let Err(job) = app.chat.writer.submit(job) {
        let busy = ChatError::Busy("the chat writer is busy; retry shortly".into());
        job.fail(&busy);
    }
    Ok(())
}

/// `block_anonymous`: a support staff member in the thread closes its anonymous identity (its
/// connections end with 4011 and it may not sign in again) and refuses its student's anonymous
/// questions for [`anonymity::BLOCK_FOR`]. Returns until when, in ms since the epoch.
pub async fn block(app: &Arc<App>, staff: &User, thread: ThreadId) -> Result<i64, ChatError> {
    if staff.role != Role::Support {
        return Err(ChatError::Forbidden(
            "only the support service blocks anonymous questions".into(),
        ));
    }
    access::require_member(&app.store, thread, staff.id).await?;
    let mut identity = None;
    for member in app.store.members(thread).await? {
        if let Some(user) = app.store.user_by_id(member).await?
            && user.anonymous
        {
            identity = Some(user);
            break;
        }
    }
    let identity = identity
        .ok_or_else(|| ChatError::Conflict(format!("thread {thread} has no anonymous student")))?;
    if !identity.active {
        // Closed already: a second block would only stretch the first.
        return Err(ChatError::Conflict(format!(
            "the anonymous student of thread {thread} was closed already"
        )));
    }
    let owner = app
        .store
        .anonymous_owner(identity.id)
        .await?
        .ok_or_else(|| ChatError::Invalid(format!("identity {} has no owner", identity.id)))?;
    let until = crate::store::now_ms() + anonymity::BLOCK_FOR.as_millis() as i64;
    app.store
        .block_anonymous(identity.school, &owner, until)
        .await?;
    app.store.set_active(identity.id, false).await?;
    let closed = app.store.user_by_id(identity.id).await?.unwrap_or(identity);
    app.user_changed(&closed).await;
    app.close_user(&closed, CloseCode::AccountDisabled).await;
    Ok(until)
}
