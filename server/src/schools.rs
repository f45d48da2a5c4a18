//! The schools this server serves: each one's context (id, code, name, time zone) and the
//! handle of its own hub, which `school_hubs.rs` starts; which school a login or a command
//! names; the first school of a new database. Nothing of one school reaches another's hub.

use crate::hub_handle::HubHandle;
use crate::restored_resumes::RestoredResumes;
use crate::store::schools::School as SchoolRow;
use crate::store::{Store, StoreError};
use konsult_protocol::SchoolId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One school as the running server holds it.
#[derive(Debug)]
pub struct School {
    pub id: SchoolId,
    /// What logins and `/s/<code>/` name it by.
    pub code: String,
    pub name: String,
    /// For consultation hours and reports.
    pub timezone: jiff::tz::TimeZone,
    /// The school's hub: presence, queues and sessions of this school only.
    pub hub: HubHandle,
    /// Resume tokens issued before a restart, which its restored hub honours.
    pub resumes: RestoredResumes,
    /// The cluster lease's epoch this node holds the school under, which its chat writes
    /// carry; `None` for one node alone.
    pub epoch: Option<i64>,
    /// Sessions live in the hub now, which a draining node of a cluster waits on.
    pub live_sessions: std::sync::atomic::AtomicUsize,
    /// `true` once the hub task ended, its last snapshot kept.
    pub done: watch::Sender<bool>,
    /// `true` once this node stopped serving the school (a node of a cluster lost it or
    /// handed it over): its hub ends and its connections close with 1001.
    pub stop: watch::Sender<bool>,
}

impl School {
    /// Whether this node may act for the school now: always for one node alone; for a node
    /// of a cluster, while its lease holds (`Node::may_act`). A school that may not is being
    /// stopped.
    pub fn may_act(&self, app: &crate::app::App) -> bool {
        !*self.stop.borrow() && app.node.get().is_none_or(|node| node.may_act(&self.code))
    }

    /// Resolves once the school's hub task ended.
    pub async fn finished(&self) {
        let mut rx = self.done.subscribe();
        let _done = rx.wait_for(|d| *d).await.is_ok();
    }

    /// Resolves once this node stops serving the school.
    pub async fn stopped(&self) {
        let mut rx = self.stop.subscribe();
        // The borrowed value is dropped before any other await: it holds a lock.
        let _stopped = rx.wait_for(|s| *s).await.is_ok();
    }
}

/// The directory of running schools (id -> school), and the hub tasks to wait for at shutdown.
#[derive(Debug, Default)]
pub struct Schools {
    /// Never held across an `.await`.
    by_id: RwLock<HashMap<SchoolId, Arc<School>>>,
    /// Every hub task started, for shutdown to wait on.
    hubs: Mutex<Vec<JoinHandle<()>>>,
}

