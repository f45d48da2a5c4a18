//! The booking messages of a connection: listing slots, booking, moving and cancelling, the
//! day's bookings, a staff member's rules and blocked slots, and the calendar feed's address.
//! Each runs in its own task, so that the connection never waits on storage; every change is
//! pushed to the other side and told to the school's hub.

use super::slots::{self, SlotTime};
use super::{MAX_SLOT_MINUTES, calendar, tell_hub};
use crate::app::App;
use crate::conn_ctx::ConnCtx;
use crate::directory::{ConnId, Outbox};
use crate::store::bookings::{BookOutcome, Booking, BookingLimits, BookingRules, NewBooking};
use crate::store::users::User;
use crate::store::{StoreError, Transient, now_ms};
use crate::wire;
use jiff::ToSpan;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use konsult_protocol::limits::MAX_TOPIC_CHARS;
use konsult_protocol::model::{
    BookingChange, BookingInfo, BookingStatus, CalendarAction, Form, Role, Slot,
};
use konsult_protocol::{BookingId, ErrorCode, Rid, ServerMessage, ToBooking, UserId};
use std::sync::Arc;

/// Days `list_slots` lists at most in one answer.
const MAX_LIST_DAYS: u32 = 28;

/// Group slots hold at most this many students.
const MAX_GROUP_LIMIT: u32 = 30;

/// A refused booking message: the `error` its sender gets.
#[derive(Debug)]
struct Refusal {
    code: ErrorCode,
    message: String,
}

