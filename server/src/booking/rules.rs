//! A staff member's booking rules: the length of their slots, how many students a group slot
//! holds, and the slots they block (`set_booking_rules`, `block_slot`), each answered with
//! `booking_rules`.

use super::asker::{Asker, Refusal, bookable, horizon_end};
use super::{MAX_SLOT_MINUTES, slots};
use crate::store::bookings::BookingRules;
use crate::store::now_ms;
use konsult_protocol::{ErrorCode, ServerMessage};

/// Group slots hold at most this many students.
const MAX_GROUP_LIMIT: u32 = 30;

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

pub(super) async fn set_rules(
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

pub(super) async fn block_slot(asker: &Asker, start: &str, blocked: bool) -> Result<(), Refusal> {
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
