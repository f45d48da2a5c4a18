//! The private calendar feed: `GET /cal/<secret>.ics`, an RFC 5545 iCalendar of a user's
//! bookings and (for staff) consultation hours, for their phone's calendar to subscribe to. The
//! secret is `<user>-<generation>-<proof>`, the proof a keyed digest of the two (`seal.rs`), so
//! nothing secret is stored: renewing the feed makes a new generation, and an old address
//! stops proving anything.

use super::asker::{Asker, Refusal};
use super::slots;
use crate::app::App;
use crate::seal::Seal;
use crate::store::bookings::Booking;
use crate::store::now_ms;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::ToSpan;
use konsult_config::Language;
use konsult_protocol::model::CalendarAction;
use konsult_protocol::{ErrorCode, ServerMessage, UserId};
use std::sync::Arc;

/// How far back the feed shows bookings.
const PAST_DAYS: i64 = 30;

/// The feed's path for `user`'s feed of `generation`.
pub fn path(seal: &Seal, user: UserId, generation: i64) -> String {
    format!(
        "/cal/{}-{generation}-{}.ics",
        user.0,
        seal.calendar_proof(user, generation)
    )
}

/// Answers `calendar_link`: tells, renews or turns off the user's feed.
pub(super) async fn calendar_link(asker: &Asker, action: CalendarAction) -> Result<(), Refusal> {
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
        url: generation.map(|g| path(&asker.app.seal, user, g)),
    });
    Ok(())
}

