//! A node's membership in the cluster: the task that, every heartbeat, renews the node's
//! leases, refreshes its registration, and claims schools left without an owner up to its
//! fair share; it publishes the schools it holds and reports every gain and loss.
//!
//! The rule that makes fencing work on the node's side: a lease is acted on only until
//! `sent + lease × 0.9`, where `sent` is when its last successful renewal was sent. Redis
//! started the lease's new lifetime no earlier than `sent`, so the node always stops before
//! another node can take the school, whatever happened in between (a pause, a lost link).

use crate::lease::{Acquired, Epoch, Fence, Leases};
use crate::placement::{Placement, fair_share};
use crate::registry::{NodeInfo, Registry};
use crate::{ClusterError, Keys, NodeId, RedisLink, SchoolId, Timings};
use rand::Rng;
use rand::seq::SliceRandom;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

/// Why a node no longer holds a school.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossReason {
    /// No renewal succeeded within the lease (a pause, or Redis out of reach): the node
    /// stopped acting when its own deadline passed, before Redis could give the school away.
    Lapsed,
    /// Redis refused the renewal: the lease had expired or belongs to another epoch.
    Taken,
    /// The node gave it up: draining, or handing a surplus to a node with fewer schools.
    Released,
}

/// A change in the schools a node holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The node holds the school from now on, and acts under this fence.
    Gained(Fence),
    /// The node must stop acting for the school at once; this fence is dead for good.
    Lost { fence: Fence, reason: LossReason },
}

/// The value of `reported_load` when the node reports no load of its own.
const NO_REPORTED_LOAD: u64 = u64::MAX;

fn store_load(cell: &AtomicU64, load: Option<u32>) {
    cell.store(load.map_or(NO_REPORTED_LOAD, u64::from), Ordering::Relaxed);
}

/// A lease the node holds, and until when it may act on it.
#[derive(Clone, Debug)]
struct Held {
    fence: Fence,
    /// The end of the local validity: the last successful renewal's send time plus
    /// [`Timings::local_validity`].
    valid_until: Instant,
}

/// The schools a node holds, shared between its claimer and those asking for fences.
type HeldMap = Arc<Mutex<BTreeMap<SchoolId, Held>>>;

fn lock(held: &HeldMap) -> MutexGuard<'_, BTreeMap<SchoolId, Held>> {
    // Every update is a single insert or remove: a panic cannot leave the map half-changed.
    held.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The fence for `school` if the node holds it and its local validity has not run out.
fn current_fence(held: &HeldMap, school: &SchoolId) -> Option<Fence> {
    lock(held)
        .get(school)
        .filter(|h| Instant::now() < h.valid_until)
        .map(|h| h.fence.clone())
}

/// One node's claims, advanced one round at a time by [`Claimer::step`]. [`Membership`]
/// runs the rounds on a timer; a test may run them by hand to stop and resume a node.
#[derive(Debug)]
pub struct Claimer {
    /// The node's description; `load` and `schools` are refreshed at every heartbeat.
    node: NodeInfo,
    /// A load the node reports instead of its count of schools; [`NO_REPORTED_LOAD`] for
    /// none. Shared with [`Membership::set_load`].
    reported_load: Arc<AtomicU64>,
    timings: Timings,
    registry: Registry,
    leases: Leases,
    placement: Placement,
    /// The schools held and their deadlines.
    held: HeldMap,
    /// The set of (school, epoch) held, for watchers.
    owned: watch::Sender<BTreeMap<SchoolId, Epoch>>,
    /// Gains and losses, in order. A receiver that lags is told so and can read `owned`.
    events: broadcast::Sender<Event>,
    /// Whether a round has registered the node yet; claims start from the round after.
    registered: bool,
    /// Set while the node drains: rounds renew and heartbeat but claim and shed nothing.
    claiming_stopped: Arc<AtomicBool>,
}

