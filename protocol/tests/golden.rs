//! Golden fixtures pin the wire format: each file in `fixtures/` is one message exactly as it
//! crosses the wire. Every message type has a file; each decodes into its typed message and
//! encodes back to the same JSON.

use konsult_protocol::frame::{decode_server_frame, encode_client_frame};
use konsult_protocol::{ClientMessage, ServerMessage, decode_client_frame, encode_server_frame};
use serde_json::Value;
use std::path::PathBuf;

fn fixtures(dir: &str) -> Vec<(String, String)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let mut out: Vec<(String, String)> = std::fs::read_dir(&root)
        .expect("fixtures folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p.file_stem().expect("stem").to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).expect("read fixture"))
        })
        .collect();
    out.sort();
    out
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is JSON")
}

#[test]
fn every_client_message_round_trips_through_its_fixture() {
    let files = fixtures("client");
    let mut names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    let mut types: Vec<&str> = ClientMessage::TYPES.to_vec();
    types.sort();
    assert_eq!(names, types, "one fixture per client message type");
    for (name, text) in &files {
        let envelope = decode_client_frame(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(envelope.msg.type_name(), name);
        let again = encode_client_frame(&envelope.msg, envelope.rid.as_ref());
        assert_eq!(json(&again), json(text), "{name} re-encodes identically");
    }
}

#[test]
fn every_server_message_round_trips_through_its_fixture() {
    for (name, text) in fixtures("server") {
        let envelope = decode_server_frame(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(envelope.msg.type_name(), name);
        let again = encode_server_frame(&envelope.msg, envelope.rid.as_ref());
        assert_eq!(json(&again), json(&text), "{name} re-encodes identically");
    }
}

#[test]
fn every_server_message_type_has_a_fixture() {
    let mut names: Vec<String> = fixtures("server").into_iter().map(|(n, _)| n).collect();
    names.sort();
    let mut types: Vec<String> = ServerMessage::TYPES.iter().map(|t| t.to_string()).collect();
    types.sort();
    assert_eq!(names, types, "one fixture per server message type");
}

#[test]
fn docs_describe_every_message_and_code() {
    let docs = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/protocol.md"),
    )
    .expect("docs/protocol.md");
    for ty in ClientMessage::TYPES.iter().chain(ServerMessage::TYPES) {
        assert!(
            docs.contains(&format!("### `{ty}`")),
            "docs/protocol.md lacks ### `{ty}`"
        );
    }
    for code in konsult_protocol::ErrorCode::ALL {
        assert!(
            docs.contains(&format!("`{}`", code.as_str())),
            "docs lack error {code}"
        );
    }
    for code in konsult_protocol::CloseCode::ALL {
        assert!(
            docs.contains(&format!("| {} |", code.code())),
            "docs lack close {}",
            code.code()
        );
    }
}

/// `fixtures/variants/<type>.<case>.json`: further shapes of a message whose fields are optional
/// (an anonymous request, an anonymous student), pinned as the main fixtures are.
#[test]
fn every_variant_round_trips_through_its_fixture() {
    let files = fixtures("variants");
    assert!(!files.is_empty(), "variants are read");
    for (name, text) in files {
        let ty = name.split('.').next().expect("a type before the dot");
        let again = if ClientMessage::TYPES.contains(&ty) {
            let envelope = decode_client_frame(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(envelope.msg.type_name(), ty);
            encode_client_frame(&envelope.msg, envelope.rid.as_ref())
        } else {
            let envelope = decode_server_frame(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(envelope.msg.type_name(), ty);
            encode_server_frame(&envelope.msg, envelope.rid.as_ref())
        };
        assert_eq!(json(&again), json(&text), "{name} re-encodes identically");
    }
}
