//! The chat messages of a connection: `send` is checked here and queued for the writer in
//! arrival order; `history`, `threads`, `read`, `typing` and `create_thread` run in their own
//! task, so that the connection never waits on storage.

use super::create::{self, CreateRequest, Plan};
use super::writer::{ReplyTo, SendJob};
use super::{ChatError, SERVER_CLIENT_ID_PREFIX, access, anonymous_threads, reads, receipts};
use crate::app::App;
use crate::conn_ctx::ConnCtx;
use crate::store::users::User;
use konsult_protocol::limits::{MAX_ATTACHMENTS_PER_MESSAGE, MAX_ID_BYTES, MAX_TEXT_CHARS};
use konsult_protocol::model::Role;
use konsult_protocol::{Rid, ServerMessage, ToChat};
use std::sync::Arc;

/// Who asked, with which `rid`, and where the answer goes: what a spawned handler needs of its
/// connection.
#[derive(Clone, Debug)]
struct Requester {
    app: Arc<App>,
    user: Arc<User>,
    reply: ReplyTo,
    rid: Option<Rid>,
}

impl Requester {
    fn send(&self, msg: &ServerMessage) {
        self.reply.send(msg, self.rid.as_ref());
    }

    fn ok(&self) {
        if self.rid.is_some() {
            self.send(&ServerMessage::Ok {});
        }
    }

    fn answer(&self, result: Result<(), ChatError>) {
        if let Err(e) = result {
            self.reply.error(self.rid.as_ref(), &e);
        }
    }
}

