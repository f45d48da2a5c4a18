//! Bookings of slots in staff members' consultation hours, the rules each sets for them (slot length, group limit,
//! blocked slots), and the generation of each user's private calendar feed.
//!
//! The server cuts the hours into slots; the store keeps what was booked and decides, in one
//! write transaction per booking, whether a booking still fits: concurrent bookers of one slot
//! never overfill it, on either backend.

use crate::{Store, StoreError};
use konsult_protocol::model::Form;
use konsult_protocol::{BookingId, SchoolId, UserId};

/// How a staff member's hours are cut into slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookingRules {
    /// The length of one slot.
    pub slot_minutes: u32,
    /// How many students one group slot takes.
    pub group_limit: u32,
}

impl Default for BookingRules {
    /// What a staff member who never set any rules gets: 15-minute slots, 5 students a group.
    fn default() -> BookingRules {
        BookingRules {
            slot_minutes: 15,
            group_limit: 5,
        }
    }
}

impl BookingRules {
    /// Refuses rules that cut no slots or let nobody in: a slot of 0 minutes, a group of 0.
    pub(crate) fn check(self) -> Result<BookingRules, StoreError> {
        if self.slot_minutes == 0 || self.group_limit == 0 {
            return Err(StoreError::Invalid(format!(
                "booking rules {self:?}: slot length and group limit must be at least 1"
            )));
        }
        Ok(self)
    }
}

/// A booking to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewBooking<'a> {
    pub teacher: UserId,
    pub student: UserId,
    /// The slot's start: with `teacher`, what names the slot.
    pub starts_ms: i64,
    pub ends_ms: i64,
    pub subject: &'a str,
    /// [`Form::Individual`] or [`Form::Group`]; a frontal consultation is not booked.
    pub form: Form,
    pub topic: &'a str,
}

impl NewBooking<'_> {
    /// Refuses what no slot can hold: a frontal booking, or one that ends before it starts.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        if self.form == Form::Frontal {
            return Err(StoreError::Invalid(
                "a frontal consultation is not booked".into(),
            ));
        }
        if self.ends_ms <= self.starts_ms {
            return Err(StoreError::Invalid(format!(
                "booking from {} to {}: it must end after it starts",
                self.starts_ms, self.ends_ms
            )));
        }
        Ok(())
    }
}

/// A booking as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Booking {
    pub id: BookingId,
    pub school: SchoolId,
    pub teacher: UserId,
    pub student: UserId,
    pub starts_ms: i64,
    pub ends_ms: i64,
    pub subject: String,
    pub form: Form,
    pub topic: String,
    pub created_ms: i64,
    /// Set once, when the booking is cancelled (or moved, which cancels it).
    pub cancelled: Option<Cancellation>,
}

/// Who cancelled a booking, when, and why when they said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cancellation {
    pub at_ms: i64,
    pub by: UserId,
    pub reason: Option<String>,
}

/// What a booking must respect, given by the server.
#[derive(Clone, Copy, Debug)]
pub struct BookingLimits {
    /// How many students a group slot takes (the teacher's [`BookingRules::group_limit`]).
    pub group_limit: u32,
    /// How many open bookings one student may hold.
    pub max_open: u32,
    /// Now: bookings starting after it are open, and a new booking is made at it.
    pub now_ms: i64,
}

/// What became of a booking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BookOutcome {
    Booked(Booking),
    /// An individual booking holds the slot, or the slot holds any booking and this one is individual, or the group is full.
    SlotTaken,
    /// The teacher blocked this slot.
    SlotBlocked,
    /// The student already holds a booking of this slot.
    AlreadyBooked,
    /// The student holds `max_open` open bookings (not cancelled, starting after `now_ms`).
    TooMany,
}

/// What a slot already holds, as far as one more booking is concerned.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ActiveBooking {
    pub student: i64,
    pub form: Form,
    pub seat: i64,
}

/// Why a slot has no seat for a booking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NoSeat {
    SlotTaken,
    AlreadyBooked,
}

impl From<NoSeat> for BookOutcome {
    fn from(no: NoSeat) -> BookOutcome {
        match no {
            NoSeat::SlotTaken => BookOutcome::SlotTaken,
            NoSeat::AlreadyBooked => BookOutcome::AlreadyBooked,
        }
    }
}

/// Whether `new` fits the slot whose active bookings are `active` (the checks after the
/// blocked slot and the student's open count): the seat it takes, or why it does not fit.
pub(crate) fn seat_for(
    new: &NewBooking<'_>,
    active: &[ActiveBooking],
    group_limit: u32,
) -> Result<i64, NoSeat> {
    if active.iter().any(|b| b.student == new.student.0) {
        return Err(NoSeat::AlreadyBooked);
    }
    let individual_held = active.iter().any(|b| b.form == Form::Individual);
    let full = match new.form {
        Form::Individual => !active.is_empty(),
        _ => active.len() as u64 >= u64::from(group_limit),
    };
    if individual_held || full {
        return Err(NoSeat::SlotTaken);
    }
    // The lowest seat nobody holds: seats freed by cancellations are taken again first.
    let mut seats: Vec<i64> = active.iter().map(|b| b.seat).collect();
    seats.sort_unstable();
    let mut seat = 0;
    for taken in seats {
        if taken == seat {
            seat += 1;
        } else if taken > seat {
            break;
        }
    }
    Ok(seat)
}

