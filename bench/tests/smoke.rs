//! A quick run of the load generator against the debug `konsult` and the baseline: a few idle
//! clients, some round trips, a small broadcast, media to three subscribers through the SFU,
//! durable chat on both stores and a small cluster, so that the bench keeps working as the
//! server changes. The real measurements are bench/run.sh's, on release builds.

use konsult_bench::scenario::{Common, chat, cluster, fanout, idle, media, rtt};
use konsult_bench::target::Kind;
use konsult_testkit::process::{TempDir, konsult_binary};
use std::path::PathBuf;

fn common(target: Kind, data: &std::path::Path) -> Common {
    Common {
        target,
        konsult_bin: konsult_binary(),
        baseline_bin: PathBuf::from(env!("CARGO_BIN_EXE_konsult-baseline")),
        data: Some(data.to_path_buf()),
        store_url: None,
        sources: 4,
        concurrency: 16,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_round_trips_and_fanout_against_both_servers() {
    let data = TempDir::new("bench-smoke");
    for target in [Kind::Konsult, Kind::Baseline] {
        let common = common(target, &data.0);
        let s = idle::run(
            &common,
            &idle::IdleArgs {
                clients: 50,
                hold_secs: 1,
                no_warmup: false,
            },
        )
        .await
        .expect("idle scenario");
        assert_eq!(s.get("held"), Some(50.0), "{}", s.render());
        assert!(
            s.get("kib_per_conn").is_some_and(|k| k > 0.0),
            "{}",
            s.render()
        );

        let s = rtt::run(
            &common,
            &rtt::RttArgs {
                idle: 20,
                clients: 5,
                rate: 50,
                secs: 1,
                warmup_secs: 0,
                request: "ping".into(),
            },
        )
        .await
        .expect("rtt scenario");
        assert_eq!(s.get("errors"), Some(0.0), "{}", s.render());
        assert!(
            s.get("answered").is_some_and(|n| n >= 40.0),
            "{}",
            s.render()
        );

        // The baseline has no chat.
        let broadcasts: &[fanout::Broadcast] = match target {
            Kind::Konsult => &[fanout::Broadcast::Chat, fanout::Broadcast::Presence],
            Kind::Baseline => &[fanout::Broadcast::Presence],
        };
        for &broadcast in broadcasts {
            let s = fanout::run(
                &common,
                &fanout::FanoutArgs {
                    members: 30,
                    rounds: 3,
                    rate: 300,
                    sustain_secs: 1,
                    broadcast,
                },
            )
            .await
            .expect("fanout scenario");
            assert_eq!(s.get("members_reached"), Some(30.0), "{}", s.render());
            // A round nobody received reads 0 ms.
            assert!(
                s.get("last_delivery_p50").is_some_and(|ms| ms > 0.0),
                "{}",
                s.render()
            );
            assert_eq!(
                s.get("sustain_delivered"),
                s.get("sustain_expected"),
                "{}",
                s.render()
            );
        }
    }
}

/// Row f in small: one publisher and three subscribers through the SFU for two seconds, then
/// the same against the bare UDP forwarder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_reaches_every_subscriber_through_both_servers() {
    let data = TempDir::new("bench-smoke-media");
    for target in [Kind::Konsult, Kind::Baseline] {
        let common = common(target, &data.0);
        let s = media::forward(
            &common,
            &media::ForwardArgs {
                subscribers: 3,
                secs: 2,
                join_concurrency: 3,
                media: media::MediaArgs {
                    video_kbps: 500,
                    fps: 30,
                    audio_bytes: 160,
                },
            },
        )
        .await
        .expect("forward scenario");
        assert_eq!(s.get("receiving"), Some(3.0), "{}", s.render());
        // 3 subscribers x about 110 packets/s.
        assert!(
            s.get("forwarded_pps").is_some_and(|p| p > 200.0),
            "{}",
            s.render()
        );
        assert!(
            s.get("delay_p50").is_some_and(|d| d > 0.0),
            "{}",
            s.render()
        );
    }
}

/// Row d on each store: every send of a short run acknowledged, on SQLite and on a fresh
/// PostgreSQL database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_is_acknowledged_on_sqlite_and_on_postgres() {
    for postgres in [false, true] {
        let data = TempDir::new("bench-chat");
        let mut common = common(Kind::Konsult, &data.0);
        if postgres {
            common.store_url = Some(konsult_testkit::postgres::database_for(&data.0));
        }
        let s = chat::run(
            &common,
            &chat::ChatArgs {
                senders: 20,
                rate: 400,
                secs: 2,
                closed_loop: false,
                first: 30_000,
            },
        )
        .await
        .expect("chat scenario");
        eprintln!("{}", s.render());
        assert_eq!(s.get("errors"), Some(0.0), "{}", s.render());
        assert!(s.get("acked").is_some_and(|n| n > 0.0), "{}", s.render());
        assert_eq!(s.get("acked"), s.get("sent"), "{}", s.render());
    }
}

/// Row h in small: three nodes on a fresh PostgreSQL database and a Redis prefix of their own,
/// three schools, pairs in every placement, then a node killed and its schools' clients back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_pairs_across_nodes_and_its_clients_come_back_after_a_kill() {
    let data = TempDir::new("bench-cluster");
    let common = common(Kind::Konsult, &data.0);
    let s = cluster::run(
        &common,
        &cluster::ClusterArgs {
            nodes: 3,
            schools: 3,
            clients: 60,
            crowd_processes: Some(2),
            load_bin: Some(PathBuf::from(env!("CARGO_BIN_EXE_konsult-load"))),
            teachers: 2,
            probe_schools: 3,
            latency_secs: 2,
            round_gap_ms: 50,
            kill: None,
            resume_limit_secs: 60,
            connect_limit_secs: 60,
            heartbeat_ms: 250,
            lease_ms: 1_000,
            backoff_first_ms: 500,
            backoff_cap_ms: 10_000,
            postgres: konsult_testkit::postgres::server_url(),
            redis: std::env::var("KONSULT_TEST_REDIS")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string()),
        },
    )
    .await
    .expect("cluster scenario");
    eprintln!("{}", s.render());
    assert_eq!(s.get("clients_connected"), Some(60.0), "{}", s.render());
    for placement in [
        "owner_owner",
        "student_bridged",
        "teacher_bridged",
        "neither_on_owner",
    ] {
        assert!(
            s.get(&format!("rounds.{placement}"))
                .is_some_and(|n| n > 0.0),
            "{}",
            s.render()
        );
    }
    assert!(s.get("takeover_all_ms").is_some(), "{}", s.render());
    assert!(
        s.get("own.clients").is_some_and(|n| n > 0.0),
        "{}",
        s.render()
    );
    assert_eq!(s.get("own.missing"), Some(0.0), "{}", s.render());
}
