//! Booking slots of staff members' consultation hours: the messages (`handle.rs` routes
//! them: `reserve.rs` slots and bookings, `rules.rs` a staff member's rules, `asker.rs` what
//! they share), the slots
//! cut from the hours in the school's time zone (`slots.rs`), the private calendar feed
//! (`calendar.rs`), and telling the school's hub which slots are booked, so that it opens each
//! one's session when it begins. The bookings themselves live in the store, which alone decides
//! who gets a contested slot.

mod asker;
pub mod calendar;
pub mod handle;
mod reserve;
mod rules;
pub mod slots;

use crate::app::App;
use crate::store::bookings::Booking;
use crate::store::{StoreError, now_ms};
use konsult_protocol::model::Form;
use konsult_protocol::{SchoolId, UserId};
use konsult_signaling::{BookedSlot, BookedStudent, Input};
use std::collections::BTreeMap;

/// The longest slot (`set_booking_rules`): a booking that began this long ago has ended.
pub const MAX_SLOT_MINUTES: u32 = 120;

/// Bookings (not cancelled) grouped into the booked slots the hub opens sessions for: a slot
/// holds one individual booking, or the group bookings of its start.
pub fn booked_slots(bookings: &[Booking]) -> Vec<BookedSlot> {
    let mut by_start: BTreeMap<i64, BookedSlot> = BTreeMap::new();
    for b in bookings.iter().filter(|b| b.cancelled.is_none()) {
        let slot = by_start.entry(b.starts_ms).or_insert_with(|| BookedSlot {
            starts_ms: b.starts_ms,
            ends_ms: b.ends_ms,
            subject: b.subject.clone(),
            form: b.form,
            students: Vec::new(),
        });
        if b.form == Form::Individual {
            slot.form = Form::Individual;
        }
        slot.students.push(BookedStudent {
            student: b.student,
            topic: b.topic.clone(),
        });
    }
    by_start.into_values().collect()
}

/// The accounts of `ids`, each read once however often it stands in the list (a teacher's
/// day holds the same students many times).
pub async fn accounts(
    app: &App,
    ids: Vec<UserId>,
) -> Result<BTreeMap<UserId, crate::store::users::User>, StoreError> {
    let mut found = BTreeMap::new();
    for id in ids {
        if found.contains_key(&id) {
            continue;
        }
        if let Some(user) = app.store.user_by_id(id).await? {
            found.insert(id, user);
        }
    }
    Ok(found)
}

/// Tells the school's hub a staff member's booked slots after one of them changed.
pub async fn tell_hub(app: &App, school: SchoolId, teacher: UserId) -> Result<(), StoreError> {
    let from = now_ms() - i64::from(MAX_SLOT_MINUTES) * 60_000;
    let bookings = app
        .store
        .bookings_of_teacher(teacher, from, i64::MAX)
        .await?;
    if let Some(school) = app.schools.get(school) {
        school
            .hub
            .send(Input::BookingsChanged {
                teacher,
                slots: booked_slots(&bookings),
            })
            .await;
    }
    Ok(())
}

/// Every staff member's booked slots that have not ended, for a hub that starts.
pub async fn load_for_hub(app: &App, school: SchoolId) -> Result<Vec<Input>, StoreError> {
    let from = now_ms() - i64::from(MAX_SLOT_MINUTES) * 60_000;
    let bookings = app.store.bookings_of_school(school, from).await?;
    let mut by_teacher: BTreeMap<UserId, Vec<Booking>> = BTreeMap::new();
    for b in bookings {
        by_teacher.entry(b.teacher).or_default().push(b);
    }
    Ok(by_teacher
        .into_iter()
        .map(|(teacher, bookings)| Input::BookingsChanged {
            teacher,
            slots: booked_slots(&bookings),
        })
        .collect())
}
