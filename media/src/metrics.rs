//! The names the SFU records its metrics under; the server's recorder describes and exports
//! them on `/metrics`.

/// Members with a peer connection on the SFU (gauge).
pub const MEMBERS: &str = "konsult_sfu_members";
/// Sessions on the SFU (gauge).
pub const SESSIONS: &str = "konsult_sfu_sessions";
/// Frames forwarded by the SFU to members, one per receiving member (counter).
pub const FORWARDED_FRAMES: &str = "konsult_sfu_forwarded_frames_total";
/// Payload bytes of those frames (counter).
pub const FORWARDED_BYTES: &str = "konsult_sfu_forwarded_bytes_total";
/// RTP packets the SFU sent to members, retransmissions included (counter).
pub const SENT_PACKETS: &str = "konsult_sfu_sent_packets_total";
/// Bytes of those packets (counter).
pub const SENT_BYTES: &str = "konsult_sfu_sent_bytes_total";
/// NACKs (retransmission requests) received from members (counter).
pub const NACKS: &str = "konsult_sfu_nacks_total";
/// Keyframe requests (PLI/FIR) the SFU sent to publishers (counter).
pub const KEYFRAME_REQUESTS: &str = "konsult_sfu_keyframe_requests_total";
/// Datagrams that matched no member (counter).
pub const UNROUTED: &str = "konsult_sfu_unrouted_datagrams_total";
/// Datagrams dropped because the socket's send buffer was full (counter).
pub const SEND_DROPS: &str = "konsult_sfu_send_drops_total";
/// Packets members sent the SFU over ICE-TCP (counter).
pub const TCP_PACKETS: &str = "konsult_sfu_tcp_received_packets_total";
/// Media commands refused because the SFU was behind (counter).
pub const REFUSED: &str = "konsult_sfu_refused_commands_total";
