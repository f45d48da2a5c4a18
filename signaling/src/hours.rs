//! Consultation hours, as pure functions of the weekly slots and the time: whether a time falls
//! within them, when the next begins, when to remind a staff member of it. Local time comes
//! from the UTC offset passed in with every input, so the hub stays free of time-zone data.

use crate::io::Now;
use konsult_protocol::model::HoursSlot;
use std::time::{Duration, Instant};

const MINUTES_PER_WEEK: u32 = 7 * 24 * 60;

/// The local time of `now`: minutes since Monday 00:00, and seconds since the epoch in local
/// time.
fn local(now: &Now) -> (u32, i64) {
    let local_secs = now.unix_ms.div_euclid(1000) + i64::from(now.utc_offset_secs);
    let days = local_secs.div_euclid(86_400);
    // 1970-01-01 was a Thursday: three days after a Monday.
    let weekday = (days + 3).rem_euclid(7) as u32;
    let minute = (local_secs.rem_euclid(86_400) / 60) as u32;
    (weekday * 24 * 60 + minute, local_secs)
}

/// Whether `now` falls in one of the slots (of `subject`, when given).
pub(crate) fn within(slots: &[HoursSlot], subject: Option<&str>, now: &Now) -> bool {
    let (minute, _) = local(now);
    slots
        .iter()
        .filter(|s| subject.is_none_or(|sub| s.subject == sub))
        .filter_map(HoursSlot::minutes_of_week)
        .any(|(start, end)| (start..end).contains(&minute))
}

/// The next slot to begin (of `subject`, when given) and the minutes until it does.
pub(crate) fn next_start<'a>(
    slots: &'a [HoursSlot],
    subject: Option<&str>,
    now: &Now,
) -> Option<(&'a HoursSlot, u32)> {
    let (minute, _) = local(now);
    slots
        .iter()
        .filter(|s| subject.is_none_or(|sub| s.subject == sub))
        .filter_map(|s| s.minutes_of_week().map(|(start, _)| (s, start)))
        .map(|(s, start)| {
            let wait = (start + MINUTES_PER_WEEK - minute) % MINUTES_PER_WEEK;
            // A slot starting this very minute is "now"; the next begins a week on.
            (s, if wait == 0 { MINUTES_PER_WEEK } else { wait })
        })
        .min_by_key(|(_, wait)| *wait)
}

/// `now` plus `minutes`, as ISO 8601 in local time with the offset, to the minute.
pub(crate) fn iso_after(now: &Now, minutes: u32) -> String {
    let (_, local_secs) = local(now);
    let at = local_secs - local_secs.rem_euclid(60) + i64::from(minutes) * 60;
    let (y, m, d) = civil_from_days(at.div_euclid(86_400));
    let secs = at.rem_euclid(86_400);
    let offset = now.utc_offset_secs;
    let sign = if offset < 0 { '-' } else { '+' };
    let offset = offset.unsigned_abs();
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:00{sign}{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        offset / 3600,
        offset % 3600 / 60
    )
}

/// The proleptic Gregorian date of a day count from 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// When a reminder for a slot `wait` minutes from `now` fires: at the start of that minute.
pub(crate) fn reminder_at(now: &Now, wait: u32) -> Instant {
    now.mono + Duration::from_secs(u64::from(wait) * 60)
        - Duration::from_secs((now.unix_ms.rem_euclid(60_000) / 1000) as u64)
}

/// The slot that begins in the minute of `now`.
pub(crate) fn beginning<'a>(slots: &'a [HoursSlot], now: &Now) -> Option<&'a HoursSlot> {
    let (minute, _) = local(now);
    slots.iter().find(|s| {
        s.minutes_of_week()
            .is_some_and(|(start, _)| start == minute)
    })
}

/// `now` a minute on: after a reminder, the next one is looked for from there, so that the
/// slot just begun is not found again.
pub(crate) fn a_minute_after(now: &Now) -> Now {
    Now {
        unix_ms: now.unix_ms + 60_000,
        mono: now.mono + Duration::from_secs(60),
        ..*now
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use konsult_protocol::model::Mode;
    use std::time::Instant;

    fn at(unix_ms: i64, offset: i32) -> Now {
        Now {
            mono: Instant::now(),
            unix_ms,
            utc_offset_secs: offset,
        }
    }

    fn slot(weekday: u8, start: &str, end: &str) -> HoursSlot {
        HoursSlot {
            subject: "math".into(),
            weekday,
            start: start.into(),
            end: end.into(),
            mode: Mode::Online,
        }
    }

    // 2026-12-01 is a Tuesday. 11:30 UTC is 15:30 in Samara (+04:00).
    const TUESDAY_1130_UTC: i64 = 1_796_124_600_000;

    #[test]
    fn local_time_and_slots() {
        let now = at(TUESDAY_1130_UTC, 4 * 3600);
        assert_eq!(iso_after(&now, 0), "2026-12-01T15:30:00+04:00");
        let slots = vec![slot(2, "15:00", "16:00"), slot(4, "10:00", "11:00")];
        assert!(within(&slots, Some("math"), &now));
        assert!(!within(&slots, Some("physics"), &now));
        let later = at(TUESDAY_1130_UTC + 3_600_000, 4 * 3600);
        assert!(!within(&slots, None, &later));
        let (next, wait) = next_start(&slots, None, &later).expect("next");
        assert_eq!(next.weekday, 4);
        assert_eq!(iso_after(&later, wait), "2026-12-03T10:00:00+04:00");
        // Past the last slot of the week, the first one of next week.
        let saturday = at(TUESDAY_1130_UTC + 4 * 86_400_000, 4 * 3600);
        let (next, wait) = next_start(&slots, None, &saturday).expect("next");
        assert_eq!(next.weekday, 2);
        assert_eq!(iso_after(&saturday, wait), "2026-12-08T15:00:00+04:00");
    }

    #[test]
    fn dates_across_years() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_819), (2027, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        let now = at(1_798_761_599_000, 0);
        assert_eq!(iso_after(&now, 1), "2027-01-01T00:00:00+00:00");
    }
}
