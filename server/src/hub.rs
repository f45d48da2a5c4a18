//! Runs a school's hub: one task per school owns its sans-IO `signaling::Hub`, feeds it what
//! connections, storage and the SFU report, asks it for its deadlines, and carries out what it
//! wants done (messages through the directory, threads through chat, records through storage,
//! media through the SFU).

use crate::app::App;
use crate::chat::writer::SendJob;
use crate::chat::{ChatError, NewThread, SERVER_CLIENT_ID_PREFIX};
use crate::hub_handle::HubInputs;
use crate::hub_keeper::{self, Keeper};
use crate::records::RecordWriter;
use crate::schools::School;
use crate::store::{now_ms, retry_transient};
use crate::wire;
use crate::wording;
use konsult_protocol::{ErrorCode, ServerMessage};
use konsult_signaling::{Hub, HubConfig, Input, MediaCommand, Now, Output, Recipients};
use std::sync::Arc;
use tokio::time::Instant;

/// The time now, with the school's UTC offset for consultation hours.
fn now(tz: &jiff::tz::TimeZone) -> Now {
    let unix_ms = now_ms();
    let offset = jiff::Timestamp::from_millisecond(unix_ms)
        .map(|t| tz.to_offset(t).seconds())
        .unwrap_or(0);
    Now {
        mono: Instant::now().into_std(),
        unix_ms,
        utc_offset_secs: offset,
    }
}

/// The hub's configuration from the server's.
pub fn hub_config(config: &konsult_config::Config) -> HubConfig {
    HubConfig {
        offer_timeout: config.hub.offer_timeout,
        max_wait: config.hub.max_wait,
        grace: config.hub.grace,
        p2p_timeout: config.media.p2p_timeout,
        session_members: config.limits.session_members,
        queue_push_interval: config.hub.queue_push_interval,
        position_interval: config.hub.position_interval,
        immediate_positions: config.hub.immediate_positions,
    }
}

