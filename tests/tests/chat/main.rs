//! Durable chat, black-box: sends acknowledged only when stored, idempotent retries, history
//! catch-up without gaps, threads and receipts, typing, who may create and read which thread,
//! attachments, purge (in batches, with progress), metrics, and a SIGKILL in the middle of
//! concurrent sends.

mod attachments;
mod commits;
mod messages;
mod purge_batches;
mod threads;

use konsult_testkit::process::{TempDir, konsult_binary, run_cli};
use konsult_testkit::{Server, ServerOptions, WsClient, http_request};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A 1×1 PNG.
const PNG: &str = "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489000000\
                   0d4944415478da636460f85f0f0002870180eb47ba920000000049454e44ae426082";

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n\
    2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n\
    3 0 obj<</Type/Page/MediaBox[0 0 3 3]/Parent 2 0 R>>endobj\n\
    trailer<</Root 1 0 R>>\n%%EOF\n";

fn png() -> Vec<u8> {
    (0..PNG.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&PNG[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A server whose message rate does not get in the way of bulk sends.
fn fast_server() -> ServerOptions {
    ServerOptions::demo()
        .env("KONSULT_LIMITS_MESSAGES_PER_SECOND", "100000")
        .env("KONSULT_LIMITS_MESSAGE_BURST", "100000")
        .env("KONSULT_LIMITS_OUTBOX_MESSAGES", "100000")
}

fn id_of(welcome: &Value) -> i64 {
    welcome["user"]["id"].as_i64().expect("user id")
}

/// `teacher` creates a group thread with `members`; returns its id.
async fn group_thread(teacher: &mut WsClient, title: &str, members: &[i64]) -> i64 {
    let added = teacher
        .request(
            json!({"type": "create_thread", "kind": "group", "title": title,
                        "members": members}),
        )
        .await;
    assert_eq!(added["type"], "thread_added", "{added}");
    added["thread"]["id"].as_i64().expect("thread id")
}

async fn send(client: &mut WsClient, thread: i64, client_id: &str, text: &str) -> Value {
    client
        .request(json!({"type": "send", "thread": thread, "client_id": client_id, "text": text}))
        .await
}

fn seqs(messages: &[Value]) -> Vec<i64> {
    messages
        .iter()
        .map(|m| m["seq"].as_i64().expect("seq"))
        .collect()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn upload(server: &Server, token: &str, name: &str, bytes: &[u8]) -> konsult_testkit::HttpResponse {
    http_request(
        server.addr,
        "POST",
        &format!("/api/attachments?name={name}"),
        &[
            ("authorization", &bearer(token)),
            // The claimed type is ignored: the server sniffs the bytes.
            ("content-type", "image/png"),
        ],
        bytes,
    )
}

fn download(server: &Server, token: &str, id: &str) -> konsult_testkit::HttpResponse {
    http_request(
        server.addr,
        "GET",
        &format!("/api/attachments/{id}"),
        &[("authorization", &bearer(token))],
        b"",
    )
}
