//! Slots and bookings: listing a staff member's slots, booking, moving and cancelling, and the
//! day's (or the student's) bookings. Every change is pushed to the other side and the sender's
//! other devices, and told to the school's hub.

use super::asker::{Asker, Refusal, bookable, horizon_end, info, parse_date, staff_member};
use super::slots::{self, SlotTime};
use super::{accounts, tell_hub};
use crate::store::bookings::{BookOutcome, Booking, BookingLimits, BookingRules, NewBooking};
use crate::store::users::User;
use crate::store::{StoreError, now_ms};
use jiff::ToSpan;
use konsult_protocol::limits::MAX_TOPIC_CHARS;
use konsult_protocol::model::{BookingChange, Form, Role, Slot};
use konsult_protocol::{BookingId, ErrorCode, ServerMessage, UserId};

/// Days `list_slots` lists at most in one answer.
const MAX_LIST_DAYS: u32 = 28;

pub(super) async fn list_slots(
    asker: &Asker,
    teacher: UserId,
    from: Option<&str>,
    days: Option<u32>,
) -> Result<(), Refusal> {
    let teacher = staff_member(asker, teacher).await?;
    let days = days.unwrap_or(7);
    if !(1..=MAX_LIST_DAYS).contains(&days) {
        return Err(Refusal::new(
            ErrorCode::BadRequest,
            format!("days must be 1..={MAX_LIST_DAYS}"),
        ));
    }
    let now = now_ms();
    let first = match from {
        Some(text) => parse_date(text)?,
        None => slots::local_date(now, &asker.tz),
    };
    let store = &asker.app.store;
    let hours = store.hours_of(teacher.id).await?;
    let rules = store.booking_rules(teacher.id).await?;
    let end = horizon_end(asker, now);
    let cut: Vec<SlotTime> = slots::cut(&hours, rules.slot_minutes, &asker.tz, first, days)
        .into_iter()
        .filter(|s| s.starts_ms > now && s.starts_ms < end)
        .collect();
    let (lo, hi) = match (cut.first(), cut.last()) {
        (Some(a), Some(b)) => (a.starts_ms, b.starts_ms + 1),
        _ => (0, 0),
    };
    let (booked, blocked) = if cut.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        (
            store.bookings_of_teacher(teacher.id, lo, hi).await?,
            store.blocked_slots(teacher.id, lo, hi).await?,
        )
    };
    let slots = cut
        .into_iter()
        .map(|s| {
            let here: Vec<&Booking> = booked
                .iter()
                .filter(|b| b.starts_ms == s.starts_ms)
                .collect();
            let individual = here.iter().any(|b| b.form == Form::Individual);
            Slot {
                start: slots::iso(s.starts_ms, &asker.tz),
                end: slots::iso(s.ends_ms, &asker.tz),
                subject: s.subject,
                mode: s.mode,
                booked: here.len() as u32,
                capacity: if individual { 1 } else { rules.group_limit },
                form: here
                    .first()
                    .map(|b| if individual { Form::Individual } else { b.form }),
                blocked: blocked.contains(&s.starts_ms),
                mine: here
                    .iter()
                    .find(|b| b.student == asker.user.id)
                    .map(|b| b.id),
            }
        })
        .collect();
    asker.reply(&ServerMessage::Slots {
        teacher: teacher.id,
        slot_minutes: rules.slot_minutes,
        group_limit: rules.group_limit,
        slots,
    });
    Ok(())
}

/// A student signed in as themselves: only they book.
fn require_student(asker: &Asker) -> Result<(), Refusal> {
    if asker.user.role != Role::Student || asker.user.anonymous {
        return Err(Refusal::new(
            ErrorCode::Forbidden,
            "only students book consultation slots, under their own name",
        ));
    }
    Ok(())
}

fn limits(asker: &Asker, rules: BookingRules) -> BookingLimits {
    BookingLimits {
        group_limit: rules.group_limit,
        max_open: asker.app.config.booking.max_open,
        now_ms: now_ms(),
    }
}

