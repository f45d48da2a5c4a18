//! Who asked a booking message and what they are told: the asker's connection and school time
//! zone, a refusal with its error code, and what every booking message checks alike (a staff
//! member of the school, a date, a bookable slot, the horizon) and shows (a booking).

use super::slots::{self, SlotTime};
use crate::app::App;
use crate::directory::{ConnId, Outbox};
use crate::store::bookings::{Booking, BookingRules};
use crate::store::users::User;
use crate::store::{StoreError, Transient, now_ms};
use crate::wire;
use jiff::ToSpan;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use konsult_protocol::model::{BookingInfo, BookingStatus};
use konsult_protocol::{ErrorCode, Rid, ServerMessage, UserId};
use std::sync::Arc;

/// A refused booking message: the `error` its sender gets.
#[derive(Debug)]
pub(super) struct Refusal {
    pub(super) code: ErrorCode,
    pub(super) message: String,
}

impl Refusal {
    pub(super) fn new(code: ErrorCode, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Refusal {
        if e.is_transient() {
            Refusal::new(
                ErrorCode::Unavailable,
                "the database is busy; retry shortly",
            )
        } else {
            tracing::error!(error = %e, "booking storage failed");
            Refusal::new(ErrorCode::Internal, "storage failed")
        }
    }
}

/// Who asked, on which connection, with which `rid`.
pub(super) struct Asker {
    pub(super) app: Arc<App>,
    pub(super) user: Arc<User>,
    pub(super) conn: ConnId,
    pub(super) outbox: Outbox,
    pub(super) rid: Option<Rid>,
    pub(super) tz: TimeZone,
}

impl Asker {
    pub(super) fn reply(&self, msg: &ServerMessage) {
        // A failed push means the connection is closing; its client asks again.
        let _closing = self.outbox.push(wire::encode(msg, self.rid.as_ref()));
    }

    /// Pushes `msg` to the user's other connections.
    pub(super) fn tell_own_devices(&self, msg: &ServerMessage) {
        let frame = wire::encode(msg, None);
        for conn in self.app.directory.user_conns(self.user.id) {
            if conn != self.conn {
                self.app.directory.send_to_conn(conn, &frame);
            }
        }
    }

    /// Pushes `msg` to every connection of `user`.
    pub(super) fn tell(&self, user: UserId, msg: &ServerMessage) {
        self.app
            .directory
            .send_to_user(user, &wire::encode(msg, None));
    }
}

/// The first instant after the horizon: slots from then on are not listed nor booked.
pub(super) fn horizon_end(asker: &Asker, now: i64) -> i64 {
    let today = slots::local_date(now, &asker.tz);
    let days = i64::from(asker.app.config.booking.horizon_days);
    let last = today.checked_add(days.days()).unwrap_or(today);
    slots::day_start_ms(last, &asker.tz)
}

/// An active staff member of the asker's school.
pub(super) async fn staff_member(asker: &Asker, id: UserId) -> Result<User, Refusal> {
    asker
        .app
        .store
        .user_by_id(id)
        .await?
        .filter(|u| u.school == asker.user.school && u.active && u.role.is_staff())
        .ok_or_else(|| Refusal::new(ErrorCode::NotFound, format!("no staff member {id}")))
}

pub(super) fn parse_date(text: &str) -> Result<Date, Refusal> {
    text.parse::<Date>().map_err(|_| {
        Refusal::new(
            ErrorCode::BadRequest,
            format!("{text:?} is not a date (YYYY-MM-DD)"),
        )
    })
}

/// The slot of `teacher` that begins at `start`, if it may be booked now: one of their hours'
/// slots, not begun, within the horizon.
pub(super) async fn bookable(
    asker: &Asker,
    teacher: UserId,
    start: &str,
) -> Result<(SlotTime, BookingRules), Refusal> {
    let not_a_slot = || {
        Refusal::new(
            ErrorCode::BadRequest,
            format!("no slot of staff member {teacher} to book begins at {start:?}"),
        )
    };
    let at = slots::parse_start(start).ok_or_else(not_a_slot)?;
    let now = now_ms();
    if at <= now || at >= horizon_end(asker, now) {
        return Err(not_a_slot());
    }
    let store = &asker.app.store;
    let hours = store.hours_of(teacher).await?;
    let rules = store.booking_rules(teacher).await?;
    let date = slots::local_date(at, &asker.tz);
    let slot = slots::cut(&hours, rules.slot_minutes, &asker.tz, date, 1)
        .into_iter()
        .find(|s| s.starts_ms == at)
        .ok_or_else(not_a_slot)?;
    Ok((slot, rules))
}

/// A booking as the protocol shows it.
pub(super) fn info(asker: &Asker, b: &Booking, teacher: &User, student: &User) -> BookingInfo {
    BookingInfo {
        id: b.id,
        teacher: teacher.info(),
        student: student.info(),
        subject: b.subject.clone(),
        form: b.form,
        topic: b.topic.clone(),
        start: slots::iso(b.starts_ms, &asker.tz),
        end: slots::iso(b.ends_ms, &asker.tz),
        status: if b.cancelled.is_some() {
            BookingStatus::Cancelled
        } else {
            BookingStatus::Booked
        },
        cancelled_by: b.cancelled.as_ref().map(|c| c.by),
        reason: b.cancelled.as_ref().and_then(|c| c.reason.clone()),
    }
}
