//! Runs this server as a node of a cluster: joins it (`node.rs`) and starts the tasks that
//! follow the membership (a school gained starts its hub, a school lost stops it), publish the
//! bridges' messages, route what other nodes send (`bus_inbox.rs`), close bridges to schools
//! that moved, put new schools up for placement and report the node's load (its open
//! connections); hands the node's schools over when it drains.

use crate::app::App;
use crate::node::Node;
use crate::schools::{School, SchoolError};
use crate::store::StoreError;
use konsult_cluster::SchoolId as SchoolCode;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How often the node puts schools created since (`konsult school add`) up for placement.
const SCHOOL_SYNC: Duration = Duration::from_secs(5);

/// Joins the cluster at `url` as the node serving HTTP on `http`, and starts its tasks.
pub async fn join(app: &Arc<App>, url: &str, http: SocketAddr) -> anyhow::Result<Arc<Node>> {
    let joined = Node::join(&app.config, &app.store, url, http).await?;
    let node = joined.node;
    node.keep_tasks(vec![
        tokio::spawn(follow(app.clone(), joined.owned)),
        tokio::spawn(crate::ws::bridge_links::publish(
            node.bus(),
            node.bridges.clone(),
            joined.outgoing,
        )),
        tokio::spawn(crate::bus_inbox::receive(app.clone(), joined.inbox)),
        tokio::spawn(crate::node::watch_owners(node.clone())),
        tokio::spawn(crate::node::sync_schools(
            node.clone(),
            app.store.clone(),
            SCHOOL_SYNC,
        )),
        tokio::spawn(report_load(app.clone(), node.clone())),
    ]);
    Ok(node)
}

/// Reports the node's open connections as its load, every heartbeat.
async fn report_load(app: Arc<App>, node: Arc<Node>) {
    let mut tick = tokio::time::interval(node.timings.heartbeat);
    loop {
        tick.tick().await;
        node.report_load(app.sockets.load(std::sync::atomic::Ordering::Relaxed));
    }
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
        // A failover gains a dead node's schools at once: they are claimed side by side, not
        // one after another behind every other query of a node its clients storm.
        let gains = now
            .iter()
            .filter(|(code, _)| !running.contains_key(*code))
            .filter_map(|(code, epoch)| Some((code, epoch, i64::try_from(*epoch).ok()?)))
            .map(|(code, epoch, signed)| {
                let app = &app;
                async move {
                    (
                        code,
                        epoch,
                        crate::school_hubs::gain(app, &code.0, signed).await,
                    )
                }
            });
        for (code, epoch, gained) in futures_util::future::join_all(gains).await {
            match gained {
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
        metrics::gauge!(crate::metrics::SCHOOLS_HELD).set(running.len() as f64);
        if owned.changed().await.is_err() {
            return;
        }
    }
}

/// Hands this node's schools to the others before it stops (SIGTERM): it claims no more;
/// a school without a live session goes at once, one with sessions once they end or
/// `server.shutdown_timeout` passed. Each school's hub stops (its clients get
/// `server_shutdown` and 1001, and resume on the new owner), keeps its last snapshot, and
/// only then is the lease released, so that the next owner starts from that snapshot.
pub async fn hand_over(app: &App, node: &Node) {
    node.stop_claiming();
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
                hand_over_school(app, node, &school).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tracing::info!(node = %node.id, "every school handed over");
}

async fn hand_over_school(app: &App, node: &Node, school: &School) {
    tracing::info!(school = %school.code, sessions = school.live_sessions.load(std::sync::atomic::Ordering::Relaxed), "handing the school over");
    app.schools.stop(school.id);
    if tokio::time::timeout(node.timings.lease, school.finished())
        .await
        .is_err()
    {
        tracing::warn!(school = %school.code, "the hub did not stop in time; its lease is released anyway");
    }
    if let Some(epoch) = school.epoch {
        node.release(&school.code, epoch).await;
    }
}