/// What a refused booking tells the student.
fn refused(outcome: BookOutcome) -> Refusal {
    match outcome {
        BookOutcome::SlotTaken => Refusal::new(ErrorCode::SlotTaken, "the slot is taken"),
        BookOutcome::SlotBlocked => {
            Refusal::new(ErrorCode::SlotTaken, "the teacher blocked this slot")
        }
        BookOutcome::AlreadyBooked => {
            Refusal::new(ErrorCode::SlotTaken, "you already booked this slot")
        }
        BookOutcome::TooMany => Refusal::new(
            ErrorCode::BookingLimit,
            "you hold as many open bookings as the school allows; cancel one first",
        ),
        // Never asked of a booking that was made: `announce_booked` takes that one first.
        BookOutcome::Booked(_) => Refusal::new(ErrorCode::Internal, "booked"),
    }
}

pub(super) async fn book_slot(
    asker: &Asker,
    teacher: UserId,
    start: &str,
    form: Form,
    topic: &str,
) -> Result<(), Refusal> {
    require_student(asker)?;
    let teacher = staff_member(asker, teacher).await?;
    if form == Form::Frontal {
        return Err(Refusal::new(
            ErrorCode::BadRequest,
            "a slot is booked individual or group",
        ));
    }
    let topic = topic.trim();
    if topic.is_empty() {
        return Err(Refusal::new(
            ErrorCode::BadRequest,
            "say what it is about: a topic",
        ));
    }
    if topic.chars().count() > MAX_TOPIC_CHARS {
        return Err(Refusal::new(
            ErrorCode::TooLarge,
            format!("a topic holds at most {MAX_TOPIC_CHARS} characters"),
        ));
    }
    let (slot, rules) = bookable(asker, teacher.id, start).await?;
    let new = NewBooking {
        teacher: teacher.id,
        student: asker.user.id,
        starts_ms: slot.starts_ms,
        ends_ms: slot.ends_ms,
        subject: &slot.subject,
        form,
        topic,
    };
    let outcome = asker
        .app
        .store
        .book_slot(asker.user.school, &new, limits(asker, rules))
        .await?;
    announce_booked(asker, outcome, &teacher, BookingChange::Booked).await
}

/// Answers a booking or a move with `booked` when it was made, tells the staff member and the
/// student's other devices, and the hub; else refuses it.
async fn announce_booked(
    asker: &Asker,
    outcome: BookOutcome,
    teacher: &User,
    change: BookingChange,
) -> Result<(), Refusal> {
    let BookOutcome::Booked(booking) = outcome else {
        return Err(refused(outcome));
    };
    let info = Box::new(info(asker, &booking, teacher, &asker.user));
    asker.reply(&ServerMessage::Booked {
        booking: info.clone(),
    });
    let changed = ServerMessage::BookingChanged {
        booking: info,
        change,
    };
    asker.tell(teacher.id, &changed);
    asker.tell_own_devices(&changed);
    tell_hub(&asker.app, asker.user.school, teacher.id).await?;
    Ok(())
}

/// A booking of the asker's, as its student or its staff member, that is not cancelled.
async fn own_booking(asker: &Asker, id: BookingId) -> Result<Booking, Refusal> {
    asker
        .app
        .store
        .booking(id)
        .await?
        .filter(|b| b.cancelled.is_none())
        .filter(|b| b.student == asker.user.id || b.teacher == asker.user.id)
        .ok_or_else(|| Refusal::new(ErrorCode::NotFound, format!("no booking {id}")))
}

/// Refuses a student's change to a booking that begins within `booking.change_before`.
fn student_may_change(asker: &Asker, booking: &Booking) -> Result<(), Refusal> {
    let before = asker.app.config.booking.change_before.as_millis() as i64;
    if now_ms() > booking.starts_ms - before {
        return Err(Refusal::new(
            ErrorCode::BookingLocked,
            "the booking begins too soon to be moved or cancelled",
        ));
    }
    Ok(())
}

