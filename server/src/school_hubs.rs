//! Starting schools' hubs: each school's hub task is spawned when the server starts, or on
//! first use for a school created since (`konsult school add` while the server runs), and
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
    let row = app
        .store
        .school_by_id(id)
        .await?
        .ok_or_else(|| SchoolError::Unknown(id.to_string()))?;
    start(app, row)
}

/// Starts every school in the database (at start-up).
pub async fn open_all(app: &Arc<App>) -> Result<(), SchoolError> {
    for row in app.store.schools().await? {
        if app.schools.get(row.id).is_none() {
            start(app, row)?;
        }
    }
    Ok(())
}

/// Registers a school and spawns its hub, unless another caller did first.
fn start(app: &Arc<App>, row: SchoolRow) -> Result<Arc<School>, SchoolError> {
    let timezone = timezone_of(&row, &app.timezone)?;
    let (hub, inputs) = HubHandle::channel(app.config.hub.input_queue);
    let school = Arc::new(School {
        id: row.id,
        code: row.code,
        name: row.name,
        timezone,
        hub,
        resumes: Default::default(),
    });
    if let Err(running) = app.schools.register(&school) {
        return Ok(running);
    }
    let task = tokio::spawn(crate::hub::run(app.clone(), school.clone(), inputs));
    app.schools.add_hub_task(task);
    Ok(school)
}