impl Claimer {
    /// A claimer for `node` in the cluster under `keys`; nothing is sent to Redis until the
    /// first step.
    pub fn new(link: RedisLink, keys: Keys, node: NodeInfo, timings: Timings) -> Claimer {
        let registry = Registry::new(link.clone(), keys.clone());
        let leases = Leases::new(link.clone(), keys.clone(), timings.lease);
        let placement = Placement::new(link, keys, registry.clone(), timings.lease);
        Claimer {
            node,
            reported_load: Arc::new(AtomicU64::new(NO_REPORTED_LOAD)),
            timings,
            registry,
            leases,
            placement,
            held: Arc::new(Mutex::new(BTreeMap::new())),
            owned: watch::Sender::new(BTreeMap::new()),
            events: broadcast::Sender::new(1024),
            registered: false,
            claiming_stopped: Arc::new(AtomicBool::new(false)),
        }
    }

    /// This node's id.
    pub fn id(&self) -> &NodeId {
        &self.node.id
    }

    /// The set of (school, epoch) this node holds, updated on every gain and loss.
    pub fn owned(&self) -> watch::Receiver<BTreeMap<SchoolId, Epoch>> {
        self.owned.subscribe()
    }

    /// Gains and losses from now on.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// The fence to act under for `school`, while this node holds it and may still act.
    pub fn fence(&self, school: &SchoolId) -> Option<Fence> {
        current_fence(&self.held, school)
    }

    /// Reports `load` instead of the count of schools held from the next heartbeat on;
    /// `None` goes back to the count.
    pub fn set_load(&self, load: Option<u32>) {
        store_load(&self.reported_load, load);
    }

    /// One round: drop leases whose validity ran out, renew the rest, heartbeat, then claim
    /// free schools up to the fair share and hand one surplus school back if others have
    /// fewer. An error from Redis ends the round early; leases are still dropped on time.
    ///
    /// The first round only registers the node: nodes started together see one another
    /// before any of them claims, instead of the first one taking every school.
    pub async fn step(&mut self) -> Result<(), ClusterError> {
        let lapsed = self.drop_lapsed();
        self.renew().await?;
        // Others may take a lapsed school now rather than when Redis expires its lease.
        for fence in &lapsed {
            self.leases.release(fence).await?;
        }
        self.heartbeat().await?;
        if !self.registered {
            self.registered = true;
            return Ok(());
        }
        if self.claiming_stopped.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.sweep().await
    }

    /// When the earliest lease held stops being valid here, if any lease is held.
    pub fn next_deadline(&self) -> Option<Instant> {
        lock(&self.held).values().map(|h| h.valid_until).min()
    }

