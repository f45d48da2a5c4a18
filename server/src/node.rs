//! This server as a node of a cluster (`bus.url`, docs/cluster.md): its place in Redis (the
//! registry, the school leases, placement, the bus) and its bridges; where a connection's
//! school lives; notices to other nodes; whether it may act for a school; releasing a school.
//! `node_run.rs` joins the cluster and follows what the membership holds.

use crate::notices::Notice;
use crate::schools::Schools;
use crate::store::Store;
use crate::ws::bridge_links::Bridges;
use konsult_cluster::{
    Bus, BusReceiver, Claimer, Keys, Kind, Leases, Membership, NodeId, NodeInfo, Outgoing,
    Placement, RedisLink, Registry, SchoolId as SchoolCode, Timings,
};
use konsult_protocol::SchoolId;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Messages from the bus waiting to be routed.
const BUS_QUEUE: usize = 4096;
/// How long a node found not listening on the bus is taken as dead: the connections that wait
/// for a school's next owner during a failover ask once per node in this time, not each its own.
const LISTENING_KNOWN_FOR: Duration = Duration::from_millis(100);

/// How long the bus's publishing waits for Redis's reply: as long as a write to a client's
/// socket may take (`limits.write_timeout`), since a bridge is that socket's way to the owner
/// and a batch that times out ends every bridge in it. The membership's much shorter reply
/// timeout (a fifth of the lease) is for renewing leases in time, not for carrying frames:
/// under a reconnection storm a batch of frames may wait longer than that in a busy node's
/// runtime and still be delivered.
fn bus_reply_timeout(config: &konsult_config::Config, timings: &Timings) -> Duration {
    config.limits.write_timeout.max(timings.reply_timeout)
}

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
    /// The nodes found not listening on the bus, and when.
    deaf: Mutex<HashMap<NodeId, std::time::Instant>>,
    /// The tasks `node_run.rs` started, stopped when the node leaves.
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

/// A node that just joined, with what its tasks are to read.
#[derive(Debug)]
pub struct Joined {
    pub node: Arc<Node>,
    /// What other nodes send this one.
    pub inbox: BusReceiver,
    /// What the bridges send other nodes.
    pub outgoing: mpsc::UnboundedReceiver<Outgoing>,
    /// The schools the membership holds, with their epochs.
    pub owned: watch::Receiver<BTreeMap<SchoolCode, konsult_cluster::Epoch>>,
}

