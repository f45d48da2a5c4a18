//! Starting and stopping schools' hubs. One node alone spawns each school's hub task when the
//! server starts, or on first use for a school created since (`konsult school add` while the
//! server runs). A node of a cluster (`node.rs`) runs the hubs of the schools it holds only:
//! started when it gains a school, stopped when it loses it. Every running school is
//! registered in the app's [`Schools`](crate::schools::Schools).

use crate::app::App;
use crate::hub_handle::HubHandle;
use crate::schools::{School, SchoolError, timezone_of};
use crate::store::schools::School as SchoolRow;
use konsult_protocol::SchoolId;
use std::sync::Arc;

/// The running school `id`, starting its hub when it is not running yet.
pub async fn open(app: &Arc<App>, id: SchoolId) -> Result<Arc<School>, SchoolError> {
    if let Some(school) = app.schools.get(id) {
        return Ok(school);
    }
    if app.node.get().is_some() {
        // In a cluster only the school's owner runs its hub, started when it gained it.
        return Err(SchoolError::Unknown(id.to_string()));
    }
    let row = app
        .store
        .school_by_id(id)
        .await?
        .ok_or_else(|| SchoolError::Unknown(id.to_string()))?;
    start(app, row, None)
}

/// Starts every school in the database (at start-up).
pub async fn open_all(app: &Arc<App>) -> Result<(), SchoolError> {
    for row in app.store.schools().await? {
        if app.schools.get(row.id).is_none() {
            start(app, row, None)?;
        }
    }
    Ok(())
}

/// A node of a cluster gained school `code` under `epoch`: it claims the school in the
/// database under that epoch, then its hub starts from the school's last snapshot. A
/// [`StoreError::Stale`](crate::store::StoreError::Stale) refusal means the database knows a
/// larger epoch than Redis gave out.
pub async fn gain(app: &Arc<App>, code: &str, epoch: i64) -> Result<(), SchoolError> {
    let row = app
        .store
        .school_by_code(code)
        .await?
        .ok_or_else(|| SchoolError::Unknown(code.to_string()))?;
    if let Some(old) = app.schools.stop(row.id) {
        // Held before under an older epoch: that hub stops, the new one takes over.
        tracing::warn!(school = %old.code, "the school's earlier hub stops");
    }
    // Claimed in the database first: from here on the previous owner's writes are refused.
    app.store.claim_school(row.id, epoch).await?;
    start(app, row, Some(epoch))?;
    Ok(())
}

/// A node of a cluster lost school `code`: its hub stops and its connections close with
/// 1001, so that clients resume on the school's new owner.
pub fn lose(app: &App, code: &str) {
    if let Some(school) = app.schools.by_code(code) {
        app.schools.stop(school.id);
    }
}

/// Registers a school and spawns its hub, unless another caller did first. `epoch`: the
/// cluster's lease epoch to claim the school under; `None` for one node alone.
fn start(app: &Arc<App>, row: SchoolRow, epoch: Option<i64>) -> Result<Arc<School>, SchoolError> {
    let timezone = timezone_of(&row, &app.timezone)?;
    let (hub, inputs) = HubHandle::channel(app.config.hub.input_queue);
    let school = Arc::new(School {
        id: row.id,
        code: row.code,
        name: row.name,
        timezone,
        hub,
        resumes: Default::default(),
        epoch,
        live_sessions: Default::default(),
        done: tokio::sync::watch::Sender::new(false),
        stop: tokio::sync::watch::Sender::new(false),
    });
    if let Err(running) = app.schools.register(&school) {
        return Ok(running);
    }
    let task = tokio::spawn(crate::hub::run(app.clone(), school.clone(), inputs, epoch));
    app.schools.add_hub_task(task);
    Ok(school)
}
