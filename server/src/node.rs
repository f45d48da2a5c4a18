//! This server as a node of a cluster (`bus.url`, docs/cluster.md): it joins Redis, runs the
//! membership that decides which schools it holds, starts a school's hub when it gains the
//! school and stops it when it loses it, puts every school of the database up for placement,
//! tells a new connection where its school lives, and carries the bus's messages to and from
//! the bridges of `ws/bridge.rs`.

use crate::app::App;
use crate::notices::Notice;
use crate::schools::SchoolError;
use crate::store::StoreError;
use crate::ws::bridge::Bridges;
use konsult_cluster::{
    Bus, Claimer, Keys, Kind, Leases, Membership, NodeId, NodeInfo, Placement, RedisLink, Registry,
    SchoolId as SchoolCode, Timings,
};
use konsult_protocol::SchoolId;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often the node puts schools created since (`konsult school add`) up for placement.
const SCHOOL_SYNC: Duration = Duration::from_secs(5);
/// Messages from the bus waiting to be routed.
const BUS_QUEUE: usize = 4096;

/// One node of a cluster: its place in Redis and its bridges.
#[derive(Debug)]
pub struct Node {
    pub id: NodeId,
    pub timings: Timings,
    leases: Leases,
    placement: Placement,
    registry: Registry,
    bus: Bus,
    /// Taken when the node leaves.
    membership: Mutex<Option<Membership>>,
    pub bridges: Arc<Bridges>,
    /// School codes by id, for the schools this node does not run.
    codes: Mutex<HashMap<SchoolId, String>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// Where a connection's school lives.
#[derive(Debug)]
pub enum Route {
    /// Here: the connection runs on this node.
    Local,
    /// On that node: the connection is bridged to it.
    Remote { owner: NodeId, school: SchoolCode },
    /// No node holds the school yet (its owner just died or is handing it over).
    Unavailable,
}

impl Node {
    /// Joins the cluster at `bus.url` as the node serving HTTP on `http`: listens on its bus
    /// channel, puts the database's schools up for placement and starts the membership and
    /// the tasks that follow it. Fails when Redis cannot be reached.
    pub async fn join(app: &Arc<App>, url: &str, http: SocketAddr) -> anyhow::Result<Arc<Node>> {
        let bus_config = &app.config.bus;
        let timings = Timings::new(bus_config.heartbeat, bus_config.lease);
        let link = RedisLink::new(url, timings.reply_timeout)?;
        let keys = Keys::new(bus_config.prefix.clone());
        let id = match &bus_config.node_id {
            Some(id) => NodeId(id.clone()),
            None => konsult_cluster::default_node_id(http.port()),
        };
        let registry = Registry::new(link.clone(), keys.clone());
        let leases = Leases::new(link.clone(), keys.clone(), timings.lease);
        let placement = Placement::new(link.clone(), keys.clone(), registry.clone(), timings.lease);
        // A connection of its own, so that heavy bridge traffic never delays lease renewals.
        let bus = Bus::new(
            RedisLink::new(url, timings.reply_timeout)?,
            keys.clone(),
            id.clone(),
        );
        let receiver = bus.listen(BUS_QUEUE).await?;
        let media = app
            .config
            .media
            .announce
            .clone()
            .unwrap_or_else(|| app.config.media.listen.to_string());
        let info = NodeInfo {
            id: id.clone(),
            http: http.to_string(),
            media,
            load: 0,
            schools: 0,
        };
        let (bridges, outgoing) = Bridges::new();
        let node = Arc::new(Node {
            id: id.clone(),
            timings,
            leases,
            placement,
            registry,
            bus: bus.clone(),
            membership: Mutex::new(None),
            bridges: bridges.clone(),
            codes: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
        });
        node.sync_schools(app).await?;
        let membership = Membership::start(Claimer::new(link, keys, info, timings));
        let owned = membership.owned();
        *lock(&node.membership) = Some(membership);
        let tasks = vec![
            tokio::spawn(follow(app.clone(), owned)),
            tokio::spawn(crate::ws::bridge::publish(bus, bridges.clone(), outgoing)),
            tokio::spawn(crate::ws::bridge::receive(app.clone(), receiver)),
            tokio::spawn(watch_owners(node.clone())),
            tokio::spawn(sync_schools(app.clone(), node.clone())),
        ];
        *lock(&node.tasks) = tasks;
        tracing::info!(node = %id, "joined the cluster");
        Ok(node)
    }

