//! Konsult's wire protocol, version 1: the JSON messages a client and the server exchange over
//! `/ws`, their error and close codes, default limits, and the frame decoder that turns a text
//! frame into a typed message or a precise error; also the HTTP API's JSON bodies (`http`) and
//! the account import's CSV format (`import`). Types and parsing only: no IO.
//!
//! The protocol only grows: a tag or field, once published, is never renamed or reused.
//! `docs/protocol.md` documents every message, and the golden fixtures in `tests/fixtures/`
//! pin the exact JSON.

pub mod client;
pub mod codes;
pub mod frame;
pub mod http;
pub mod ids;
pub mod import;
pub mod limits;
pub mod model;
pub mod server;
pub mod signal;

pub use client::{ClientMessage, ToBooking, ToChat, ToConnection, ToHub};
pub use codes::{CloseCode, ErrorCode};
pub use frame::{
    DecodeError, Envelope, Rid, decode_client_frame, decode_server_frame, encode_client_frame,
    encode_server_frame,
};
pub use ids::{
    AttachmentId, BookingId, ClientId, MessageId, RequestId, SchoolId, SessionId, ThreadId, UserId,
};
pub use server::ServerMessage;
pub use signal::{SdpType, SignalData, SignalPeer};

/// The protocol version this build speaks; `hello.v` must equal it.
pub const PROTOCOL_VERSION: u32 = 1;
