//! The frame decoder never panics: arbitrary text, and the golden fixtures with bytes changed,
//! each decode into a message or a precise error; what decodes encodes back to the same
//! message.

use konsult_protocol::frame::encode_client_frame;
use konsult_protocol::{ErrorCode, decode_client_frame};
use proptest::prelude::*;

fn fixtures() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/client");
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .expect("fixtures")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("read"))
        .collect();
    out.sort();
    out
}

fn check(text: &str) {
    match decode_client_frame(text) {
        Ok(envelope) => {
            let again = encode_client_frame(&envelope.msg, envelope.rid.as_ref());
            let back = decode_client_frame(&again).expect("re-encoded frame decodes");
            assert_eq!(back.msg, envelope.msg);
            assert_eq!(back.rid, envelope.rid);
        }
        Err(e) => {
            assert!(
                matches!(e.code, ErrorCode::BadRequest | ErrorCode::UnknownType),
                "unexpected code {e:?}"
            );
            assert!(!e.message.is_empty());
            assert!(e.message.len() < 400, "messages stay short: {}", e.message);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,300}") {
        check(&text);
    }

    #[test]
    fn json_shaped_text_never_panics(text in r#"\{("[a-z_]{1,12}": ?("[a-z0-9 ]{0,8}"|-?[0-9]{1,20}|true|null|\[\]|\{\}),? ?){0,6}\}"#) {
        check(&text);
    }

    #[test]
    fn mutated_fixtures_never_panic(index in 0usize..30, at in 0usize..400, byte in 0u8..128, cut in prop::bool::ANY) {
        let all = fixtures();
        let mut text = all[index % all.len()].clone().into_bytes();
        let at = at % text.len().max(1);
        if cut {
            text.truncate(at);
        } else if !text.is_empty() {
            text[at] = byte;
        }
        if let Ok(text) = String::from_utf8(text) {
            check(&text);
        }
    }
}

#[test]
fn type_confusion_is_a_bad_request_not_a_panic() {
    for text in [
        r#"{"type": 5}"#,
        r#"{"type": "send", "thread": 1e400}"#,
        r#"{"type": "send", "thread": 9223372036854775808, "client_id": "a", "text": "b"}"#,
        r#"{"type": "signal", "session": 1, "to": "sfux", "data": {}}"#,
        r#"{"type": "signal", "session": 1, "to": -1, "data": {"candidate": ""}}"#,
        r#"{"type": "hello", "v": -1, "token": "x"}"#,
        r#"{"type": "history", "thread": 1, "limit": -5}"#,
        r#"{"type":"ping","rid":{"a":1}}"#,
        "\u{0}",
        "{\"type\":\"ping\"}\u{0}",
    ] {
        check(text);
    }
}
