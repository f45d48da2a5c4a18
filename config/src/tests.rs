//! The shipped config file matches the defaults, and every error names its key.

use super::*;

fn shipped() -> &'static str {
    include_str!("../konsult.toml")
}

#[test]
fn shipped_file_holds_every_key_at_its_default() {
    let mut config = Config::default();
    config
        .apply_toml(shipped(), Path::new("konsult.toml"))
        .expect("shipped file parses");
    assert_eq!(config, Config::default());
    let table: toml::Table = shipped().parse().expect("toml");
    let mut in_file: Vec<String> = table
        .iter()
        .flat_map(|(section, v)| {
            v.as_table()
                .expect("sections")
                .keys()
                .map(move |k| format!("{section}.{k}"))
        })
        .collect();
    in_file.sort();
    let mut keys: Vec<String> = Config::KEYS.iter().map(|k| k.to_string()).collect();
    keys.sort();
    assert_eq!(in_file, keys);
}

#[test]
fn environment_overrides_file_and_flags_override_environment() {
    let sources = Sources {
        file: None,
        env: vec![
            ("KONSULT_LIMITS_MAX_FRAME_BYTES".into(), "131072".into()),
            ("KONSULT_SERVER_LISTEN".into(), "127.0.0.1:9000".into()),
            ("PATH".into(), "/bin".into()),
        ],
        flags: vec![("server.listen", "127.0.0.1:9001".into())],
    };
    let config = Config::load(&sources).expect("valid");
    assert_eq!(config.limits.max_frame_bytes, 131072);
    assert_eq!(config.server.listen.port(), 9001);
}

#[test]
fn errors_name_the_key_and_the_source() {
    let env = |name: &str, value: &str| Sources {
        env: vec![(name.into(), value.into())],
        ..Sources::default()
    };
    let err = Config::load(&env("KONSULT_LIMITS_MAX_FRAME_BYTES", "lots")).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("limits.max_frame_bytes"), "{text}");
    assert!(text.contains("KONSULT_LIMITS_MAX_FRAME_BYTES"), "{text}");

    let err = Config::load(&env("KONSULT_HUB_GRACE", "soon")).unwrap_err();
    assert!(err.to_string().contains("hub.grace"));

    let err = Config::load(&env("KONSULT_SCHOOL_LANGUAGE", "fr")).unwrap_err();
    assert!(err.to_string().contains("school.language"), "{err}");

    let err = Config::load(&env("KONSULT_NO_SUCH_KEY", "1")).unwrap_err();
    assert!(err.to_string().contains("KONSULT_NO_SUCH_KEY"));

    let err = Config::load(&env("KONSULT_LIMITS_MAX_FRAME_BYTES", "10")).unwrap_err();
    assert!(err.to_string().contains("limits.max_frame_bytes"));

    let mut config = Config::default();
    let err = config
        .apply_toml("[limits]\nwrite_timeout = true\n", Path::new("x.toml"))
        .unwrap_err();
    assert!(err.to_string().contains("limits.write_timeout"));
    let err = config
        .apply_toml("[server]\nlisten_on = \"x\"\n", Path::new("x.toml"))
        .unwrap_err();
    assert!(err.to_string().contains("server.listen_on"));
}

#[test]
fn durations_parse() {
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
    assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
    assert_eq!(parse_duration("365d"), Ok(Duration::from_secs(365 * 86400)));
    assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
    assert!(parse_duration("7x").is_err());
    assert!(parse_duration("").is_err());
    assert!(parse_duration("-1s").is_err());
}

#[test]
fn bus_keys_are_read_and_checked() {
    let env = |pairs: &[(&str, &str)]| Sources {
        env: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Sources::default()
    };
    let config = Config::load(&env(&[
        ("KONSULT_BUS_URL", "redis://127.0.0.1:6379/2"),
        ("KONSULT_STORE_URL", "postgres://127.0.0.1/konsult"),
        (
            "KONSULT_AUTH_JWT_SECRET",
            "0123456789abcdef0123456789abcdef",
        ),
        ("KONSULT_BUS_NODE_ID", "node-a:8080"),
        ("KONSULT_BUS_HEARTBEAT", "500ms"),
        ("KONSULT_BUS_LEASE", "3s"),
        ("KONSULT_BUS_PREFIX", "district-7:"),
    ]))
    .expect("valid");
    assert_eq!(config.bus.url.as_deref(), Some("redis://127.0.0.1:6379/2"));
    assert_eq!(config.bus.node_id.as_deref(), Some("node-a:8080"));
    assert_eq!(config.bus.heartbeat, Duration::from_millis(500));
    assert_eq!(config.bus.lease, Duration::from_secs(3));
    assert_eq!(config.bus.prefix, "district-7:");
    assert_eq!(Config::default().bus.url, None);
    assert_eq!(Config::default().bus.prefix, "konsult:");

    for (pairs, key) in [
        (&[("KONSULT_BUS_URL", "http://x")][..], "bus.url"),
        (&[("KONSULT_BUS_URL", "redis://")][..], "bus.url"),
        (
            &[("KONSULT_BUS_URL", "redis://127.0.0.1:6379")][..],
            "store.url",
        ),
        (&[("KONSULT_BUS_NODE_ID", "a b")][..], "bus.node_id"),
        (&[("KONSULT_BUS_PREFIX", "")][..], "bus.prefix"),
        (&[("KONSULT_BUS_PREFIX", "a b")][..], "bus.prefix"),
        (&[("KONSULT_BUS_HEARTBEAT", "10ms")][..], "bus.heartbeat"),
        (&[("KONSULT_BUS_LEASE", "2s")][..], "bus.lease"),
        (&[("KONSULT_BUS_LEASE", "2m")][..], "bus.lease"),
        (&[("KONSULT_BUS_HEARTBEAT", "soon")][..], "bus.heartbeat"),
    ] {
        let err = Config::load(&env(pairs)).expect_err("invalid");
        assert!(err.to_string().contains(key), "{pairs:?}: {err}");
    }
    let long = "n".repeat(MAX_NODE_ID_BYTES + 1);
    let err = Config::load(&env(&[("KONSULT_BUS_NODE_ID", &long)])).expect_err("too long");
    assert!(err.to_string().contains("bus.node_id"), "{err}");
}
