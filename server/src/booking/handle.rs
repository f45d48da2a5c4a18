//! The booking messages of a connection, each routed to its owner and run in its own task, so
//! that the connection never waits on storage: slots and bookings (`reserve.rs`), a staff
//! member's rules (`rules.rs`), the calendar feed's address (`calendar.rs`).

use super::asker::{Asker, Refusal};
use super::{calendar, reserve, rules};
use crate::app::App;
use crate::conn_ctx::ConnCtx;
use konsult_protocol::{Rid, ServerMessage, ToBooking};
use std::sync::Arc;

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
        } => reserve::list_slots(asker, teacher, from.as_deref(), days).await,
        ToBooking::BookSlot {
            teacher,
            start,
            form,
            topic,
        } => reserve::book_slot(asker, teacher, &start, form, &topic).await,
        ToBooking::MoveBooking { booking, start } => {
            reserve::move_booking(asker, booking, &start).await
        }
        ToBooking::CancelBooking { booking, reason } => {
            reserve::cancel_booking(asker, booking, reason.as_deref()).await
        }
        ToBooking::Bookings { day } => reserve::bookings(asker, day.as_deref()).await,
        ToBooking::SetBookingRules {
            slot_minutes,
            group_limit,
        } => rules::set_rules(asker, slot_minutes, group_limit).await,
        ToBooking::BlockSlot { start, blocked } => rules::block_slot(asker, &start, blocked).await,
        ToBooking::CalendarLink { action } => calendar::calendar_link(asker, action).await,
    }
}
