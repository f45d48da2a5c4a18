//! The hub's state as a value that outlives its process: [`HubSnapshot`], the format the owner
//! of a school writes as the hub changes, and that another node restores the hub from when the
//! owner dies. The parts each turn their own state into their section and back; this module
//! holds the format, its version, and how instants cross processes.
//!
//! Why a compact snapshot and not a journal of inputs. A journal costs little per change (one
//! input appended: a few hundred bytes) but its replay is only right if the hub replays exactly
//! as it first ran: the same `Now` with every input, the same timeouts at the same instants,
//! the same answers to `CreateThread`, and the same code. `Instant` does not cross processes,
//! so every deadline in a journal would be replayed against a clock rebuilt from wall-clock
//! milliseconds, and any change to the hub's logic between the two nodes' versions (a rolling
//! upgrade) changes what the replay computes: the new owner could rebuild a queue in another
//! order than the one students were told. A journal also grows until something compacts it,
//! which is a snapshot anyway. A snapshot copies the state itself: what the students and
//! teachers were told is what is restored, whatever code restores it, and every deadline is
//! kept as time left and rebased on the restoring node's `Now`. It is the safer invariant; the
//! cost is that each write is the whole school, not one change.
//!
//! What it costs. A school of 1,000 users with 20 live sessions of 25 and 60 requests queued is
//! 328 KB of JSON. In a debug build (unoptimised; the test `snapshot_size_and_time` prints
//! these) taking it costs 3 ms, turning it into JSON 23 ms, and reading it back and restoring
//! the hub 16 ms; an optimised build does the same several times faster. The owner writes a
//! snapshot when [`Hub::changes`] moved, at most every few hundred ms, so a busy school costs
//! one such write per interval, not one per change; a journal would cost less per change but
//! its replay would have to run every input since the last compaction. Rebuilding a school is
//! one read and one restore.
//!
//! What is kept: everyone the hub knows with their status as set, consultation hours, open
//! requests with their queue order, offers in flight, booked slots ahead and under way, sessions (form, host, members with their
//! role, hands, floor, mutes and media state, co-hosts, polls and their votes, invitations,
//! removals, records of requests taken in), resume tokens (as the server gave them: digests), every pending deadline (as time left), the estimates' recent handling
//! times, and the id counters. Connections are never kept: after a move every client
//! reconnects, so the restored hub holds everyone who was online as disconnected at the time of
//! the restore, within their grace period.
//!
//! [`Hub::changes`]: crate::Hub::changes

use crate::bookings::BookingsState;
use crate::io::{ConsultationRecord, RecordKey};
use crate::poll_state::PollsState;
use crate::timers::Timer;
use konsult_protocol::model::{
    DeferReason, Form, HoursSlot, MediaPath, MediaState, Mode, SessionRole, SetStatus, TrackKind,
    UserInfo,
};
use konsult_protocol::{RequestId, SessionId, ThreadId, UserId};
use serde::{Deserialize, Deserializer, Serialize};
use std::time::{Duration, Instant};

/// The format this build writes and the only one it reads.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// Ids a restored hub skips past the counters its snapshot holds: the ids the dead owner may
/// have handed out after it wrote its last snapshot (fewer than this many, as the owner writes
/// one at most a few hundred ms after a change), so that none is ever handed out twice.
pub(crate) const ID_SKIP: i64 = 1_000;

/// How far a restored session's `session_state` version jumps, for the same reason: clients
/// drop a state whose version is not above the last they saw.
pub(crate) const VERSION_SKIP: u64 = 1_000;

/// One school's hub, as it stood at [`HubSnapshot::taken_at_ms`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HubSnapshot {
    /// Written first, so that a reader refuses an unknown format before reading the rest.
    format: Format,
    /// Wall-clock time it was taken (ms since the Unix epoch, UTC).
    pub(crate) taken_at_ms: i64,
    pub(crate) people: Vec<PersonState>,
    pub(crate) requests: RequestsState,
    pub(crate) sessions: SessionsState,
    /// Booked slots ahead and under way; absent from snapshots taken before bookings existed.
    #[serde(default)]
    pub(crate) bookings: BookingsState,
    /// Every pending deadline, as time left.
    pub(crate) timers: Vec<TimerState>,
}

impl HubSnapshot {
    pub(crate) fn new(
        taken_at_ms: i64,
        people: Vec<PersonState>,
        requests: RequestsState,
        sessions: SessionsState,
        bookings: BookingsState,
        timers: Vec<TimerState>,
    ) -> HubSnapshot {
        HubSnapshot {
            format: Format,
            taken_at_ms,
            people,
            requests,
            sessions,
            bookings,
            timers,
        }
    }

    /// The format version, [`SNAPSHOT_FORMAT`].
    pub fn format(&self) -> u32 {
        SNAPSHOT_FORMAT
    }

    /// When it was taken (ms since the Unix epoch, UTC): how stale a restore is.
    pub fn taken_at_ms(&self) -> i64 {
        self.taken_at_ms
    }
}

/// The format version: serialises as [`SNAPSHOT_FORMAT`], and refuses any other when read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Format;

impl Serialize for Format {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(SNAPSHOT_FORMAT)
    }
}

