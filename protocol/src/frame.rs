//! Turning text frames into typed messages and back. Decoding tells apart a frame that is not
//! JSON (`bad_request`), a `type` nobody knows (`unknown_type`) and a known message with bad
//! fields (`bad_request`), and recovers `rid` whenever it can so that the error names the
//! request it answers.

use crate::client::{ClientMessage, ToBooking, ToChat, ToConnection, ToHub};
use crate::codes::ErrorCode;
use crate::limits::MAX_ID_BYTES;
use crate::server::ServerMessage;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// A request id chosen by the client: a number or a short string, echoed as `re`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Rid {
    Num(i64),
    Str(String),
}

/// A decoded message with the request id it carried.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope<M> {
    pub rid: Option<Rid>,
    pub msg: M,
}

/// Why a frame could not be decoded; becomes an `error` reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    pub code: ErrorCode,
    pub message: String,
    /// The frame's `rid`, when it could be read.
    pub rid: Option<Rid>,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for DecodeError {}

/// Only `type` and `rid`, read first so that errors can name the request.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "type", borrow, default)]
    ty: Option<Cow<'a, str>>,
    #[serde(default)]
    rid: Option<serde_json::Value>,
}

/// Decodes one client text frame.
pub fn decode_client_frame(text: &str) -> Result<Envelope<ClientMessage>, DecodeError> {
    let head: Head<'_> = serde_json::from_str(text).map_err(|e| DecodeError {
        code: ErrorCode::BadRequest,
        message: format!("not a JSON object: {}", short_serde_error(&e)),
        rid: None,
    })?;
    let rid = match head.rid {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) if n.is_i64() => n.as_i64().map(Rid::Num),
        Some(serde_json::Value::String(s)) if s.len() <= MAX_ID_BYTES => Some(Rid::Str(s)),
        Some(_) => {
            return Err(DecodeError {
                code: ErrorCode::BadRequest,
                message: format!(
                    "rid must be an integer or a string of at most {MAX_ID_BYTES} bytes"
                ),
                rid: None,
            });
        }
    };
    let Some(ty) = head.ty else {
        return Err(DecodeError {
            code: ErrorCode::BadRequest,
            message: "missing string field `type`".into(),
            rid,
        });
    };
    // The tag names the group, so the message is parsed once, straight into its group.
    let decoded = if ToHub::TYPES.contains(&&*ty) {
        serde_json::from_str::<ToHub>(text).map(ClientMessage::Hub)
    } else if ToChat::TYPES.contains(&&*ty) {
        serde_json::from_str::<ToChat>(text).map(ClientMessage::Chat)
    } else if ToBooking::TYPES.contains(&&*ty) {
        serde_json::from_str::<ToBooking>(text).map(ClientMessage::Booking)
    } else if ToConnection::TYPES.contains(&&*ty) {
        serde_json::from_str::<ToConnection>(text).map(ClientMessage::Connection)
    } else {
        let shown: String = ty.chars().take(40).collect();
        return Err(DecodeError {
            code: ErrorCode::UnknownType,
            message: format!("unknown message type `{shown}`"),
            rid,
        });
    };
    match decoded {
        Ok(msg) => Ok(Envelope { rid, msg }),
        Err(e) => Err(DecodeError {
            code: ErrorCode::BadRequest,
            message: format!("invalid `{ty}`: {}", short_serde_error(&e)),
            rid,
        }),
    }
}

/// Decodes one server text frame (for clients and tests).
pub fn decode_server_frame(text: &str) -> Result<Envelope<ServerMessage>, serde_json::Error> {
    #[derive(Deserialize)]
    struct Re {
        #[serde(default)]
        re: Option<Rid>,
    }
    let re: Re = serde_json::from_str(text)?;
    let msg = serde_json::from_str(text)?;
    Ok(Envelope { rid: re.re, msg })
}

/// Encodes a server message, with `re` when it answers a request that carried `rid`.
pub fn encode_server_frame(msg: &ServerMessage, re: Option<&Rid>) -> String {
    #[derive(Serialize)]
    struct Out<'a> {
        #[serde(flatten)]
        msg: &'a ServerMessage,
        #[serde(skip_serializing_if = "Option::is_none")]
        re: Option<&'a Rid>,
    }
    // Serializing these types cannot fail: every map key is a string and no value is a
    // non-finite float.
    serde_json::to_string(&Out { msg, re }).unwrap_or_else(|e| {
        format!(r#"{{"type":"error","code":"internal","message":"encode: {e}"}}"#)
    })
}

/// Encodes a client message with an optional `rid` (for clients and tests).
pub fn encode_client_frame(msg: &ClientMessage, rid: Option<&Rid>) -> String {
    #[derive(Serialize)]
    struct Out<'a> {
        #[serde(flatten)]
        msg: &'a ClientMessage,
        #[serde(skip_serializing_if = "Option::is_none")]
        rid: Option<&'a Rid>,
    }
    serde_json::to_string(&Out { msg, rid }).unwrap_or_default()
}

/// serde_json's message without the input echoed back, capped in length.
fn short_serde_error(e: &serde_json::Error) -> String {
    let mut s = e.to_string();
    if s.len() > 200 {
        let mut cut = 200;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}