/// Why a school cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum SchoolError {
    #[error("no school {0}")]
    Unknown(String),
    #[error("school {code:?}: time zone {timezone:?}: {reason}")]
    TimeZone {
        code: String,
        timezone: String,
        reason: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The school's time zone, `fallback` when it is empty (the school an earlier version's data
/// moved into, before its first start fills it).
pub fn timezone_of(
    row: &SchoolRow,
    fallback: &jiff::tz::TimeZone,
) -> Result<jiff::tz::TimeZone, SchoolError> {
    if row.timezone.is_empty() {
        return Ok(fallback.clone());
    }
    jiff::tz::TimeZone::get(&row.timezone).map_err(|e| SchoolError::TimeZone {
        code: row.code.clone(),
        timezone: row.timezone.clone(),
        reason: e.to_string(),
    })
}

impl Schools {
    /// A running school, without waiting; `None` when its hub has not started.
    pub fn get(&self, id: SchoolId) -> Option<Arc<School>> {
        self.by_id.read().ok()?.get(&id).cloned()
    }

    /// How many schools are running.
    pub fn len(&self) -> usize {
        self.by_id.read().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether no school is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Registers `school` unless a school with its id runs already: then that one, which the
    /// caller uses instead (another request started it meanwhile).
    pub fn register(&self, school: &Arc<School>) -> Result<(), Arc<School>> {
        // The map is consistent after any panic elsewhere: one insert is its only write.
        let mut by_id = self.by_id.write().unwrap_or_else(|e| e.into_inner());
        if let Some(running) = by_id.get(&school.id) {
            return Err(running.clone());
        }
        by_id.insert(school.id, school.clone());
        Ok(())
    }

    /// Takes school `id` out of the running schools and tells its hub and connections to
    /// stop; `None` when it was not running.
    pub fn stop(&self, id: SchoolId) -> Option<Arc<School>> {
        let school = self
            .by_id
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id)?;
        school.stop.send_replace(true);
        Some(school)
    }

    /// Every running school.
    pub fn all(&self) -> Vec<Arc<School>> {
        self.by_id
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The running school with `code`.
    pub fn by_code(&self, code: &str) -> Option<Arc<School>> {
        self.by_id
            .read()
            .ok()?
            .values()
            .find(|s| s.code == code)
            .cloned()
    }

    /// Keeps a hub task for shutdown to wait on.
    pub fn add_hub_task(&self, task: JoinHandle<()>) {
        if let Ok(mut hubs) = self.hubs.lock() {
            // A node of a cluster starts a hub each time it gains a school: keep the running.
            hubs.retain(|hub| !hub.is_finished());
            hubs.push(task);
        }
    }

    /// The hub tasks started so far, taken for shutdown to wait on.
    pub fn take_hub_tasks(&self) -> Vec<JoinHandle<()>> {
        self.hubs
            .lock()
            .map(|mut hubs| std::mem::take(&mut *hubs))
            .unwrap_or_default()
    }
}

/// Which school a login, a token or a command names: the one with `code`, else the only
/// school there is. Several schools and no code: an error naming their codes.
pub async fn resolve(store: &Store, code: Option<&str>) -> Result<SchoolRow, ResolveError> {
    match code.map(str::trim).filter(|c| !c.is_empty()) {
        Some(code) => store
            .school_by_code(&code.to_ascii_lowercase())
            .await?
            .ok_or_else(|| ResolveError::Unknown(code.to_string())),
        None => {
            let mut all = store.schools().await?;
            match all.len() {
                0 => Err(ResolveError::NoSchool),
                1 => Ok(all.remove(0)),
                _ => Err(ResolveError::Ambiguous(
                    all.into_iter().map(|s| s.code).collect(),
                )),
            }
        }
    }
}

/// Why no school could be chosen.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no school with code {0:?}")]
    Unknown(String),
    #[error("there is no school yet: create one with `konsult school add`")]
    NoSchool,
    #[error("this server has several schools: name one ({})", .0.join(", "))]
    Ambiguous(Vec<String>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The code of the school a new database starts with (and that an earlier version's data
/// moved into).
pub const FIRST_CODE: &str = "main";
/// The code of the school `--demo` seeds.
pub const DEMO_CODE: &str = "demo";

/// Gives a database without schools its first one, `main`, named and placed from
/// `school.name` and `school.timezone`; and gives those to a school that has none (the school
/// an earlier version's data moved into).
pub async fn ensure_first(
    store: &Store,
    config: &konsult_config::SchoolConfig,
) -> Result<(), StoreError> {
    let schools = store.schools().await?;
    if schools.is_empty() {
        store
            .create_school(FIRST_CODE, &config.name, &config.timezone)
            .await?;
        tracing::info!(code = FIRST_CODE, "created the school");
    }
    for school in schools {
        if school.name.is_empty() || school.timezone.is_empty() {
            let name = if school.name.is_empty() {
                &config.name
            } else {
                &school.name
            };
            let timezone = if school.timezone.is_empty() {
                &config.timezone
            } else {
                &school.timezone
            };
            store.update_school(school.id, name, timezone).await?;
        }
    }
    Ok(())
}

/// The demo school, created from `school.name` and `school.timezone` when missing.
pub async fn demo_school(
    store: &Store,
    config: &konsult_config::SchoolConfig,
) -> Result<SchoolId, StoreError> {
    match store.school_by_code(DEMO_CODE).await? {
        Some(school) => Ok(school.id),
        None => {
            store
                .create_school(DEMO_CODE, &config.name, &config.timezone)
                .await
        }
    }
}