/// `GET /cal/{file}`: the feed, or 404 for anything but a live feed's address.
pub async fn feed(State(app): State<Arc<App>>, Path(file): Path<String>) -> Response {
    match build(&app, &file).await {
        Ok(Some(text)) => (
            [
                (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            text,
        )
            .into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "calendar feed failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The user and generation an address names, if its proof holds.
fn parse(seal: &Seal, file: &str) -> Option<(UserId, i64)> {
    let secret = file.strip_suffix(".ics")?;
    let mut parts = secret.splitn(3, '-');
    let user = UserId(parts.next()?.parse().ok()?);
    let generation: i64 = parts.next()?.parse().ok()?;
    let proof = parts.next()?;
    let expected = seal.calendar_proof(user, generation);
    // Compared in constant time, so that timing tells nothing of the expected proof.
    let same = proof.len() == expected.len()
        && proof
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    same.then_some((user, generation))
}

async fn build(app: &App, file: &str) -> Result<Option<String>, crate::store::StoreError> {
    let Some((user_id, generation)) = parse(&app.seal, file) else {
        return Ok(None);
    };
    if app.store.calendar_feed(user_id).await? != Some(generation) {
        return Ok(None);
    }
    let Some(user) = app.store.user_by_id(user_id).await?.filter(|u| u.active) else {
        return Ok(None);
    };
    let tz = app.school_timezone(user.school);
    let now = now_ms();
    let from = now - PAST_DAYS * 86_400_000;
    let horizon = i64::from(app.config.booking.horizon_days);
    let to = now + horizon * 86_400_000;
    let staff = user.role.is_staff();
    let bookings = if staff {
        app.store.bookings_of_teacher(user.id, from, to).await?
    } else {
        app.store.bookings_of_student(user.id, from).await?
    };
    let language = app.config.school.language;
    let mut cal = Calendar::new(now, &user.name);
    let other = |b: &Booking| if staff { b.student } else { b.teacher };
    let others = super::accounts(app, bookings.iter().map(other).collect()).await?;
    for b in &bookings {
        let name = others.get(&other(b)).map_or("", |u| u.name.as_str());
        cal.booking(b, name, language);
    }
    if staff {
        let hours = app.store.hours_of(user.id).await?;
        let today = slots::local_date(now, &tz);
        let first = today.checked_sub(1.day()).unwrap_or(today);
        for span in &hours {
            let Some((start, end)) = span.minutes_of_week() else {
                continue;
            };
            // The span as one slot as long as itself: each of its dates in the zone's time.
            for occurrence in slots::cut(
                std::slice::from_ref(span),
                end - start,
                &tz,
                first,
                app.config.booking.horizon_days + 1,
            ) {
                cal.hours(user.id, &occurrence, language);
            }
        }
    }
    Ok(Some(cal.finish()))
}

/// An iCalendar being written: CRLF line ends, lines folded at 75 octets.
struct Calendar {
    text: String,
    stamp: String,
}

impl Calendar {
    fn new(now: i64, owner: &str) -> Calendar {
        let mut cal = Calendar {
            text: String::new(),
            stamp: utc(now),
        };
        cal.line("BEGIN:VCALENDAR");
        cal.line("VERSION:2.0");
        cal.line("PRODID:-//Konsult//Konsult consultations//RU");
        cal.line("CALSCALE:GREGORIAN");
        cal.line("METHOD:PUBLISH");
        cal.line(&format!(
            "X-WR-CALNAME:{}",
            escape(&format!("Konsult: {owner}"))
        ));
        cal
    }

    fn booking(&mut self, b: &Booking, other: &str, language: Language) {
        let summary = match language {
            Language::Ru => format!("Консультация ({}): {other}", b.subject),
            Language::En => format!("Consultation ({}): {other}", b.subject),
        };
        self.event(
            &format!("booking-{}@konsult", b.id),
            b.starts_ms,
            b.ends_ms,
            &summary,
            Some(&b.topic),
        );
    }

    fn hours(&mut self, user: UserId, slot: &slots::SlotTime, language: Language) {
        let summary = match language {
            Language::Ru => format!("Часы консультаций: {}", slot.subject),
            Language::En => format!("Consultation hours: {}", slot.subject),
        };
        self.event(
            &format!("hours-{}-{}@konsult", user.0, slot.starts_ms / 60_000),
            slot.starts_ms,
            slot.ends_ms,
            &summary,
            None,
        );
    }

    fn event(
        &mut self,
        uid: &str,
        starts_ms: i64,
        ends_ms: i64,
        summary: &str,
        about: Option<&str>,
    ) {
        self.line("BEGIN:VEVENT");
        self.line(&format!("UID:{uid}"));
        let stamp = format!("DTSTAMP:{}", self.stamp);
        self.line(&stamp);
        self.line(&format!("DTSTART:{}", utc(starts_ms)));
        self.line(&format!("DTEND:{}", utc(ends_ms)));
        self.line(&format!("SUMMARY:{}", escape(summary)));
        if let Some(about) = about {
            self.line(&format!("DESCRIPTION:{}", escape(about)));
        }
        self.line("END:VEVENT");
    }

    fn finish(mut self) -> String {
        self.line("END:VCALENDAR");
        self.text
    }

    /// Appends a content line, folded so that no physical line passes 75 octets (RFC 5545
    /// 3.1), never inside a UTF-8 character.
    fn line(&mut self, content: &str) {
        let mut width = 0;
        for c in content.chars() {
            let len = c.len_utf8();
            if width + len > 75 {
                self.text.push_str("\r\n ");
                width = 1;
            }
            self.text.push(c);
            width += len;
        }
        self.text.push_str("\r\n");
    }
}

/// A UTC DATE-TIME (`20261209T112000Z`).
fn utc(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_default()
}

/// A TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and line ends escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_fold_at_75_octets_between_characters() {
        let mut cal = Calendar::new(0, "Анна");
        let long = format!("SUMMARY:{}", "щ".repeat(100));
        cal.line(&long);
        let text = cal.finish();
        for line in text.split("\r\n") {
            assert!(line.len() <= 75, "{} octets: {line}", line.len());
        }
        let unfolded = text.replace("\r\n ", "");
        assert!(unfolded.contains(&long));
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a;b,c\\d\ne"), "a\\;b\\,c\\\\d\\ne");
    }

    #[test]
    fn an_address_proves_its_user_and_generation_only() {
        let seal = Seal::new(b"secret");
        let path = path(&seal, UserId(9), 2);
        let file = path.strip_prefix("/cal/").unwrap();
        assert_eq!(parse(&seal, file), Some((UserId(9), 2)));
        assert_eq!(parse(&seal, &file.replacen("9-2-", "9-3-", 1)), None);
        assert_eq!(parse(&seal, &file.replacen("9-2-", "8-2-", 1)), None);
        assert_eq!(parse(&Seal::new(b"other"), file), None);
        assert_eq!(parse(&seal, "9-2.ics"), None);
    }
}