/// The unique index that lets a student hold one active booking of a slot (the other,
/// `bookings_seat`, lets one hold a seat): which of them refused a row tells
/// [`BookOutcome::AlreadyBooked`] from [`BookOutcome::SlotTaken`].
pub(crate) const STUDENT_INDEX: &str = "bookings_student_once";

/// The columns of a booking, in the order [`BookingRow`] reads them.
macro_rules! booking_columns {
    () => {
        "id, school_id, teacher_id, student_id, starts_ms, ends_ms, subject, form, topic, \
         created_ms, cancelled_at, cancelled_by, cancel_reason"
    };
}
pub(crate) use booking_columns;

/// A row of `bookings` as both backends read it.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct BookingRow {
    id: i64,
    school_id: i64,
    teacher_id: i64,
    student_id: i64,
    starts_ms: i64,
    ends_ms: i64,
    subject: String,
    form: String,
    topic: String,
    created_ms: i64,
    cancelled_at: Option<i64>,
    cancelled_by: Option<i64>,
    cancel_reason: Option<String>,
}

impl TryFrom<BookingRow> for Booking {
    type Error = StoreError;

    fn try_from(row: BookingRow) -> Result<Booking, StoreError> {
        let cancelled = match (row.cancelled_at, row.cancelled_by) {
            (Some(at_ms), Some(by)) => Some(Cancellation {
                at_ms,
                by: UserId(by),
                reason: row.cancel_reason,
            }),
            (None, None) => None,
            _ => {
                return Err(StoreError::Invalid(format!(
                    "booking {}: cancelled_at and cancelled_by disagree",
                    row.id
                )));
            }
        };
        Ok(Booking {
            id: BookingId(row.id),
            school: SchoolId(row.school_id),
            teacher: UserId(row.teacher_id),
            student: UserId(row.student_id),
            starts_ms: row.starts_ms,
            ends_ms: row.ends_ms,
            subject: row.subject,
            form: parse_form(&row.form)?,
            topic: row.topic,
            created_ms: row.created_ms,
            cancelled,
        })
    }
}

/// The form a booking's `form` column names: the inverse of [`Form::as_str`], which wrote it.
fn parse_form(s: &str) -> Result<Form, StoreError> {
    [Form::Individual, Form::Group, Form::Frontal]
        .into_iter()
        .find(|form| form.as_str() == s)
        .ok_or_else(|| StoreError::Invalid(format!("unknown form {s:?} in bookings")))
}

/// A slot's active `(student_id, form, seat)` rows, as the seat check reads them.
pub(crate) fn active_from(rows: Vec<(i64, String, i64)>) -> Result<Vec<ActiveBooking>, StoreError> {
    rows.into_iter()
        .map(|(student, form, seat)| {
            Ok(ActiveBooking {
                student,
                form: parse_form(&form)?,
                seat,
            })
        })
        .collect()
}

/// Rows read into bookings.
pub(crate) fn bookings_from(rows: Vec<BookingRow>) -> Result<Vec<Booking>, StoreError> {
    rows.into_iter().map(Booking::try_from).collect()
}

/// The rules a `booking_rules` row holds.
pub(crate) fn rules_from(slot_minutes: i64, group_limit: i64) -> Result<BookingRules, StoreError> {
    let field = |value: i64, name: &str| {
        u32::try_from(value)
            .map_err(|_| StoreError::Invalid(format!("booking_rules.{name} {value} out of range")))
    };
    Ok(BookingRules {
        slot_minutes: field(slot_minutes, "slot_minutes")?,
        group_limit: field(group_limit, "group_limit")?,
    })
}