impl<'de> Deserialize<'de> for Format {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Format, D::Error> {
        let format = u32::deserialize(d)?;
        if format == SNAPSHOT_FORMAT {
            Ok(Format)
        } else {
            Err(serde::de::Error::custom(format!(
                "hub snapshot format {format} is unknown to this build, which reads format \
                 {SNAPSHOT_FORMAT} only: restore it with the version that wrote it"
            )))
        }
    }
}

/// Milliseconds from the time a snapshot was taken: negative for what happened before (a
/// request made, a session started), positive for deadlines still ahead (time left).
pub(crate) type OffsetMs = i64;

/// Turns instants into offsets from one `Instant` and back: a snapshot's offsets are taken
/// from its `now` and rebased on the `now` of the restore.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rebase(pub Instant);

impl Rebase {
    pub fn offset(self, at: Instant) -> OffsetMs {
        if at >= self.0 {
            at.duration_since(self.0).as_millis() as i64
        } else {
            -(self.0.duration_since(at).as_millis() as i64)
        }
    }

    /// The instant `offset` from the base. One further back than this process's clock reaches
    /// (a machine booted after the request was made) is the base itself: it orders the same
    /// among the others only within that clamp, which is minutes after a boot at most.
    pub fn instant(self, offset: OffsetMs) -> Instant {
        let by = Duration::from_millis(offset.unsigned_abs());
        if offset >= 0 {
            self.0 + by
        } else {
            self.0.checked_sub(by).unwrap_or(self.0)
        }
    }
}

/// A user as the hub tracks them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct PersonState {
    pub info: UserInfo,
    pub active: bool,
    /// Had an open connection when the snapshot was taken.
    pub online: bool,
    pub set_status: SetStatus,
    pub idle_since: OffsetMs,
    /// When the last connection dropped, for one within the grace period.
    pub gone_since: Option<OffsetMs>,
    pub offer: Option<RequestId>,
    pub request: Option<RequestId>,
    pub sessions: Vec<(SessionId, Form)>,
    pub hours: Vec<HoursSlot>,
    /// Resume tokens of the user's latest connections, oldest first, as the server gave them
    /// ([`crate::Input::ResumeIssued`]: the Konsult server gives digests, not the tokens).
    pub resume: Vec<String>,
}

/// Open requests and their queues.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct RequestsState {
    /// In id order.
    pub requests: Vec<RequestState>,
    /// Each subject's queue, head first.
    pub queues: Vec<(String, Vec<RequestId>)>,
    /// Subjects with a queue snapshot push pending (its timer is among the deadlines).
    pub queue_push_pending: Vec<String>,
    /// Subjects whose places behind the head are due at a timer.
    pub positions_pending: Vec<String>,
    /// Subjects whose timer fired while their queue was empty: every place is told when it
    /// next moves.
    pub positions_due: Vec<String>,
    /// Recent handling times per subject (ms), for estimates.
    pub recent_handling: Vec<(String, Vec<u64>)>,
    pub next_request: i64,
}

/// An open help request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct RequestState {
    pub id: RequestId,
    pub student: UserId,
    pub subject: String,
    pub topic: String,
    pub form: Form,
    pub mode: Mode,
    pub teacher: Option<UserId>,
    pub requested: OffsetMs,
    pub requested_ms: i64,
    /// The staff member it is offered to, and the time left to answer.
    pub offered_to: Option<(UserId, OffsetMs)>,
    pub declined: Vec<UserId>,
    pub told: Option<(u32, Option<u32>)>,
    pub deferring: Option<DeferReason>,
    pub next_available: Option<String>,
}

/// Live sessions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SessionsState {
    /// In id order.
    pub sessions: Vec<SessionState>,
    pub next_session: i64,
}

/// A live session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SessionState {
    pub id: SessionId,
    pub form: Form,
    pub mode: Mode,
    pub subject: String,
    pub title: String,
    pub host: UserId,
    pub class: Option<String>,
    pub media: MediaPath,
    pub thread: Option<ThreadId>,
    pub started: OffsetMs,
    pub started_ms: i64,
    pub members: Vec<(UserId, MemberState)>,
    pub invited: Vec<UserId>,
    pub removed: Vec<UserId>,
    pub participants: Vec<UserId>,
    pub floor: Option<UserId>,
    pub hands: Vec<UserId>,
    pub version: u64,
    pub record: RecordKey,
    pub requests: Vec<RequestId>,
    pub pulled: Vec<ConsultationRecord>,
    /// A snapshot is owed to the members.
    pub dirty: bool,
    /// A throttled snapshot's timer is among the deadlines.
    pub snapshot_scheduled: bool,
    /// Co-hosts; absent from snapshots taken before co-hosts existed.
    #[serde(default)]
    pub cohosts: Vec<UserId>,
    /// Polls; absent from snapshots taken before polls existed.
    #[serde(default)]
    pub polls: PollsState,
    /// The host of a frontal session showed the students' cameras to the class; absent in
    /// older snapshots, which keeps them private.
    #[serde(default)]
    pub class_sees_cameras: bool,
}

/// A member of a session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct MemberState {
    pub role: SessionRole,
    pub present: bool,
    /// `connecting` for media that a connection carried: that connection is gone.
    pub media: MediaState,
    pub muted: Vec<TrackKind>,
    #[serde(default)]
    pub off: Vec<TrackKind>,
}

/// A pending deadline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct TimerState {
    /// Time left (negative: already due when the snapshot was taken).
    pub at: OffsetMs,
    pub timer: Timer,
}
