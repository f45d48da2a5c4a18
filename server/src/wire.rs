//! Encoding server messages into shared frames, counted by type. A frame is encoded once and
//! its bytes shared by every recipient.

use axum::extract::ws::Utf8Bytes;
use konsult_protocol::{Rid, ServerMessage, encode_server_frame};

/// Encodes a message for `count` recipients.
pub fn encode_for(msg: &ServerMessage, re: Option<&Rid>, count: u64) -> Utf8Bytes {
    metrics::counter!(crate::metrics::MESSAGES_OUT, "type" => msg.type_name()).increment(count);
    if let ServerMessage::Error { code, .. } = msg {
        metrics::counter!(crate::metrics::ERRORS, "code" => code.as_str()).increment(count);
    }
    Utf8Bytes::from(encode_server_frame(msg, re))
}

/// Encodes a message for one recipient.
pub fn encode(msg: &ServerMessage, re: Option<&Rid>) -> Utf8Bytes {
    encode_for(msg, re, 1)
}