/// Runs the hub of `school` until every handle is gone or shutdown begins: fed with that
/// school's accounts, hours and ids only, writing its records and threads into that school.
/// It starts from the school's last snapshot when one was kept, and keeps a new one as it
/// changes (`hub_keeper.rs`).
/// `epoch`: the cluster lease's epoch the node claimed the school under; `None`, one node
/// alone, claims the next. It stops when this node stops serving the school (`School::stop`).
pub async fn run(app: Arc<App>, school: Arc<School>, inputs: HubInputs, epoch: Option<i64>) {
    let HubInputs(mut rx) = inputs;
    let tz = &school.timezone;
    let seeds = match crate::records::id_seeds(&app.store, school.id).await {
        Ok(seeds) => seeds,
        Err(e) => {
            tracing::error!(error = %e, school = %school.code, "cannot read the last ids; the hub does not start");
            school.resumes.open([], std::time::Instant::now());
            school.done.send_replace(true);
            return;
        }
    };
    let start = hub_keeper::claim_and_load(&app.store, &school, epoch).await;
    let mut hub = match start.snapshot {
        Some(snapshot) => {
            tracing::info!(
                school = %school.code,
                taken_at_ms = snapshot.taken_at_ms(),
                "the hub restarts from its snapshot"
            );
            let mut hub = Hub::restore(hub_config(&app.config), snapshot, now(tz));
            hub.ids_at_least(seeds);
            hub
        }
        None => Hub::new(hub_config(&app.config), seeds, now(tz)),
    };
    school.resumes.open(
        hub.resume_tokens()
            .map(|(digest, user)| (digest.to_string(), user)),
        std::time::Instant::now() + app.config.hub.grace,
    );
    match app.store.active_users(school.id).await {
        Ok(users) => {
            for user in users {
                hub.handle_input(
                    now(tz),
                    Input::UserChanged {
                        user: user.info(),
                        active: true,
                    },
                );
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot load users into the hub"),
    }
    match app.store.all_hours(school.id).await {
        Ok(all) => {
            for (user, hours) in all {
                hub.handle_input(now(tz), Input::HoursChanged { user, hours });
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot load consultation hours into the hub"),
    }
    match crate::booking::load_for_hub(&app, school.id).await {
        Ok(inputs) => {
            for input in inputs {
                hub.handle_input(now(tz), input);
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot load booked slots into the hub"),
    }
    let records = RecordWriter::start(app.store.clone(), school.id, start.epoch);
    let mut keeper = start.epoch.map(|epoch| {
        Keeper::start(
            app.store.clone(),
            &school,
            epoch,
            app.config.hub.snapshot_interval,
            0,
        )
    });
    let mut stopping = app.drain.watch();
    let school_stopped = school.stopped();
    tokio::pin!(school_stopped);
    loop {
        while let Some(output) = hub.poll_output() {
            execute(&app, &school, &records, output).await;
        }
        if let Some(keeper) = &mut keeper {
            keeper.step(&hub);
        }
        school
            .live_sessions
            .store(hub.live_sessions(), std::sync::atomic::Ordering::Relaxed);
        let deadline = hub.poll_timeout().map(Instant::from_std);
        let keep_at = keeper.as_ref().and_then(|k| k.deadline(&hub));
        tokio::select! {
            input = rx.recv() => {
                let Some(input) = input else { break };
                if !app.may_act(&school) {
                    // A node of a cluster no longer holds the school: it stops here.
                    break;
                }
                hub.handle_input(now(tz), input);
            }
            _ = sleep_until_some(deadline) => hub.handle_timeout(now(tz)),
            _ = sleep_until_some(keep_at) => {}
            _ = crate::drain::stopped(&mut stopping) => break,
            _ = &mut school_stopped => break,
        }
    }
    while let Some(output) = hub.poll_output() {
        execute(&app, &school, &records, output).await;
    }
    if let Some(keeper) = keeper {
        keeper
            .finish(&hub, app.config.server.shutdown_timeout)
            .await;
    }
    records.close().await;
    school.done.send_replace(true);
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Carries out one output of the hub.
async fn execute(app: &Arc<App>, school: &Arc<School>, records: &RecordWriter, output: Output) {
    match output {
        Output::Send { to, msg, re } => deliver(app, to, &msg, re.as_ref()),
        Output::CreateThread { purpose, spec } => {
            let language = app.config.school.language;
            let opening: Vec<_> = spec
                .opening
                .iter()
                .filter_map(|m| wording::opening(language, m))
                .collect();
            let app = app.clone();
            let school = school.clone();
            tokio::spawn(async move {
                let thread = retry_transient("thread creation", || {
                    app.chat.create_thread(
                        school.id,
                        NewThread {
                            kind: spec.kind,
                            title: spec.title.clone(),
                            members: spec.members.clone(),
                            class: spec.class.clone(),
                            request: spec.request,
                            session: spec.session,
                            created_by: None,
                            support_service: spec.confidential,
                            opening: opening.clone(),
                        },
                    )
                })
                .await
                .map(|t| t.id)
                .map_err(|e| {
                    tracing::error!(error = %e, ?purpose, "thread creation failed");
                    "storage failed".to_string()
                });
                school
                    .hub
                    .send(Input::ThreadReady { purpose, thread })
                    .await;
            });
        }
        Output::Post { thread, message } => post(app, school, thread, &message),
        Output::Record(record) => records.write(record).await,
        Output::Media(command) => media(app, school, command),
    }
}

/// Stores a message the hub posts into a thread (a poll's result), worded in the school's
/// language, through the chat's writer: its members get it as any `message`.
fn post(
    app: &App,
    school: &School,
    thread: konsult_protocol::ThreadId,
    message: &konsult_signaling::OpeningMessage,
) {
    let Some(row) = wording::opening(app.config.school.language, message) else {
        return;
    };
    let job = SendJob {
        reply: None,
        rid: None,
        sender: row.author,
        answers_requests: false,
        thread,
        client_id: konsult_protocol::ClientId(format!(
            "{SERVER_CLIENT_ID_PREFIX}{}",
            row.client_id
        )),
        text: row.text,
        attachments: Vec::new(),
        fence: school.epoch.map(|epoch| (school.id, epoch)),
    };
    if let Err(job) = app.chat.writer.submit(job) {
        job.fail(&ChatError::Busy("the chat writer is busy".into()));
    }
}

/// Sends a message, encoded once, to its recipients.
fn deliver(app: &App, to: Recipients, msg: &ServerMessage, re: Option<&konsult_protocol::Rid>) {
    let directory = &app.directory;
    match to {
        Recipients::Conn(conn) => {
            directory.send_to_conn(conn, &wire::encode(msg, re));
        }
        Recipients::User(user) => {
            directory.send_to_user(user, &wire::encode(msg, re));
        }
        Recipients::UserExcept { user, except } => {
            let frame = wire::encode(msg, re);
            for conn in directory.user_conns(user) {
                if conn != except {
                    directory.send_to_conn(conn, &frame);
                }
            }
        }
        Recipients::Users(users) => {
            let frame = wire::encode_for(msg, re, users.len() as u64);
            for user in users {
                directory.send_to_user(user, &frame);
            }
        }
        Recipients::Conns(conns) => {
            let frame = wire::encode_for(msg, re, conns.len() as u64);
            for conn in conns {
                directory.send_to_conn(conn, &frame);
            }
        }
    }
}

/// Hands media work to the SFU, in rooms of the school's own.
fn media(app: &App, school: &School, command: MediaCommand) {
    match app.media.get() {
        Some(sink) => sink.command(school.id, command),
        None => {
            if let MediaCommand::Signal { conn, .. } = command {
                let msg = ServerMessage::error(
                    ErrorCode::Unavailable,
                    "the media server is not running on this server",
                );
                app.directory.send_to_conn(conn, &wire::encode(&msg, None));
            }
        }
    }
}
