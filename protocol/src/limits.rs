//! Default limits. The server's configuration may change each; these are the safe defaults
//! that `config/konsult.toml` documents.

/// Largest WebSocket frame or message the server reads, in bytes.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Longest chat message text, in characters.
pub const MAX_TEXT_CHARS: usize = 8_000;
/// Longest help request topic or session title, in characters.
pub const MAX_TOPIC_CHARS: usize = 500;
/// Longest `client_id` or string `rid`, in bytes.
pub const MAX_ID_BYTES: usize = 128;
/// Most attachments on one chat message.
pub const MAX_ATTACHMENTS_PER_MESSAGE: usize = 10;
/// Most messages one `history` page returns.
pub const MAX_HISTORY_PAGE: u32 = 200;
/// Default `history` page size.
pub const DEFAULT_HISTORY_PAGE: u32 = 50;
/// Longest SDP or ICE candidate relayed by `signal`, in bytes.
pub const MAX_SIGNAL_BYTES: usize = 32 * 1024;
/// Most users invited by one `create_session`.
pub const MAX_INVITES: usize = 1_000;
