//! Konsult's hub, sans-IO: presence, help requests and their queues, offers to teachers,
//! sessions, roles and permissions, moderation, and the consultation record. No tokio, no
//! sockets, no clock reads: the caller passes the time in with every input, feeds inputs with
//! [`Hub::handle_input`] and timeouts with [`Hub::handle_timeout`], and drains what the hub
//! wants done with [`Hub::poll_output`] until it returns `None`. [`Hub::poll_timeout`] says
//! when the hub next needs the time.
//!
//! One `Hub` is one school: nothing in it is global, so a process can hold many.
//!
//! Code map. `hub.rs` holds the `Hub` and the only `impl Hub`: it routes each input to the
//! part that owns what it is about, and does the steps that cross parts. The parts each own
//! their state, privately, and are reached through their methods:
//! - `people.rs`: everyone the hub knows, connections, presence, staff and their subjects;
//! - `requests/`: open help requests, the queues, offers, positions and estimates, deferral;
//! - `sessions/`: live sessions, from their start through membership, moderation and media to
//!   their end and snapshots;
//! - `hours.rs`: consultation hours, pure functions of slots and time;
//! - `bookings.rs`: booked slots ahead and under way, and when each begins and ends.
//!
//! `snapshot.rs` is the format the hub's state is kept in durably ([`Hub::snapshot`],
//! [`Hub::restore`]): each part turns its own state into its section and back.
//!
//! Beneath them: `ctx.rs` (the time, limits, timers and outbox lent to a part for one call),
//! `outputs.rs`, `refusal.rs` (who asks, and the `error` they may get), `io.rs` (inputs and
//! outputs), `timers.rs`, `staff.rs`, `ids.rs`, `config.rs`.
//!
//! Architecture invariant: no part imports `hub.rs`, and `people.rs` imports no other part;
//! `requests/` and `sessions/` take `People` as an argument and do not import each other,
//! except that a session starts from a `TakenRequest`, the value `requests/` hands over.
//! Words for people (the automatic reply's text, dates said aloud) are the server's, not the
//! hub's: the hub says what happened ([`OpeningText`]).

mod bookings;
mod config;
mod ctx;
mod hours;
mod hub;
mod ids;
mod io;
mod outputs;
mod people;
mod poll_state;
mod refusal;
mod requests;
mod sessions;
mod snapshot;
mod staff;
#[cfg(feature = "testing")]
pub mod testing;
mod timers;

pub use config::{HubConfig, IdSeeds};
pub use hub::Hub;
pub use io::{
    Audience, BookedSlot, BookedStudent, ConnId, ConsultationRecord, Input, MediaCommand,
    MediaPolicy, MemberPolicy, Now, OpeningMessage, OpeningText, Outcome, Output, Recipients,
    RecordKey, ThreadPurpose, ThreadSpec,
};
pub use people::SUPPORT_SUBJECT;
pub use snapshot::{HubSnapshot, SNAPSHOT_FORMAT};