impl Store {
    delegate! {
        /// A staff member's rules; the [`Default`] ones when they never set any.
        pub async fn booking_rules(&self, user: UserId) -> Result<BookingRules, StoreError>;
        /// Replaces a staff member's rules; bookings already made keep their slots.
        pub async fn set_booking_rules(&self, user: UserId, rules: BookingRules) -> Result<(), StoreError>;
        /// Blocks (or frees) the slot of `user` starting at `starts_ms`.
        pub async fn set_slot_blocked(&self, user: UserId, starts_ms: i64, blocked: bool) -> Result<(), StoreError>;
        /// Starts of the blocked slots in [from_ms, to_ms), ascending.
        pub async fn blocked_slots(&self, user: UserId, from_ms: i64, to_ms: i64) -> Result<Vec<i64>, StoreError>;
        /// Books a slot, all checks and the insert in one write transaction: the slot blocked
        /// ([`BookOutcome::SlotBlocked`]), the student's open bookings at `limits.max_open`
        /// (`TooMany`), the student already in the slot (`AlreadyBooked`), the slot held by an
        /// individual booking, any booking when this one is individual, or a full group
        /// (`SlotTaken`); else the booking takes the lowest free seat. A booker that loses the
        /// seat to a concurrent one gets one of these outcomes, never an error.
        pub async fn book_slot(&self, school: SchoolId, new: &NewBooking<'_>, limits: BookingLimits) -> Result<BookOutcome, StoreError>;
        /// Moves a booking: books `new` and cancels `booking` (by new.student, reason None) in one transaction; the
        /// old booking does not count against max_open nor as AlreadyBooked. Returns the outcome of the new booking;
        /// on anything but Booked nothing changes. The new booking is in the old one's school; the old one must be
        /// `new.student`'s and not cancelled ([`StoreError::Invalid`] otherwise).
        pub async fn move_booking(&self, booking: BookingId, new: &NewBooking<'_>, limits: BookingLimits) -> Result<BookOutcome, StoreError>;
        /// Cancels a booking; the cancelled booking, or None when there is none or it was already cancelled.
        pub async fn cancel_booking(&self, booking: BookingId, by: UserId, reason: Option<&str>, at_ms: i64) -> Result<Option<Booking>, StoreError>;
        /// A booking, cancelled or not.
        pub async fn booking(&self, booking: BookingId) -> Result<Option<Booking>, StoreError>;
        /// A student's bookings not cancelled that end after from_ms, by start.
        pub async fn bookings_of_student(&self, student: UserId, from_ms: i64) -> Result<Vec<Booking>, StoreError>;
        /// A teacher's bookings not cancelled that start in [from_ms, to_ms), by start then id.
        pub async fn bookings_of_teacher(&self, teacher: UserId, from_ms: i64, to_ms: i64) -> Result<Vec<Booking>, StoreError>;
        /// Every booking of the school not cancelled that ends after from_ms, by start then id (the hub loads these at start).
        pub async fn bookings_of_school(&self, school: SchoolId, from_ms: i64) -> Result<Vec<Booking>, StoreError>;
        /// The generation of the user's calendar feed; None when they have none (never made or revoked).
        pub async fn calendar_feed(&self, user: UserId) -> Result<Option<i64>, StoreError>;
        /// A new feed for the user: a generation higher than any they had before (1 for the first); the old one stops working.
        pub async fn renew_calendar_feed(&self, user: UserId) -> Result<i64, StoreError>;
        /// Turns the user's feed off; a later renewal still gets a higher generation than any before.
        pub async fn revoke_calendar_feed(&self, user: UserId) -> Result<(), StoreError>;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(student: i64, form: Form) -> NewBooking<'static> {
        NewBooking {
            teacher: UserId(1),
            student: UserId(student),
            starts_ms: 0,
            ends_ms: 1,
            subject: "math",
            form,
            topic: "",
        }
    }

    fn held(student: i64, form: Form, seat: i64) -> ActiveBooking {
        ActiveBooking {
            student,
            form,
            seat,
        }
    }

    #[test]
    fn the_lowest_free_seat_is_taken_and_a_full_slot_refused() {
        assert_eq!(seat_for(&new(9, Form::Group), &[], 5), Ok(0));
        let active = [held(1, Form::Group, 2), held(2, Form::Group, 0)];
        assert_eq!(seat_for(&new(9, Form::Group), &active, 5), Ok(1));
        let active = [held(1, Form::Group, 1), held(2, Form::Group, 0)];
        assert_eq!(seat_for(&new(9, Form::Group), &active, 5), Ok(2));
        assert_eq!(
            seat_for(&new(9, Form::Group), &active, 2),
            Err(NoSeat::SlotTaken)
        );
        assert_eq!(
            seat_for(&new(1, Form::Group), &active, 2),
            Err(NoSeat::AlreadyBooked),
            "the student is told they hold it before that it is full"
        );
        assert_eq!(
            seat_for(&new(9, Form::Individual), &active, 5),
            Err(NoSeat::SlotTaken)
        );
        assert_eq!(
            seat_for(&new(9, Form::Group), &[held(1, Form::Individual, 0)], 5),
            Err(NoSeat::SlotTaken)
        );
        assert_eq!(seat_for(&new(9, Form::Individual), &[], 5), Ok(0));
    }

    #[test]
    fn forms_read_back_as_written() {
        for form in [Form::Individual, Form::Group, Form::Frontal] {
            assert_eq!(parse_form(form.as_str()).ok(), Some(form));
        }
        assert!(parse_form("lecture").is_err());
    }
}