pub(super) async fn move_booking(asker: &Asker, id: BookingId, start: &str) -> Result<(), Refusal> {
    let old = own_booking(asker, id).await?;
    if old.student != asker.user.id {
        return Err(Refusal::new(
            ErrorCode::Forbidden,
            "only its student moves a booking; cancel it with a reason instead",
        ));
    }
    student_may_change(asker, &old)?;
    let teacher = staff_member(asker, old.teacher).await?;
    let (slot, rules) = bookable(asker, teacher.id, start).await?;
    let new = NewBooking {
        teacher: teacher.id,
        student: asker.user.id,
        starts_ms: slot.starts_ms,
        ends_ms: slot.ends_ms,
        subject: &slot.subject,
        form: old.form,
        topic: &old.topic,
    };
    let outcome = match asker
        .app
        .store
        .move_booking(id, &new, limits(asker, rules))
        .await
    {
        // Cancelled by its staff member since it was read above.
        Err(StoreError::Invalid(_)) => {
            return Err(Refusal::new(
                ErrorCode::NotFound,
                format!("no booking {id}"),
            ));
        }
        other => other?,
    };
    announce_booked(asker, outcome, &teacher, BookingChange::Moved).await
}

pub(super) async fn cancel_booking(
    asker: &Asker,
    id: BookingId,
    reason: Option<&str>,
) -> Result<(), Refusal> {
    let booking = own_booking(asker, id).await?;
    let now = now_ms();
    if booking.student == asker.user.id {
        student_may_change(asker, &booking)?;
    } else if now >= booking.starts_ms {
        return Err(Refusal::new(
            ErrorCode::BookingLocked,
            "the booked slot has begun: end its session instead",
        ));
    }
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > MAX_TOPIC_CHARS) {
        return Err(Refusal::new(
            ErrorCode::TooLarge,
            format!("a reason holds at most {MAX_TOPIC_CHARS} characters"),
        ));
    }
    let cancelled = asker
        .app
        .store
        .cancel_booking(id, asker.user.id, reason, now)
        .await?
        .ok_or_else(|| Refusal::new(ErrorCode::NotFound, format!("no booking {id}")))?;
    let store = &asker.app.store;
    let (teacher, student) = (
        store.user_by_id(cancelled.teacher).await?,
        store.user_by_id(cancelled.student).await?,
    );
    let (Some(teacher), Some(student)) = (teacher, student) else {
        return Err(Refusal::new(
            ErrorCode::NotFound,
            format!("no booking {id}"),
        ));
    };
    let changed = ServerMessage::BookingChanged {
        booking: Box::new(info(asker, &cancelled, &teacher, &student)),
        change: BookingChange::Cancelled,
    };
    asker.reply(&changed);
    asker.tell_own_devices(&changed);
    let other = if asker.user.id == student.id {
        teacher.id
    } else {
        student.id
    };
    asker.tell(other, &changed);
    tell_hub(&asker.app, asker.user.school, teacher.id).await?;
    Ok(())
}

pub(super) async fn bookings(asker: &Asker, day: Option<&str>) -> Result<(), Refusal> {
    let store = &asker.app.store;
    let now = now_ms();
    let list = match asker.user.role {
        Role::Student => store.bookings_of_student(asker.user.id, now).await?,
        Role::Teacher | Role::Support => {
            let day = match day {
                Some(text) => parse_date(text)?,
                None => slots::local_date(now, &asker.tz),
            };
            let next = day.checked_add(1.day()).unwrap_or(day);
            store
                .bookings_of_teacher(
                    asker.user.id,
                    slots::day_start_ms(day, &asker.tz),
                    slots::day_start_ms(next, &asker.tz),
                )
                .await?
        }
        Role::Admin => Vec::new(),
    };
    let me = asker.user.id;
    let ids = list
        .iter()
        .map(|b| {
            if b.student == me {
                b.teacher
            } else {
                b.student
            }
        })
        .collect();
    let others = accounts(&asker.app, ids).await?;
    let mut out = Vec::with_capacity(list.len());
    for b in &list {
        let (teacher, student) = if b.student == me {
            (others.get(&b.teacher), Some(&*asker.user))
        } else {
            (Some(&*asker.user), others.get(&b.student))
        };
        if let (Some(teacher), Some(student)) = (teacher, student) {
            out.push(info(asker, b, teacher, student));
        }
    }
    asker.reply(&ServerMessage::Bookings { bookings: out });
    Ok(())
}