impl Node {
    /// Joins the cluster at `url` as the node serving HTTP on `http`, with `config`'s `[bus]`
    /// and `media.announce`: listens on its bus channel, puts the database's schools up for
    /// placement and starts the membership. Fails when Redis cannot be reached.
    pub async fn join(
        config: &konsult_config::Config,
        store: &Store,
        url: &str,
        http: SocketAddr,
    ) -> anyhow::Result<Joined> {
        let bus_config = &config.bus;
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
            RedisLink::new(url, bus_reply_timeout(config, &timings))?,
            keys.clone(),
            id.clone(),
        );
        let inbox = bus.listen(BUS_QUEUE).await?;
        let media = config
            .media
            .announce
            .clone()
            .unwrap_or_else(|| config.media.listen.to_string());
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
            bus,
            membership: Mutex::new(None),
            bridges,
            codes: Mutex::new(HashMap::new()),
            deaf: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
        });
        node.sync_schools(store).await?;
        // The membership's own connection to Redis, driven from its own thread.
        let claimer = Claimer::new(
            RedisLink::new(url, timings.reply_timeout)?,
            keys,
            info,
            timings,
        );
        let membership = start_membership(claimer)?;
        let owned = membership.owned();
        *lock(&node.membership) = Some(membership);
        tracing::info!(node = %id, "joined the cluster");
        Ok(Joined {
            node,
            inbox,
            outgoing,
            owned,
        })
    }

    /// The bus, for the task that publishes the bridges' messages.
    pub fn bus(&self) -> Bus {
        self.bus.clone()
    }

    /// Keeps the node's tasks, stopped when it leaves.
    pub fn keep_tasks(&self, tasks: Vec<JoinHandle<()>>) {
        lock(&self.tasks).extend(tasks);
    }

    /// Where the connection of a user of `school` is to run, waiting up to two leases for a
    /// live owner when none holds the school or its holder died.
    pub async fn route(&self, store: &Store, schools: &Schools, school: SchoolId) -> Route {
        let deadline = tokio::time::Instant::now() + self.timings.lease * 2;
        loop {
            if schools.get(school).is_some() {
                return Route::Local;
            }
            if let Some(code) = self.code_of(store, schools, school).await {
                let code = SchoolCode(code);
                match self.leases.owner(&code).await {
                    // An owner whose lease has not run out may already be dead: a bridge to
                    // it would end at once, and its client would back off; it waits here
                    // for the next owner instead.
                    Ok(Some(owner)) if owner.node != self.id && self.listens(&owner.node).await => {
                        return Route::Remote {
                            owner: owner.node,
                            school: code,
                        };
                    }
                    // Held here but not started yet, free, held by a node that died, or Redis
                    // out of reach: wait.
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

    /// Whether node `node` listens on the bus. That a node does not is remembered for
    /// [`LISTENING_KNOWN_FOR`] (a dead node stays dead); that it does is asked every time,
    /// since a node may die any moment. A node Redis cannot be asked about is taken as
    /// listening (the bridge finds out).
    async fn listens(&self, node: &NodeId) -> bool {
        let now = std::time::Instant::now();
        if let Some(asked) = lock(&self.deaf).get(node)
            && now.duration_since(*asked) < LISTENING_KNOWN_FOR
        {
            return false;
        }
        match self.bus.listening(node).await {
            Ok(true) => true,
            Ok(false) => {
                let mut deaf = lock(&self.deaf);
                deaf.retain(|_, asked| now.duration_since(*asked) < LISTENING_KNOWN_FOR);
                deaf.insert(node.clone(), now);
                false
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot ask whether a node listens");
                true
            }
        }
    }

    /// The code of school `id`.
    async fn code_of(&self, store: &Store, schools: &Schools, id: SchoolId) -> Option<String> {
        if let Some(school) = schools.get(id) {
            return Some(school.code.clone());
        }
        if let Some(code) = lock(&self.codes).get(&id) {
            return Some(code.clone());
        }
        let row = store.school_by_id(id).await.ok()??;
        lock(&self.codes).insert(id, row.code.clone());
        Some(row.code)
    }

    /// Puts every school of the database that the cluster does not know yet up for
    /// placement on the least loaded node.
    pub async fn sync_schools(&self, store: &Store) -> anyhow::Result<()> {
        let known = self.placement.schools().await?;
        for row in store.schools().await? {
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
    pub async fn raise_and_release(
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
    pub async fn tell_owner(
        &self,
        store: &Store,
        schools: &Schools,
        school: SchoolId,
        notice: &Notice,
    ) {
        let Some(code) = self.code_of(store, schools, school).await else {
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

    /// Reports `load` (the node's open connections) from the next heartbeat on: new schools
    /// go to the least loaded node.
    pub fn report_load(&self, load: usize) {
        if let Some(membership) = lock(&self.membership).as_ref() {
            membership.set_load(Some(u32::try_from(load).unwrap_or(u32::MAX)));
        }
    }

    /// Claims no more schools: the node is draining and hands its schools over itself.
    pub fn stop_claiming(&self) {
        if let Some(membership) = lock(&self.membership).as_ref() {
            membership.stop_claiming();
        }
    }

    /// Releases school `code`, held under `epoch`, so that another node claims it on its next
    /// round.
    pub async fn release(&self, code: &str, epoch: i64) {
        let fence = konsult_cluster::Fence {
            school: SchoolCode(code.to_string()),
            node: self.id.clone(),
            epoch: konsult_cluster::Epoch::try_from(epoch).unwrap_or(0),
        };
        if let Err(e) = self.leases.release(&fence).await {
            tracing::warn!(school = code, error = %e, "cannot release the school; it moves when its lease ends");
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

/// Runs the membership's rounds on a thread and runtime of their own: lease renewals must not
/// wait behind the connections' work. A reconnection storm after a node's death saturated the
/// server's runtime long enough for the survivors to miss their own renewals and drop every
/// school (BENCHMARKS.md, row h); here the rounds keep their time whatever the rest does.
fn start_membership(claimer: Claimer) -> anyhow::Result<Membership> {
    let (handed, membership) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("konsult-membership".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the membership's runtime");
                    return;
                }
            };
            runtime.block_on(async move {
                if handed.send(Membership::start(claimer)).is_err() {
                    return;
                }
                // The runtime lives as long as the process: the rounds, and the Redis
                // connection they dialled, run on it.
                std::future::pending::<()>().await;
            });
        })?;
    membership
        .recv()
        .map_err(|_| anyhow::anyhow!("the membership's thread did not start"))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every update is one insert, remove or swap: a panic cannot leave it half-changed.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Every heartbeat, closes with 1001 the bridges whose school has moved to another owner or
/// whose owner died, so that their clients resume on the next one, and ends the connections running here for
/// sockets on a node that is no longer alive.
pub async fn watch_owners(node: Arc<Node>) {
    let mut tick = tokio::time::interval(node.timings.heartbeat);
    loop {
        tick.tick().await;
        let edges = node.bridges.edges_of_owned();
        if !edges.is_empty() {
            // A node that died stops listening on the bus the moment its connection to Redis
            // closes, long before its registration expires: its clients, back within a second
            // through another node, find their connections here parked, and resume.
            let live = node.registry.live().await;
            if let Err(e) = &live {
                tracing::debug!(error = %e, "cannot list the live nodes");
            }
            for edge in &edges {
                let registered = live
                    .as_ref()
                    .map_or(true, |live| live.iter().any(|n| n.id == *edge));
                if !registered || !node.listens(edge).await {
                    tracing::info!(node = %edge, "a node holding bridged sockets is gone: their connections end here");
                    node.bridges.end_from(edge);
                }
            }
        }
        let schools = node.bridges.edge_schools();
        if schools.is_empty() {
            continue;
        }
        let read_at = std::time::Instant::now();
        match node.leases.owners(&schools).await {
            Ok(owners) => {
                // A bridge to an owner that died ends now, not when its lease runs out: its
                // client comes back at once and waits in `route` for the next owner.
                let mut now = BTreeMap::new();
                for (school, owner) in schools.into_iter().zip(owners) {
                    let owner = match owner {
                        Some(owner) if node.listens(&owner.node).await => Some(owner.node),
                        _ => None,
                    };
                    now.insert(school, owner);
                }
                node.bridges.close_moved(&now, read_at);
            }
            Err(e) => tracing::debug!(error = %e, "cannot read the owners of bridged schools"),
        }
    }
}

/// Puts schools created while the cluster runs up for placement, every `every`.
pub async fn sync_schools(node: Arc<Node>, store: Store, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = node.sync_schools(&store).await {
            tracing::warn!(error = %e, "cannot put new schools up for placement");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bus_waits_for_redis_as_long_as_a_socket_write_may_take() {
        let mut config = konsult_config::Config::default();
        config.bus.lease = Duration::from_secs(1);
        let timings = Timings::new(config.bus.heartbeat, config.bus.lease);
        assert_eq!(timings.reply_timeout, Duration::from_millis(200));
        assert_eq!(
            bus_reply_timeout(&config, &timings),
            config.limits.write_timeout
        );
        config.limits.write_timeout = Duration::from_millis(50);
        assert_eq!(bus_reply_timeout(&config, &timings), timings.reply_timeout);
    }
}