impl Refusal {
    fn new(code: ErrorCode, message: impl Into<String>) -> Refusal {
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
struct Asker {
    app: Arc<App>,
    user: Arc<User>,
    conn: ConnId,
    outbox: Outbox,
    rid: Option<Rid>,
    tz: TimeZone,
}

impl Asker {
    fn reply(&self, msg: &ServerMessage) {
        // A failed push means the connection is closing; its client asks again.
        let _closing = self.outbox.push(wire::encode(msg, self.rid.as_ref()));
    }

    /// Pushes `msg` to the user's other connections.
    fn tell_own_devices(&self, msg: &ServerMessage) {
        let frame = wire::encode(msg, None);
        for conn in self.app.directory.user_conns(self.user.id) {
            if conn != self.conn {
                self.app.directory.send_to_conn(conn, &frame);
            }
        }
    }

    /// Pushes `msg` to every connection of `user`.
    fn tell(&self, user: UserId, msg: &ServerMessage) {
        self.app
            .directory
            .send_to_user(user, &wire::encode(msg, None));
    }
}

/// Handles one booking message of a connection.
pub fn message(app: &Arc<App>, ctx: &ConnCtx, rid: Option<Rid>, msg: ToBooking) {
    let asker = Asker {
        app: app.clone(),
        user: ctx.user.clone(),
        conn: ctx.id,
        outbox: ctx.outbox.clone(),
        rid,
        tz: app.school_timezone(ctx.user.school),
    };
    tokio::spawn(async move {
        if let Err(refusal) = handle(&asker, msg).await {
            asker.reply(&ServerMessage::error(refusal.code, refusal.message));
        }
    });
}

async fn handle(asker: &Asker, msg: ToBooking) -> Result<(), Refusal> {
    match msg {
        ToBooking::ListSlots {
            teacher,
            from,
            days,
        } => list_slots(asker, teacher, from.as_deref(), days).await,
        ToBooking::BookSlot {
            teacher,
            start,
            form,
            topic,
        } => book_slot(asker, teacher, &start, form, &topic).await,
        ToBooking::MoveBooking { booking, start } => move_booking(asker, booking, &start).await,
        ToBooking::CancelBooking { booking, reason } => {
            cancel_booking(asker, booking, reason.as_deref()).await
        }
        ToBooking::Bookings { day } => bookings(asker, day.as_deref()).await,
        ToBooking::SetBookingRules {
            slot_minutes,
            group_limit,
        } => set_rules(asker, slot_minutes, group_limit).await,
        ToBooking::BlockSlot { start, blocked } => block_slot(asker, &start, blocked).await,
        ToBooking::CalendarLink { action } => calendar_link(asker, action).await,
    }
}

/// The first instant after the horizon: slots from then on are not listed nor booked.
fn horizon_end(asker: &Asker, now: i64) -> i64 {
    let today = slots::local_date(now, &asker.tz);
    let days = i64::from(asker.app.config.booking.horizon_days);
    let last = today.checked_add(days.days()).unwrap_or(today);
    slots::day_start_ms(last, &asker.tz)
}

/// An active staff member of the asker's school.
async fn staff_member(asker: &Asker, id: UserId) -> Result<User, Refusal> {
    asker
        .app
        .store
        .user_by_id(id)
        .await?
        .filter(|u| u.school == asker.user.school && u.active && u.role.is_staff())
        .ok_or_else(|| Refusal::new(ErrorCode::NotFound, format!("no staff member {id}")))
}

fn parse_date(text: &str) -> Result<Date, Refusal> {
    text.parse::<Date>().map_err(|_| {
        Refusal::new(
            ErrorCode::BadRequest,
            format!("{text:?} is not a date (YYYY-MM-DD)"),
        )
    })
}

/// The slot of `teacher` that begins at `start`, if it may be booked now: one of their hours'
/// slots, not begun, within the horizon.
async fn bookable(
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

async fn list_slots(
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
        BookOutcome::Booked(_) => Refusal::new(ErrorCode::Internal, "booked"),
    }
}

async fn book_slot(
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
    let BookOutcome::Booked(booking) = outcome else {
        return Err(refused(outcome));
    };
    let info = info(asker, &booking, &teacher, &asker.user);
    asker.reply(&ServerMessage::Booked {
        booking: info.clone(),
    });
    let changed = ServerMessage::BookingChanged {
        booking: info,
        change: BookingChange::Booked,
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

async fn move_booking(asker: &Asker, id: BookingId, start: &str) -> Result<(), Refusal> {
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
    let outcome = asker
        .app
        .store
        .move_booking(id, &new, limits(asker, rules))
        .await?;
    let BookOutcome::Booked(booking) = outcome else {
        return Err(refused(outcome));
    };
    let info = info(asker, &booking, &teacher, &asker.user);
    asker.reply(&ServerMessage::Booked {
        booking: info.clone(),
    });
    let changed = ServerMessage::BookingChanged {
        booking: info,
        change: BookingChange::Moved,
    };
    asker.tell(teacher.id, &changed);
    asker.tell_own_devices(&changed);
    tell_hub(&asker.app, asker.user.school, teacher.id).await?;
    Ok(())
}

async fn cancel_booking(asker: &Asker, id: BookingId, reason: Option<&str>) -> Result<(), Refusal> {
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
        booking: info(asker, &cancelled, &teacher, &student),
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

async fn bookings(asker: &Asker, day: Option<&str>) -> Result<(), Refusal> {
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
    let mut out = Vec::with_capacity(list.len());
    for b in &list {
        let other = if b.student == asker.user.id {
            b.teacher
        } else {
            b.student
        };
        let Some(other) = store.user_by_id(other).await? else {
            continue;
        };
        let (teacher, student) = if b.student == asker.user.id {
            (&other, &*asker.user)
        } else {
            (&*asker.user, &other)
        };
        out.push(info(asker, b, teacher, student));
    }
    asker.reply(&ServerMessage::Bookings { bookings: out });
    Ok(())
}

/// Staff only: rules and blocked slots are theirs.
fn require_staff(asker: &Asker) -> Result<(), Refusal> {
    if !asker.user.role.is_staff() {
        return Err(Refusal::new(
            ErrorCode::Forbidden,
            "slots are set by teachers and support staff",
        ));
    }
    Ok(())
}

async fn set_rules(
    asker: &Asker,
    slot_minutes: Option<u32>,
    group_limit: Option<u32>,
) -> Result<(), Refusal> {
    require_staff(asker)?;
    let store = &asker.app.store;
    let mut rules = store.booking_rules(asker.user.id).await?;
    if let Some(minutes) = slot_minutes {
        if !(5..=MAX_SLOT_MINUTES).contains(&minutes) {
            return Err(Refusal::new(
                ErrorCode::BadRequest,
                format!("slot_minutes must be 5..={MAX_SLOT_MINUTES}"),
            ));
        }
        rules.slot_minutes = minutes;
    }
    if let Some(limit) = group_limit {
        if !(1..=MAX_GROUP_LIMIT).contains(&limit) {
            return Err(Refusal::new(
                ErrorCode::BadRequest,
                format!("group_limit must be 1..={MAX_GROUP_LIMIT}"),
            ));
        }
        rules.group_limit = limit;
    }
    store.set_booking_rules(asker.user.id, rules).await?;
    reply_rules(asker, rules).await
}

async fn block_slot(asker: &Asker, start: &str, blocked: bool) -> Result<(), Refusal> {
    require_staff(asker)?;
    let (slot, rules) = bookable(asker, asker.user.id, start).await?;
    asker
        .app
        .store
        .set_slot_blocked(asker.user.id, slot.starts_ms, blocked)
        .await?;
    reply_rules(asker, rules).await
}

async fn reply_rules(asker: &Asker, rules: BookingRules) -> Result<(), Refusal> {
    let now = now_ms();
    let blocked = asker
        .app
        .store
        .blocked_slots(asker.user.id, now, horizon_end(asker, now))
        .await?;
    asker.reply(&ServerMessage::BookingRules {
        slot_minutes: rules.slot_minutes,
        group_limit: rules.group_limit,
        blocked: blocked
            .iter()
            .map(|ms| slots::iso(*ms, &asker.tz))
            .collect(),
    });
    Ok(())
}

async fn calendar_link(asker: &Asker, action: CalendarAction) -> Result<(), Refusal> {
    if asker.user.anonymous {
        return Err(Refusal::new(
            ErrorCode::Forbidden,
            "an anonymous identity has no calendar",
        ));
    }
    let store = &asker.app.store;
    let user = asker.user.id;
    let generation = match action {
        CalendarAction::Get => store.calendar_feed(user).await?,
        CalendarAction::Renew => Some(store.renew_calendar_feed(user).await?),
        CalendarAction::Revoke => {
            store.revoke_calendar_feed(user).await?;
            None
        }
    };
    asker.reply(&ServerMessage::CalendarLink {
        url: generation.map(|g| calendar::path(&asker.app.seal, user, g)),
    });
    Ok(())
}

/// A booking as the protocol shows it.
fn info(asker: &Asker, b: &Booking, teacher: &User, student: &User) -> BookingInfo {
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