    /// Where the connection of a user of `school` is to run, waiting up to two leases for an
    /// owner when none holds the school.
    pub async fn route(&self, app: &App, school: SchoolId) -> Route {
        let deadline = tokio::time::Instant::now() + self.timings.lease * 2;
        loop {
            if app.schools.get(school).is_some() {
                return Route::Local;
            }
            if let Some(code) = self.code_of(app, school).await {
                let code = SchoolCode(code);
                match self.leases.owner(&code).await {
                    Ok(Some(owner)) if owner.node != self.id => {
                        return Route::Remote {
                            owner: owner.node,
                            school: code,
                        };
                    }
                    // Held here but not started yet, free, or Redis out of reach: wait.
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %e, "cannot read a school's owner"),
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Route::Unavailable;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The code of school `id`.
    async fn code_of(&self, app: &App, id: SchoolId) -> Option<String> {
        if let Some(school) = app.schools.get(id) {
            return Some(school.code.clone());
        }
        if let Some(code) = lock(&self.codes).get(&id) {
            return Some(code.clone());
        }
        let row = app.store.school_by_id(id).await.ok()??;
        lock(&self.codes).insert(id, row.code.clone());
        Some(row.code)
    }

    /// Puts every school of the database that the cluster does not know yet up for
    /// placement on the least loaded node.
    async fn sync_schools(&self, app: &App) -> anyhow::Result<()> {
        let known = self.placement.schools().await?;
        for row in app.store.schools().await? {
            lock(&self.codes).insert(row.id, row.code.clone());
            let code = SchoolCode(row.code);
            if known.binary_search(&code).is_err() {
                let node = self.placement.place(&code).await?;
                tracing::info!(school = %code, node = ?node.map(|n| n.0), "school placed");
            }
        }
        Ok(())
    }

    /// Whether this node may act for school `code` now: it holds the school's lease and the
    /// lease's local validity has not run out (a node that was paused stops here before it
    /// hears that it lost the school).
    pub fn may_act(&self, code: &str) -> bool {
        lock(&self.membership)
            .as_ref()
            .is_some_and(|m| m.fence(&SchoolCode(code.to_string())).is_some())
    }

    /// Raises school `code`'s epoch counter in Redis to at least `floor` and releases the lease
    /// this node won under `epoch`, so that the next claim is above what the database holds.
    async fn raise_and_release(
        &self,
        code: &SchoolCode,
        epoch: konsult_cluster::Epoch,
        floor: i64,
    ) {
        tracing::warn!(school = %code, epoch, floor, "the database holds a larger epoch: raising the counter");
        let floor = konsult_cluster::Epoch::try_from(floor).unwrap_or(0);
        if let Err(e) = self.leases.raise_epoch(code, floor).await {
            tracing::warn!(school = %code, error = %e, "cannot raise the epoch counter");
        }
        let fence = konsult_cluster::Fence {
            school: code.clone(),
            node: self.id.clone(),
            epoch,
        };
        if let Err(e) = self.leases.release(&fence).await {
            tracing::warn!(school = %code, error = %e, "cannot release the school; it moves when its lease ends");
        }
    }

    /// Sends `notice` to the node that holds school `school` now; lost when none does (the
    /// school's next owner reads what the notice says from the database).
    pub async fn tell_owner(&self, app: &App, school: SchoolId, notice: &Notice) {
        let Some(code) = self.code_of(app, school).await else {
            return;
        };
        let code = SchoolCode(code);
        match self.leases.owner(&code).await {
            Ok(Some(owner)) => self.tell(&owner.node, &code, notice).await,
            Ok(None) => tracing::debug!(school = %code, "no owner to tell"),
            Err(e) => tracing::warn!(error = %e, "cannot read a school's owner to tell it"),
        }
    }

    /// Sends `notice` to every other live node.
    pub async fn tell_all(&self, notice: &Notice) {
        match self.registry.live().await {
            Ok(nodes) => {
                for node in nodes.into_iter().filter(|n| n.id != self.id) {
                    self.tell(&node.id, &SchoolCode(String::new()), notice)
                        .await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list the nodes to tell"),
        }
    }

    async fn tell(&self, to: &NodeId, school: &SchoolCode, notice: &Notice) {
        let payload = match serde_json::to_vec(notice) {
            Ok(payload) => payload,
            Err(e) => return tracing::error!(error = %e, "cannot encode a notice"),
        };
        if let Err(e) = self.bus.send(to, Kind::Notice, school, 0, payload).await {
            tracing::warn!(node = %to, error = %e, "a notice was not delivered");
        }
    }

    /// Hands this node's schools to the others before it stops (SIGTERM): it claims no more;
    /// a school without a live session goes at once, one with sessions once they end or
    /// `server.shutdown_timeout` passed. Each school's hub stops (its clients get
    /// `server_shutdown` and 1001, and resume on the new owner), keeps its last snapshot, and
    /// only then is the lease released, so that the next owner starts from that snapshot.
    pub async fn hand_over(&self, app: &App) {
        if let Some(membership) = lock(&self.membership).as_ref() {
            membership.stop_claiming();
        }
        let deadline = tokio::time::Instant::now() + app.config.server.shutdown_timeout;
        loop {
            let late = tokio::time::Instant::now() >= deadline;
            let running = app.schools.all();
            if running.is_empty() {
                break;
            }
            for school in running {
                let sessions = school
                    .live_sessions
                    .load(std::sync::atomic::Ordering::Relaxed);
                if sessions == 0 || late {
                    self.hand_over_school(app, &school).await;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tracing::info!(node = %self.id, "every school handed over");
    }

    async fn hand_over_school(&self, app: &App, school: &crate::schools::School) {
        tracing::info!(school = %school.code, sessions = school.live_sessions.load(std::sync::atomic::Ordering::Relaxed), "handing the school over");
        app.schools.stop(school.id);
        if tokio::time::timeout(self.timings.lease, school.finished())
            .await
            .is_err()
        {
            tracing::warn!(school = %school.code, "the hub did not stop in time; its lease is released anyway");
        }
        let (Some(epoch), code) = (school.epoch, SchoolCode(school.code.clone())) else {
            return;
        };
        let fence = konsult_cluster::Fence {
            school: code,
            node: self.id.clone(),
            epoch: konsult_cluster::Epoch::try_from(epoch).unwrap_or(0),
        };
        if let Err(e) = self.leases.release(&fence).await {
            tracing::warn!(school = %school.code, error = %e, "cannot release the school; it moves when its lease ends");
        }
    }

    /// Leaves the cluster: releases every school this node holds, so the others take them on
    /// their next sweep. Called once the hubs have stopped and kept their last snapshots.
    pub async fn leave(&self) {
        let membership = lock(&self.membership).take();
        if let Some(membership) = membership
            && let Err(e) = membership.drain().await
        {
            tracing::warn!(error = %e, "could not release the schools; they move when their leases end");
        }
        for task in std::mem::take(&mut *lock(&self.tasks)) {
            task.abort();
        }
        tracing::info!(node = %self.id, "left the cluster");
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every update is one insert, remove or swap: a panic cannot leave it half-changed.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs the hubs of exactly the schools the membership holds, under their epochs: a school
/// gained (or held again under a new epoch) starts its hub, a school lost stops it.
async fn follow(
    app: Arc<App>,
    mut owned: tokio::sync::watch::Receiver<BTreeMap<SchoolCode, konsult_cluster::Epoch>>,
) {
    let mut running: BTreeMap<SchoolCode, konsult_cluster::Epoch> = BTreeMap::new();
    loop {
        let now: BTreeMap<_, _> = owned.borrow_and_update().clone();
        for code in running.keys().cloned().collect::<Vec<_>>() {
            if now.get(&code) != running.get(&code) {
                tracing::info!(school = %code, "school lost: its hub stops");
                crate::school_hubs::lose(&app, &code.0);
                running.remove(&code);
            }
        }
        for (code, epoch) in &now {
            if running.contains_key(code) {
                continue;
            }
            let Ok(signed) = i64::try_from(*epoch) else {
                continue;
            };
            match crate::school_hubs::gain(&app, &code.0, signed).await {
                Ok(()) => {
                    tracing::info!(school = %code, epoch, "school gained: its hub starts");
                    running.insert(code.clone(), *epoch);
                }
                Err(SchoolError::Store(StoreError::Stale { current, .. })) => {
                    // The database knows a larger epoch (Redis lost its counters, or the
                    // school ran on one node alone): raise the counter and let the school go,
                    // to be claimed again above it.
                    if let Some(node) = app.node.get() {
                        node.raise_and_release(code, *epoch, current).await;
                    }
                }
                Err(e) => {
                    tracing::error!(school = %code, error = %e, "cannot start a gained school's hub")
                }
            }
        }
        if owned.changed().await.is_err() {
            return;
        }
    }
}

/// Every heartbeat, closes with 1001 the bridges whose school has moved to another owner,
/// so that their clients resume on the new one.
async fn watch_owners(node: Arc<Node>) {
    let mut tick = tokio::time::interval(node.timings.heartbeat);
    loop {
        tick.tick().await;
        let schools = node.bridges.edge_schools();
        if schools.is_empty() {
            continue;
        }
        match node.leases.owners(&schools).await {
            Ok(owners) => {
                let now = schools
                    .into_iter()
                    .zip(owners)
                    .map(|(school, owner)| (school, owner.map(|o| o.node)))
                    .collect();
                node.bridges.close_moved(&now);
            }
            Err(e) => tracing::debug!(error = %e, "cannot read the owners of bridged schools"),
        }
    }
}

/// Puts schools created while the cluster runs up for placement.
async fn sync_schools(app: Arc<App>, node: Arc<Node>) {
    let mut tick = tokio::time::interval(SCHOOL_SYNC);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = node.sync_schools(&app).await {
            tracing::warn!(error = %e, "cannot put new schools up for placement");
        }
    }
}
