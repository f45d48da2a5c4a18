//! The cluster against the real Redis (`KONSULT_TEST_REDIS`, else redis://127.0.0.1:6379):
//! leases and fencing, the registry, three nodes sharing schools and surviving a kill, a
//! paused node fenced off, drain, placement, and the bus. Each test keeps its keys under a
//! prefix of its own and deletes them at the end.

use konsult_cluster::{
    Acquired, Bus, Claimer, ClusterError, Event, Fence, Keys, Kind, Leases, LossReason, Membership,
    NodeId, NodeInfo, Placement, RedisLink, Registry, SchoolId, Timings,
};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

fn redis_url() -> String {
    std::env::var("KONSULT_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A fresh key prefix, and the link to Redis.
struct Cluster {
    link: RedisLink,
    keys: Keys,
}

impl Cluster {
    fn new() -> Cluster {
        let prefix = format!("konsult-test:{:016x}:", rand_u64());
        Cluster {
            link: RedisLink::new(&redis_url(), Duration::from_secs(2)).expect("redis url"),
            keys: Keys::new(prefix),
        }
    }

    fn leases(&self, lease: Duration) -> Leases {
        Leases::new(self.link.clone(), self.keys.clone(), lease)
    }

    fn registry(&self) -> Registry {
        Registry::new(self.link.clone(), self.keys.clone())
    }

    fn placement(&self) -> Placement {
        Placement::new(
            self.link.clone(),
            self.keys.clone(),
            self.registry(),
            Duration::from_secs(5),
        )
    }

    fn claimer(&self, id: &str, timings: Timings) -> Claimer {
        Claimer::new(self.link.clone(), self.keys.clone(), node(id), timings)
    }

    fn member(&self, id: &str, timings: Timings) -> Membership {
        Membership::start(self.claimer(id, timings))
    }

    async fn add_schools(&self, count: usize) -> Vec<SchoolId> {
        let placement = self.placement();
        let mut schools = Vec::new();
        for i in 0..count {
            let school = SchoolId(format!("school-{i:02}"));
            placement.place(&school).await.expect("placed");
            schools.push(school);
        }
        schools
    }

    /// Deletes every key under the prefix.
    async fn clean(self) {
        let pattern = format!("{}*", self.keys.prefix());
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = self
                .link
                .query(
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000),
                )
                .await
                .expect("scan");
            if !keys.is_empty() {
                let _: i64 = self
                    .link
                    .query(redis::cmd("DEL").arg(&keys))
                    .await
                    .expect("del");
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
}

fn rand_u64() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    (nanos as u64) ^ (u64::from(std::process::id()) << 32) ^ rand::random::<u64>()
}

fn node(id: &str) -> NodeInfo {
    NodeInfo {
        id: NodeId(id.into()),
        http: format!("127.0.0.1:80{}", id.len()),
        media: "127.0.0.1".into(),
        load: 0,
        schools: 0,
    }
}

fn quick() -> Timings {
    Timings {
        heartbeat: Duration::from_millis(250),
        lease: Duration::from_millis(1500),
        reply_timeout: Duration::from_secs(1),
    }
}

/// Polls `check` every 50 ms until it is true; fails after `limit`. Returns the time taken.
async fn within<F, Fut>(limit: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn counts(members: &[&Membership]) -> Vec<usize> {
    members.iter().map(|m| m.owned().borrow().len()).collect()
}

fn fence(school: &str, node: &str, epoch: u64) -> Fence {
    Fence {
        school: SchoolId(school.into()),
        node: NodeId(node.into()),
        epoch,
    }
}

#[tokio::test]
async fn leases_are_exclusive_and_their_epochs_only_grow() {
    let cluster = Cluster::new();
    let leases = cluster.leases(Duration::from_secs(5));
    let school = SchoolId("s".into());
    let (a, b) = (NodeId("a".into()), NodeId("b".into()));

    let Acquired::Won(fa) = leases.acquire(&school, &a).await.expect("acquire") else {
        panic!("a free school is won");
    };
    assert_eq!(fa, fence("s", "a", 1));
    let held = leases.acquire(&school, &b).await.expect("acquire");
    assert_eq!(
        held,
        Acquired::Held(konsult_cluster::Owner {
            node: a.clone(),
            epoch: 1
        })
    );
    assert!(leases.renew(&fa).await.expect("renew"));
    assert!(!leases.renew(&fence("s", "a", 2)).await.expect("renew"));
    assert!(!leases.renew(&fence("s", "b", 1)).await.expect("renew"));
    assert!(!leases.release(&fence("s", "b", 1)).await.expect("release"));
    assert!(leases.still_holds(&fa).await.expect("holds"));

    assert!(leases.release(&fa).await.expect("release"));
    assert_eq!(leases.owner(&school).await.expect("owner"), None);
    let Acquired::Won(fb) = leases.acquire(&school, &b).await.expect("acquire") else {
        panic!("a released school is won");
    };
    assert_eq!(fb.epoch, 2);
    assert!(!leases.still_holds(&fa).await.expect("holds"));
    assert_eq!(leases.latest_epoch(&school).await.expect("epoch"), 2);

    // Fenced writes: the stale epoch is refused, the current one lands.
    let key = format!("{}state:s", cluster.keys.prefix());
    assert!(
        !leases
            .write_if_current(&fa, &key, b"old")
            .await
            .expect("write")
    );
    assert!(
        leases
            .write_if_current(&fb, &key, b"new")
            .await
            .expect("write")
    );
    let stored: Vec<u8> = cluster
        .link
        .query(redis::cmd("GET").arg(&key))
        .await
        .expect("get");
    assert_eq!(stored, b"new");

    // A lease nobody renews expires in Redis, and the next owner gets the next epoch.
    let short = cluster.leases(Duration::from_millis(300));
    let other = SchoolId("t".into());
    let Acquired::Won(ft) = short.acquire(&other, &a).await.expect("acquire") else {
        panic!("free");
    };
    assert_eq!(ft.epoch, 1);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(
        !short.renew(&ft).await.expect("renew"),
        "an expired lease cannot be renewed"
    );
    let Acquired::Won(ft2) = short.acquire(&other, &b).await.expect("acquire") else {
        panic!("an expired lease is free");
    };
    assert_eq!(ft2.epoch, 2);

    // Epochs the database has seen stay behind the next owner's, even if Redis forgot them.
    assert!(short.release(&ft2).await.expect("release"));
    assert_eq!(short.raise_epoch(&other, 10).await.expect("raise"), 10);
    assert_eq!(
        short.raise_epoch(&other, 4).await.expect("never lowered"),
        10
    );
    let Acquired::Won(ft11) = short.acquire(&other, &a).await.expect("acquire") else {
        panic!("free");
    };
    assert_eq!(ft11.epoch, 11);
    cluster.clean().await;
}

#[tokio::test]
async fn the_registry_forgets_a_node_that_stops_beating() {
    let cluster = Cluster::new();
    let registry = cluster.registry();
    let ttl = Duration::from_millis(800);
    registry.heartbeat(&node("a"), ttl).await.expect("beat");
    registry.heartbeat(&node("b"), ttl).await.expect("beat");
    let ids = |nodes: Vec<NodeInfo>| nodes.into_iter().map(|n| n.id.0).collect::<Vec<_>>();
    assert_eq!(ids(registry.live().await.expect("live")), ["a", "b"]);
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        registry.heartbeat(&node("a"), ttl).await.expect("beat");
    }
    assert_eq!(ids(registry.live().await.expect("live")), ["a"]);
    registry
        .deregister(&NodeId("a".into()))
        .await
        .expect("leave");
    assert!(registry.live().await.expect("live").is_empty());
    cluster.clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_thirty_schools_and_the_survivors_take_a_killed_ones() {
    let cluster = Cluster::new();
    let schools = cluster.add_schools(30).await;
    let timings = Timings::DEFAULT;
    let a = cluster.member("a", timings);
    let b = cluster.member("b", timings);
    let c = cluster.member("c", timings);
    within(Duration::from_secs(20), "10 schools each", || async {
        counts(&[&a, &b, &c]) == [10, 10, 10]
    })
    .await;
    let leases = cluster.leases(timings.lease);
    let before = leases.owners(&schools).await.expect("owners");
    let c_schools: BTreeMap<SchoolId, u64> = c.owned().borrow().clone();
    assert_eq!(c_schools.len(), 10);
    for (school, owner) in schools.iter().zip(&before) {
        let owner = owner.as_ref().expect("every school is owned");
        let member = [&a, &b, &c]
            .into_iter()
            .find(|m| *m.id() == owner.node)
            .expect("owned by a member");
        assert_eq!(member.owned().borrow().get(school), Some(&owner.epoch));
    }

    // Killed: the task stops without releasing anything, as SIGKILL would leave it.
    let killed = Instant::now();
    drop(c);
    let taken = within(Duration::from_secs(10), "c's schools taken over", || {
        let leases = leases.clone();
        let c_schools = c_schools.clone();
        async move {
            let ids: Vec<SchoolId> = c_schools.keys().cloned().collect();
            let owners = leases.owners(&ids).await.expect("owners");
            owners.iter().zip(c_schools.values()).all(|(owner, old)| {
                owner
                    .as_ref()
                    .is_some_and(|o| o.node.0 != "c" && o.epoch > *old)
            })
        }
    })
    .await;
    println!("a killed node's 10 schools were held by the others after {taken:?}");
    assert!(killed.elapsed() < Duration::from_secs(10));
    within(Duration::from_secs(5), "15 schools each", || async {
        counts(&[&a, &b]) == [15, 15]
    })
    .await;
    for (school, epoch) in &c_schools {
        let new_epoch = a
            .owned()
            .borrow()
            .get(school)
            .or(b.owned().borrow().get(school))
            .copied();
        assert!(new_epoch.expect("held by a survivor") > *epoch);
    }
    drop((a, b));
    cluster.clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_holder_loses_its_school_and_its_stale_writes_are_refused() {
    let cluster = Cluster::new();
    let timings = quick();
    let schools = cluster.add_schools(1).await;
    let school = &schools[0];
    let mut paused = cluster.claimer("paused", timings);
    let mut events = paused.events();
    paused.step().await.expect("first round: registers only");
    assert_eq!(paused.fence(school), None);
    paused.step().await.expect("round");
    let old = paused
        .fence(school)
        .expect("the only node takes the school");
    assert_eq!(
        events.try_recv().expect("event"),
        Event::Gained(old.clone())
    );

    // The holder stops (no rounds) while another node runs.
    let other = cluster.member("other", timings);
    tokio::time::sleep(timings.local_validity() + Duration::from_millis(50)).await;
    assert_eq!(
        paused.fence(school),
        None,
        "no fence once the lease may have lapsed"
    );
    within(
        Duration::from_secs(5),
        "the other node takes it",
        || async { other.owned().borrow().contains_key(school) },
    )
    .await;
    let new = other.fence(school).expect("held");
    assert!(new.epoch > old.epoch);

    // It wakes: its first round reports the loss, before anything else.
    paused.step().await.expect("round");
    assert_eq!(
        events.try_recv().expect("event"),
        Event::Lost {
            fence: old.clone(),
            reason: LossReason::Lapsed
        }
    );
    assert!(paused.owned().borrow().is_empty());
    assert_eq!(paused.fence(school), None);

    let leases = cluster.leases(timings.lease);
    let key = format!("{}hub:{}", cluster.keys.prefix(), school);
    assert!(!leases.still_holds(&old).await.expect("check"));
    assert!(
        !leases
            .write_if_current(&old, &key, b"stale")
            .await
            .expect("write")
    );
    assert!(
        leases
            .write_if_current(&new, &key, b"fresh")
            .await
            .expect("write")
    );
    // Later rounds leave the school with its owner.
    paused.step().await.expect("round");
    assert_eq!(paused.fence(school), None);
    assert_eq!(
        leases.owner(school).await.expect("owner").map(|o| o.node),
        Some(NodeId("other".into()))
    );
    drop(other);
    cluster.clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_node_hands_its_schools_over_at_once() {
    let cluster = Cluster::new();
    let schools = cluster.add_schools(10).await;
    let timings = Timings::DEFAULT;
    let a = cluster.member("a", timings);
    let b = cluster.member("b", timings);
    within(Duration::from_secs(15), "5 schools each", || async {
        counts(&[&a, &b]) == [5, 5]
    })
    .await;
    let mut a_events = a.events();
    let drained = Instant::now();
    a.drain().await.expect("drain");
    let mut released = 0;
    while let Ok(event) = a_events.try_recv() {
        match event {
            Event::Lost {
                reason: LossReason::Released,
                ..
            } => released += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(released, 5);
    let registry = cluster.registry();
    let live = registry.live().await.expect("live");
    assert_eq!(live.len(), 1, "a left the registry: {live:?}");
    within(Duration::from_secs(3), "b holds all 10", || async {
        b.owned().borrow().len() == 10
    })
    .await;
    // Well inside the 5 s lease: the schools were handed over, not left to expire.
    assert!(drained.elapsed() < timings.lease - Duration::from_secs(1));
    let owners = cluster
        .leases(timings.lease)
        .owners(&schools)
        .await
        .expect("owners");
    assert!(
        owners
            .iter()
            .all(|o| o.as_ref().is_some_and(|o| o.node.0 == "b"))
    );
    drop(b);
    cluster.clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_school_goes_to_the_least_loaded_node() {
    let cluster = Cluster::new();
    cluster.add_schools(3).await;
    let timings = quick();
    let a = cluster.member("a", timings);
    let b = cluster.member("b", timings);
    within(Duration::from_secs(10), "3 schools placed", || async {
        let mut c = counts(&[&a, &b]);
        c.sort();
        c == [1, 2]
    })
    .await;
    // Let both heartbeats report their counts.
    tokio::time::sleep(timings.heartbeat * 2).await;
    let lighter = if a.owned().borrow().len() == 1 {
        &a
    } else {
        &b
    };
    let new = SchoolId("new".into());
    let chosen = cluster.placement().place(&new).await.expect("place");
    assert_eq!(chosen.as_ref(), Some(lighter.id()));
    within(
        Duration::from_secs(3),
        "the chosen node claims it",
        || async { lighter.owned().borrow().contains_key(&new) },
    )
    .await;
    assert_eq!(counts(&[&a, &b]), [2, 2]);

    // A load the node reports counts instead of its schools.
    a.set_load(Some(500));
    b.set_load(Some(20));
    tokio::time::sleep(timings.heartbeat * 2).await;
    let busy = cluster
        .placement()
        .place(&SchoolId("busy".into()))
        .await
        .expect("place");
    assert_eq!(busy.as_ref(), Some(b.id()));
    b.set_load(Some(900));
    tokio::time::sleep(timings.heartbeat * 2).await;
    let calm = cluster
        .placement()
        .place(&SchoolId("calm".into()))
        .await
        .expect("place");
    assert_eq!(calm.as_ref(), Some(a.id()));
    drop((a, b));
    cluster.clean().await;
}

#[tokio::test]
async fn the_bus_carries_a_frame_to_the_owner_and_its_reply_back_and_says_who_listens() {
    let cluster = Cluster::new();
    let edge = Bus::new(
        cluster.link.clone(),
        cluster.keys.clone(),
        NodeId("edge".into()),
    );
    let owner = Bus::new(
        cluster.link.clone(),
        cluster.keys.clone(),
        NodeId("owner".into()),
    );
    let mut edge_rx = edge.listen(16).await.expect("listen");
    let mut owner_rx = owner.listen(16).await.expect("listen");
    let school = SchoolId("s".into());

    edge.send(
        owner.node(),
        Kind::Frame,
        &school,
        42,
        &b"{\"type\":\"threads\"}"[..],
    )
    .await
    .expect("send");
    let got = owner_rx.recv().await.expect("frame");
    assert_eq!(
        (got.kind, &got.from, &got.school, got.connection),
        (Kind::Frame, edge.node(), &school, 42)
    );
    assert_eq!(&got.payload[..], b"{\"type\":\"threads\"}");

    owner
        .send(
            &got.from,
            Kind::Reply,
            &got.school,
            got.connection,
            &b"{\"type\":\"threads\",\"threads\":[]}"[..],
        )
        .await
        .expect("reply");
    let reply = edge_rx.recv().await.expect("reply");
    assert_eq!(
        (reply.kind, reply.connection, &reply.from),
        (Kind::Reply, 42, owner.node())
    );

    let gone = edge
        .send(&NodeId("nobody".into()), Kind::Open, &school, 1, Vec::new())
        .await;
    assert!(matches!(gone, Err(ClusterError::NoListener(_))), "{gone:?}");
    assert!(edge.listening(owner.node()).await.expect("numsub"));
    assert!(
        !edge
            .listening(&NodeId("nobody".into()))
            .await
            .expect("numsub")
    );
    drop(owner_rx);
    within(Duration::from_secs(2), "unsubscribed on drop", || async {
        matches!(
            edge.send(owner.node(), Kind::Close, &school, 42, Vec::new())
                .await,
            Err(ClusterError::NoListener(_))
        )
    })
    .await;
    assert!(!edge.listening(owner.node()).await.expect("numsub"));
    cluster.clean().await;
}

#[tokio::test]
async fn a_batch_arrives_in_order_and_says_which_messages_found_no_listener() {
    let cluster = Cluster::new();
    let a = Bus::new(
        cluster.link.clone(),
        cluster.keys.clone(),
        NodeId("a".into()),
    );
    let b = Bus::new(
        cluster.link.clone(),
        cluster.keys.clone(),
        NodeId("b".into()),
    );
    let mut b_rx = b.listen(256).await.expect("listen");
    let school = SchoolId("s".into());
    let to = |node: &str, i: u64| konsult_cluster::Outgoing {
        to: NodeId(node.into()),
        kind: Kind::Frame,
        school: school.clone(),
        connection: 7,
        payload: bytes::Bytes::from(i.to_string()),
    };
    let mut batch: Vec<_> = (0..200).map(|i| to("b", i)).collect();
    batch.insert(100, to("nobody", 999));
    let heard = a.send_batch(&batch).await.expect("batch");
    assert_eq!(heard.len(), 201);
    assert!(!heard[100], "nobody listens for `nobody`");
    assert_eq!(heard.iter().filter(|h| **h).count(), 200);
    for i in 0..200u64 {
        let got = b_rx.recv().await.expect("frame");
        assert_eq!(&got.payload[..], i.to_string().as_bytes(), "out of order");
    }
    assert!(a.send_batch(&[]).await.expect("empty").is_empty());
    cluster.clean().await;
}

/// Round trips through Redis on loopback: `cargo nextest run --workspace --run-ignored only
/// -E 'test(bus_round_trip_latency)' --no-capture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run it by name"]
async fn bus_round_trip_latency() {
    const ROUNDS: usize = 10_000;
    let cluster = Cluster::new();
    let a = Bus::new(
        cluster.link.clone(),
        cluster.keys.clone(),
        NodeId("a".into()),
    );
    let b = Bus::new(
        cluster.link.clone(),
        cluster.keys.clone(),
        NodeId("b".into()),
    );
    let mut a_rx = a.listen(64).await.expect("listen");
    let mut b_rx = b.listen(64).await.expect("listen");
    let echo_bus = b.clone();
    let echo = tokio::spawn(async move {
        while let Some(e) = b_rx.recv().await {
            echo_bus
                .send(&e.from, Kind::Reply, &e.school, e.connection, e.payload)
                .await
                .expect("echo");
        }
    });
    let school = SchoolId("s".into());
    let payload = vec![b'x'; 100];
    let mut times = Vec::with_capacity(ROUNDS);
    for i in 0..ROUNDS {
        let start = Instant::now();
        a.send(b.node(), Kind::Frame, &school, i as u64, payload.clone())
            .await
            .expect("send");
        let back = a_rx.recv().await.expect("echo");
        times.push(start.elapsed());
        assert_eq!(back.connection, i as u64);
    }
    echo.abort();
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "bus round trip over Redis, {ROUNDS} messages of 100 bytes: p50 {:?}, p99 {:?}, max {:?}",
        at(0.50),
        at(0.99),
        times[times.len() - 1]
    );
    cluster.clean().await;
}

/// A TCP relay to the real Redis that can be cut, as a network partition or a Redis restart
/// cuts a node off: every relayed connection is dropped and new ones are closed at once.
struct Relay {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Relay {
    async fn start() -> Relay {
        let target = redis_url()
            .trim_start_matches("redis://")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let cut = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = tokio::spawn({
            let cut = cut.clone();
            let connections = connections.clone();
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if cut.load(Ordering::SeqCst) {
                        continue;
                    }
                    let target = target.clone();
                    let relay = tokio::spawn(async move {
                        if let Ok(mut redis) = TcpStream::connect(&target).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut redis).await;
                        }
                    });
                    connections.lock().expect("lock").push(relay);
                }
            }
        });
        Relay {
            addr,
            cut,
            connections,
            accept,
        }
    }

    fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    fn cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
        if cut {
            for relay in self.connections.lock().expect("lock").drain(..) {
                relay.abort();
            }
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut(true);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_from_redis_stops_acting_when_its_lease_lapses_and_recovers() {
    let cluster = Cluster::new();
    let schools = cluster.add_schools(2).await;
    let timings = quick();
    let relay = Relay::start().await;
    let cut_link = RedisLink::new(&relay.url(), timings.reply_timeout).expect("url");
    let cut_off = Membership::start(Claimer::new(
        cut_link,
        cluster.keys.clone(),
        node("cut-off"),
        timings,
    ));
    within(Duration::from_secs(5), "both schools held", || async {
        cut_off.owned().borrow().len() == 2
    })
    .await;
    let mut events = cut_off.events();

    let cut_at = Instant::now();
    relay.cut(true);
    let mut lapsed = Vec::new();
    while lapsed.len() < 2 {
        let event = tokio::time::timeout(timings.lease, events.recv())
            .await
            .expect("lost within a lease")
            .expect("event");
        match event {
            Event::Lost {
                fence,
                reason: LossReason::Lapsed,
            } => lapsed.push(fence),
            other => panic!("unexpected {other:?}"),
        }
    }
    // At most the local validity after the last renewal, which came at most a heartbeat
    // (and a reply) before the cut.
    let stopped_after = cut_at.elapsed();
    assert!(
        stopped_after <= timings.local_validity() + Duration::from_millis(200),
        "{stopped_after:?}"
    );
    for school in &schools {
        assert_eq!(cut_off.fence(school), None);
    }

    // Another node takes the schools once Redis expires the leases.
    let other = cluster.member("other", timings);
    within(
        Duration::from_secs(6),
        "the other node holds both",
        || async { other.owned().borrow().len() == 2 },
    )
    .await;
    let leases = cluster.leases(timings.lease);
    for fence in &lapsed {
        assert!(
            !leases
                .write_if_current(fence, "x", b"stale")
                .await
                .expect("write")
        );
    }

    // The link comes back: the node rejoins and gets its fair share again, under new epochs.
    relay.cut(false);
    within(Duration::from_secs(10), "one school each", || async {
        cut_off.owned().borrow().len() == 1 && other.owned().borrow().len() == 1
    })
    .await;
    let back: Vec<(SchoolId, u64)> = cut_off
        .owned()
        .borrow()
        .iter()
        .map(|(s, e)| (s.clone(), *e))
        .collect();
    for (school, epoch) in back {
        let old = lapsed
            .iter()
            .find(|f| f.school == school)
            .expect("a school it had");
        assert!(epoch > old.epoch);
    }
    drop((cut_off, other));
    cluster.clean().await;
}