/// Handles one chat message of a connection.
pub fn message(app: &Arc<App>, ctx: &ConnCtx, rid: Option<Rid>, msg: ToChat) {
    let requester = Requester {
        app: app.clone(),
        user: ctx.user.clone(),
        reply: ReplyTo {
            conn: ctx.id,
            outbox: ctx.outbox.clone(),
        },
        rid,
    };
    match msg {
        ToChat::Send {
            thread,
            client_id,
            text,
            attachments,
        } => {
            let job = SendJob {
                reply: Some(requester.reply.clone()),
                rid: requester.rid.clone(),
                sender: requester.user.id,
                answers_requests: requester.user.role != Role::Student,
                thread,
                client_id,
                text,
                attachments,
                fence: app
                    .schools
                    .get(requester.user.school)
                    .and_then(|school| school.epoch.map(|epoch| (school.id, epoch))),
            };
            if let Err(e) = check_send(&job) {
                return requester.answer(Err(e));
            }
            if let Err(job) = app.chat.writer.submit(job) {
                let busy = ChatError::Busy("the chat writer is busy; retry shortly".into());
                job.fail(&busy);
            }
        }
        ToChat::History {
            thread,
            before,
            after,
            limit,
        } => {
            tokio::spawn(async move {
                let result = async {
                    let page = reads::page(before, after)?;
                    let (messages, has_more) = reads::history(
                        &requester.app.store,
                        requester.user.id,
                        requester.user.role,
                        thread,
                        page,
                        reads::page_size(limit),
                    )
                    .await?;
                    requester.send(&ServerMessage::History {
                        thread,
                        messages,
                        has_more,
                    });
                    Ok(())
                }
                .await;
                requester.answer(result);
            });
        }
        ToChat::Threads {} => {
            tokio::spawn(async move {
                let result = async {
                    let threads = reads::threads(&requester.app.store, requester.user.id).await?;
                    requester.send(&ServerMessage::Threads { threads });
                    Ok(())
                }
                .await;
                requester.answer(result);
            });
        }
        ToChat::Read { thread, seq } => {
            tokio::spawn(async move {
                let result = async {
                    let store = &requester.app.store;
                    let moved = receipts::mark_read(store, requester.user.id, thread, seq).await?;
                    requester.ok();
                    if let Some(seq) = moved {
                        let reader = (requester.user.id, requester.reply.conn);
                        let directory = &requester.app.directory;
                        // The mark is stored and answered; a failed notice is only logged.
                        if let Err(e) =
                            receipts::announce_read(store, directory, reader, thread, seq).await
                        {
                            tracing::warn!(error = %e, %thread, "read receipts not sent");
                        }
                    }
                    Ok(())
                }
                .await;
                requester.answer(result);
            });
        }
        ToChat::Typing { thread } => {
            let now = std::time::Instant::now();
            if !app.chat.typing.allow(requester.user.id, thread, now) {
                // Coalesced with the notice forwarded moments ago.
                return requester.ok();
            }
            tokio::spawn(async move {
                let result = async {
                    let store = &requester.app.store;
                    access::require_member(store, thread, requester.user.id).await?;
                    let members = store.members(thread).await?;
                    receipts::announce_typing(
                        &requester.app.directory,
                        &members,
                        requester.user.id,
                        thread,
                    );
                    requester.ok();
                    Ok(())
                }
                .await;
                requester.answer(result);
            });
        }
        ToChat::CreateThread {
            kind,
            title,
            members,
            class,
        } => {
            if requester.user.anonymous {
                return requester.answer(Err(ChatError::AnonymousSupportOnly(
                    "an anonymous identity asks the support service with request_help".into(),
                )));
            }
            tokio::spawn(async move {
                let request = CreateRequest {
                    kind,
                    title,
                    members,
                    class,
                };
                let result = async {
                    let chat = &requester.app.chat;
                    let thread =
                        match create::plan(&requester.app.store, &requester.user, request).await? {
                            Plan::Existing(thread) => thread,
                            Plan::Create(new) => {
                                chat.create_thread_except(
                                    requester.user.school,
                                    new,
                                    Some(requester.reply.conn),
                                )
                                .await?
                            }
                        };
                    requester.send(&ServerMessage::ThreadAdded { thread });
                    Ok(())
                }
                .await;
                requester.answer(result);
            });
        }
        ToChat::RevealIdentity { thread, token } => {
            tokio::spawn(async move {
                let Requester {
                    app,
                    user,
                    reply,
                    rid,
                } = requester.clone();
                let result =
                    anonymous_threads::reveal(&app, &user, reply, rid, thread, &token).await;
                requester.answer(result);
            });
        }
        ToChat::BlockAnonymous { thread } => {
            tokio::spawn(async move {
                let result = anonymous_threads::block(&requester.app, &requester.user, thread)
                    .await
                    .map(|_until| requester.ok());
                requester.answer(result);
            });
        }
    }
}

/// The limits a `send` must respect before it is queued.
fn check_send(job: &SendJob) -> Result<(), ChatError> {
    let client_id = &job.client_id.0;
    if client_id.is_empty() || client_id.len() > MAX_ID_BYTES {
        return Err(ChatError::BadRequest(format!(
            "client_id is 1 to {MAX_ID_BYTES} bytes"
        )));
    }
    if client_id.starts_with(SERVER_CLIENT_ID_PREFIX) {
        return Err(ChatError::BadRequest(format!(
            "client_ids beginning with `{SERVER_CLIENT_ID_PREFIX}` are the server's"
        )));
    }
    if job.text.chars().count() > MAX_TEXT_CHARS {
        return Err(ChatError::TooLarge(format!(
            "a message has at most {MAX_TEXT_CHARS} characters"
        )));
    }
    if job.attachments.len() > MAX_ATTACHMENTS_PER_MESSAGE {
        return Err(ChatError::TooLarge(format!(
            "a message has at most {MAX_ATTACHMENTS_PER_MESSAGE} attachments"
        )));
    }
    if job.text.trim().is_empty() && job.attachments.is_empty() {
        return Err(ChatError::BadRequest(
            "a message needs text or an attachment".into(),
        ));
    }
    let mut ids: Vec<&str> = job.attachments.iter().map(|a| a.0.as_str()).collect();
    ids.sort_unstable();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return Err(ChatError::BadRequest(
            "an attachment is listed twice".into(),
        ));
    }
    Ok(())
}