    /// Releases every lease, so other nodes take the schools at once, and leaves the
    /// registry. Losses are reported as [`LossReason::Released`].
    pub async fn release_all(&mut self) -> Result<(), ClusterError> {
        let fences: Vec<Fence> = lock(&self.held).values().map(|h| h.fence.clone()).collect();
        let mut first_error = None;
        for fence in fences {
            // Stop acting first: a release that fails leaves a lease that simply expires.
            self.lose(&fence, LossReason::Released);
            if let Err(e) = self.leases.release(&fence).await {
                first_error.get_or_insert(e);
            }
        }
        if let Err(e) = self.registry.deregister(&self.node.id).await {
            first_error.get_or_insert(e);
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Stops acting, and reports [`LossReason::Lapsed`], for every lease whose local validity
    /// has run out; returns their fences.
    pub fn drop_lapsed(&mut self) -> Vec<Fence> {
        let now = Instant::now();
        let lapsed: Vec<Fence> = lock(&self.held)
            .values()
            .filter(|h| h.valid_until <= now)
            .map(|h| h.fence.clone())
            .collect();
        for fence in &lapsed {
            self.lose(fence, LossReason::Lapsed);
        }
        lapsed
    }

    async fn renew(&mut self) -> Result<(), ClusterError> {
        let fences: Vec<Fence> = lock(&self.held).values().map(|h| h.fence.clone()).collect();
        let sent = Instant::now();
        let renewed = self.leases.renew_all(&fences).await?;
        let valid_until = sent + self.timings.local_validity();
        for (fence, ok) in fences.into_iter().zip(renewed) {
            if !ok {
                self.lose(&fence, LossReason::Taken);
            } else if let Some(h) = lock(&self.held).get_mut(&fence.school) {
                h.valid_until = valid_until;
            }
        }
        Ok(())
    }

    async fn heartbeat(&mut self) -> Result<(), ClusterError> {
        let schools = u32::try_from(lock(&self.held).len()).unwrap_or(u32::MAX);
        self.node.schools = schools;
        let reported = self.reported_load.load(Ordering::Relaxed);
        self.node.load = u32::try_from(reported).unwrap_or(schools);
        self.registry
            .heartbeat(&self.node, self.timings.lease)
            .await
    }

    async fn sweep(&mut self) -> Result<(), ClusterError> {
        let mut nodes = self.registry.live().await?;
        if !nodes.iter().any(|n| n.id == self.node.id) {
            nodes.push(self.node.clone());
        }
        let schools = self.placement.schools().await?;
        let fair = fair_share(schools.len(), nodes.len());
        let unheld: Vec<SchoolId> = {
            let held = lock(&self.held);
            schools
                .into_iter()
                .filter(|s| !held.contains_key(s))
                .collect()
        };
        let owners = self.leases.owners(&unheld).await?;
        let free: Vec<SchoolId> = unheld
            .into_iter()
            .zip(owners)
            .filter(|(_, owner)| owner.is_none())
            .map(|(school, _)| school)
            .collect();
        let placed = self.placement.placements(&free).await?;
        let mut candidates: Vec<(SchoolId, Option<NodeId>)> =
            free.into_iter().zip(placed).collect();
        // Nodes sweeping at the same moment try the free schools in different orders.
        candidates.shuffle(&mut rand::rng());
        for (school, placed_on) in candidates {
            let mine = placed_on.as_ref() == Some(&self.node.id);
            let elsewhere = placed_on
                .as_ref()
                .is_some_and(|p| *p != self.node.id && nodes.iter().any(|n| n.id == *p));
            if elsewhere || (!mine && lock(&self.held).len() >= fair) {
                continue;
            }
            let sent = Instant::now();
            if let Acquired::Won(fence) = self.leases.acquire(&school, &self.node.id).await? {
                self.gain(fence, sent);
            }
        }
        self.shed_surplus(&nodes, fair).await
    }

    /// Above the fair share while another node is below it: release one school per round, so
    /// a node that joins fills up over a few seconds without a stampede.
    async fn shed_surplus(&mut self, nodes: &[NodeInfo], fair: usize) -> Result<(), ClusterError> {
        let surplus = {
            let held = lock(&self.held);
            if held.len() <= fair {
                return Ok(());
            }
            let skip = rand::rng().random_range(0..held.len());
            held.values().nth(skip).map(|h| h.fence.clone())
        };
        let someone_short = nodes
            .iter()
            .any(|n| n.id != self.node.id && (n.schools as usize) < fair);
        if let (Some(fence), true) = (surplus, someone_short) {
            self.lose(&fence, LossReason::Released);
            self.leases.release(&fence).await?;
        }
        Ok(())
    }

    fn gain(&mut self, fence: Fence, sent: Instant) {
        let valid_until = sent + self.timings.local_validity();
        lock(&self.held).insert(
            fence.school.clone(),
            Held {
                fence: fence.clone(),
                valid_until,
            },
        );
        self.owned.send_modify(|owned| {
            owned.insert(fence.school.clone(), fence.epoch);
        });
        tracing::info!(school = %fence.school, epoch = fence.epoch, "school gained");
        self.report(Event::Gained(fence));
    }

    fn lose(&mut self, fence: &Fence, reason: LossReason) {
        let removed = {
            let mut held = lock(&self.held);
            match held.get(&fence.school) {
                Some(h) if h.fence == *fence => held.remove(&fence.school).is_some(),
                _ => false,
            }
        };
        if !removed {
            return;
        }
        self.owned.send_modify(|owned| {
            owned.remove(&fence.school);
        });
        tracing::info!(school = %fence.school, epoch = fence.epoch, ?reason, "school lost");
        self.report(Event::Lost {
            fence: fence.clone(),
            reason,
        });
    }

    fn report(&self, event: Event) {
        // With no subscriber nobody is waiting for events; `owned` still shows the change.
        if self.events.send(event).is_err() {
            tracing::debug!("no subscriber for cluster events");
        }
    }
}

/// A running [`Claimer`]: its rounds every heartbeat (a little sooner, at random, so nodes
/// do not sweep in lockstep). Dropping it stops the task without releasing anything, as a
/// killed process would; [`Membership::drain`] hands the schools over first.
#[derive(Debug)]
pub struct Membership {
    /// The node's id.
    id: NodeId,
    /// The running rounds; they give the claimer back when told to stop.
    task: Option<JoinHandle<Claimer>>,
    /// Tells the task to stop after its current round.
    stop: watch::Sender<bool>,
    /// See [`Claimer::owned`].
    owned: watch::Receiver<BTreeMap<SchoolId, Epoch>>,
    /// See [`Claimer::events`].
    events: broadcast::Sender<Event>,
    /// Shared with the claimer, for [`Membership::fence`].
    held: HeldMap,
    /// Shared with the claimer, for [`Membership::stop_claiming`].
    claiming_stopped: Arc<AtomicBool>,
    /// Shared with the claimer, for [`Membership::set_load`].
    reported_load: Arc<AtomicU64>,
}

impl Membership {
    /// Starts `claimer`'s rounds on the current tokio runtime.
    pub fn start(mut claimer: Claimer) -> Membership {
        let (stop, mut stopped) = watch::channel(false);
        let id = claimer.id().clone();
        let owned = claimer.owned();
        let events = claimer.events.clone();
        let held = claimer.held.clone();
        let reported_load = claimer.reported_load.clone();
        let claiming_stopped = claimer.claiming_stopped.clone();
        let heartbeat = claimer.timings.heartbeat;
        let task = tokio::spawn(async move {
            loop {
                if let Err(e) = claimer.step().await {
                    tracing::warn!(node = %claimer.node.id, error = %e, "cluster round failed");
                }
                let next_round = tokio::time::Instant::now()
                    + heartbeat.mul_f64(rand::rng().random_range(0.75..=1.0));
                // Between rounds, wake at each lease's deadline too, so a loss is reported
                // when it happens and not at the next round.
                loop {
                    let wake = claimer
                        .next_deadline()
                        .map(tokio::time::Instant::from_std)
                        .map_or(next_round, |d| d.min(next_round));
                    tokio::select! {
                        () = tokio::time::sleep_until(wake) => {}
                        _ = stopped.changed() => return claimer,
                    }
                    if tokio::time::Instant::now() >= next_round {
                        break;
                    }
                    claimer.drop_lapsed();
                }
            }
        });
        Membership {
            id,
            task: Some(task),
            stop,
            owned,
            events,
            held,
            claiming_stopped,
            reported_load,
        }
    }

    /// From the next round on, claims no school and hands none to others: the node is
    /// draining and releases its schools itself, one by one ([`crate::Leases::release`]); the
    /// rounds go on renewing the leases it still holds.
    pub fn stop_claiming(&self) {
        self.claiming_stopped.store(true, Ordering::Relaxed);
    }

    /// Reports `load` (connections, sessions, whatever the server measures) instead of the
    /// count of schools from the next heartbeat on; new schools go to the least loaded node.
    /// `None` goes back to the count.
    pub fn set_load(&self, load: Option<u32>) {
        store_load(&self.reported_load, load);
    }

    /// This node's id.
    pub fn id(&self) -> &NodeId {
        &self.id
    }

    /// The set of (school, epoch) this node holds.
    pub fn owned(&self) -> watch::Receiver<BTreeMap<SchoolId, Epoch>> {
        self.owned.clone()
    }

    /// Gains and losses from now on.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// The fence to act under for `school`, while this node holds it and may still act.
    pub fn fence(&self, school: &SchoolId) -> Option<Fence> {
        current_fence(&self.held, school)
    }

    /// Stops the rounds and releases every school at once, so the other nodes take them on
    /// their next sweep instead of after the lease.
    pub async fn drain(mut self) -> Result<(), ClusterError> {
        self.stop.send_replace(true);
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        match task.await {
            Ok(mut claimer) => claimer.release_all().await,
            // The task panicked: nothing to release; the leases expire.
            Err(e) => {
                tracing::error!(error = %e, "cluster task ended abnormally");
                Ok(())
            }
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
