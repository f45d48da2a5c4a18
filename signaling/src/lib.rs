//! Konsult's hub, sans-IO: presence, help requests and their queues, offers to teachers,
//! sessions, roles and permissions, moderation, and the consultation record. No tokio, no
//! sockets, no clock reads: the caller passes the time in with every input, feeds inputs with
//! [`Hub::handle_input`] and timeouts with [`Hub::handle_timeout`], and drains what the hub
//! wants done with [`Hub::poll_output`] until it returns `None`. [`Hub::poll_timeout`] says
//! when the hub next needs the time.
//!
//! One `Hub` is one school: nothing in it is global, so a process can hold many.

mod config;
mod ctx;
mod hours;
mod hub;
mod ids;
mod io;
mod outputs;
mod people;
mod refusal;
mod requests;
mod sessions;
mod staff;
#[cfg(feature = "testing")]
pub mod testing;
mod timers;

pub use config::{HubConfig, IdSeeds};
pub use hub::Hub;
pub use io::{
    ConnId, ConsultationRecord, Input, MediaCommand, MediaPolicy, MemberPolicy, Now,
    OpeningMessage, OpeningText, Outcome, Output, Recipients, RecordKey, ThreadPurpose, ThreadSpec,
};

/// The pseudo-subject served by support staff (the school psychologist) when their account
/// lists no subjects: `request_help {subject: "support"}` reaches them.
pub const SUPPORT_SUBJECT: &str = "support";
