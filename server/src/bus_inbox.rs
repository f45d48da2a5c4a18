//! What other nodes of a cluster send this one over the bus: new bridged connections and
//! their frames (this node owns their school), the owner's frames for clients whose socket is
//! here, and notices of changes to apply (`notices.rs`).

use crate::app::App;
use crate::notices::Notice;
use crate::ws::bridge_links::{BridgedSocket, OWNER_QUEUE, close_message, decode, encode};
use konsult_cluster::{BusReceiver, Envelope, Kind};
use konsult_protocol::{CloseCode, UserId};
use std::sync::Arc;
use tokio::sync::mpsc;

pub async fn receive(app: Arc<App>, mut rx: BusReceiver) {
    // Notices are applied one after another, in the order they came: a node that tells the
    // owner an account changed and then to close its connections (a deactivation) means the
    // client to see its close only once the hub has the change.
    let (notices, mut to_apply) = mpsc::unbounded_channel();
    let applier = tokio::spawn({
        let app = app.clone();
        async move {
            while let Some(notice) = to_apply.recv().await {
                apply(&app, notice).await;
            }
        }
    });
    while let Some(envelope) = rx.recv().await {
        arrive(&app, envelope, &notices);
    }
    drop(notices);
    let _ = applier.await;
}

fn arrive(app: &Arc<App>, envelope: Envelope, notices: &mpsc::UnboundedSender<Notice>) {
    let Some(node) = app.node.get() else { return };
    let bridges = &node.bridges;
    let Envelope {
        kind,
        from,
        school,
        connection,
        payload,
    } = envelope;
    match kind {
        Kind::Open => {
            let running = app.schools.by_code(&school.0).is_some();
            if !running || app.drain.is_stopping() {
                let close = encode(&close_message(CloseCode::GoingAway));
                bridges.send(&from, Kind::Reply, &school, connection, close);
                return;
            }
            let passport = crate::ws::passport::Route {
                edge: &from,
                connection,
                school: &school,
            };
            let arrival = passport.read(&app.seal, &payload, crate::auth::unix_now());
            let (tx, rx) = mpsc::channel(OWNER_QUEUE);
            bridges.add_owned(from.clone(), connection, tx);
            let socket = BridgedSocket::new(rx, bridges.clone(), from, connection, school);
            tokio::spawn(crate::ws::run_bridged(app.clone(), socket, arrival));
        }
        Kind::Frame => {
            let Some(msg) = decode(&payload) else { return };
            if !bridges.to_owner(&from, connection, msg) {
                // The connection ended here, or does not keep up: the edge learns it, and
                // its client resumes.
                let close = encode(&close_message(CloseCode::GoingAway));
                bridges.send(&from, Kind::Reply, &school, connection, close);
            }
        }
        Kind::Reply => {
            if let Some(msg) = decode(&payload) {
                bridges.to_edge(connection, msg);
            }
        }
        Kind::Notice => match serde_json::from_slice::<Notice>(&payload) {
            Ok(notice) => {
                let _stopped = notices.send(notice);
            }
            Err(e) => tracing::warn!(node = %from, error = %e, "a notice that is not one"),
        },
        Kind::Close => {}
    }
}

/// Applies a notice another node sent.
pub async fn apply(app: &App, notice: Notice) {
    let user_by_id = |id| async move {
        match app.store.user_by_id(UserId(id)).await {
            Ok(user) => user,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the account a notice names");
                None
            }
        }
    };
    match notice {
        Notice::UserChanged { user } => {
            if let Some(user) = user_by_id(user).await
                && app.schools.get(user.school).is_some()
            {
                app.user_changed(&user).await;
            }
        }
        Notice::HoursChanged { user } => {
            if let Some(user) = user_by_id(user).await
                && app.schools.get(user.school).is_some()
            {
                match app.store.hours_of(user.id).await {
                    Ok(hours) => app.hours_changed(&user, hours).await,
                    Err(e) => tracing::error!(error = %e, "cannot read the hours a notice names"),
                }
            }
        }
        Notice::CloseUser { user, code } => {
            if let Some(code) = CloseCode::ALL.into_iter().find(|c| c.code() == code) {
                app.directory.close_user(UserId(user), code);
            }
        }
        Notice::Revoked { id, expires } => {
            app.revoked.revoke(id, expires, crate::auth::unix_now());
        }
    }
}
