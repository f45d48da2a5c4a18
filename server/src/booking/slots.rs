//! A staff member's weekly hours cut into the slots of given days in the school's time zone:
//! what `list_slots` lists and `book_slot` checks a start against. Pure functions of the hours,
//! the slot length, the dates and the zone; the zone's rules (daylight saving time included)
//! are jiff's.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Timestamp, ToSpan};
use konsult_protocol::model::{HoursSlot, Mode};

/// One slot of a staff member's hours on one date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotTime {
    /// When it begins and ends, ms since the Unix epoch (UTC).
    pub starts_ms: i64,
    pub ends_ms: i64,
    pub subject: String,
    pub mode: Mode,
}

/// The slots of `hours` on each of `days` days from `first`, in time order: each weekly span
/// cut from its start into `slot_minutes`, a shorter remainder left out. A local time the zone
/// skips that day has no slot; one it repeats is the first of the two. Two spans giving the
/// same start give one slot, of the first span.
pub fn cut(
    hours: &[HoursSlot],
    slot_minutes: u32,
    tz: &TimeZone,
    first: Date,
    days: u32,
) -> Vec<SlotTime> {
    let step = slot_minutes.max(1);
    let mut out: Vec<SlotTime> = Vec::new();
    for day in 0..days {
        let Ok(date) = first.checked_add(i64::from(day).days()) else {
            break;
        };
        let weekday = date.weekday().to_monday_one_offset() as u32;
        for span in hours {
            let Some((start, end)) = span.minutes_of_week() else {
                continue;
            };
            let day_start = (weekday - 1) * 24 * 60;
            if start < day_start || start >= day_start + 24 * 60 {
                continue;
            }
            let (start, end) = (start - day_start, end - day_start);
            let mut minute = start;
            while minute + step <= end {
                if let Some(starts_ms) = instant(tz, date, minute) {
                    out.push(SlotTime {
                        starts_ms,
                        ends_ms: starts_ms + i64::from(step) * 60_000,
                        subject: span.subject.clone(),
                        mode: span.mode,
                    });
                }
                minute += step;
            }
        }
    }
    // A stable sort keeps, among equal starts, the slot of the span listed first.
    out.sort_by_key(|s| s.starts_ms);
    out.dedup_by_key(|s| s.starts_ms);
    out
}

/// The instant of local time `minute` (since midnight) on `date`; `None` when the zone skips it.
fn instant(tz: &TimeZone, date: Date, minute: u32) -> Option<i64> {
    let time = Time::new((minute / 60) as i8, (minute % 60) as i8, 0, 0).ok()?;
    let local = DateTime::from_parts(date, time);
    let offset = match tz.to_ambiguous_timestamp(local).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset,
        AmbiguousOffset::Gap { .. } => return None,
        AmbiguousOffset::Fold { before, .. } => before,
    };
    let ts = offset.to_timestamp(local).ok()?;
    Some(ts.as_millisecond())
}

/// An instant as the protocol writes it: ISO 8601 in the zone's local time with its offset, to
/// the second (`2026-12-09T15:20:00+04:00`).
pub fn iso(ms: i64, tz: &TimeZone) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(ts) => ts
            .to_zoned(tz.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string(),
        Err(_) => String::new(),
    }
}

/// A start as a client sends it (ISO 8601 with an offset, or `Z`), as ms since the epoch.
pub fn parse_start(text: &str) -> Option<i64> {
    text.parse::<Timestamp>().ok().map(|t| t.as_millisecond())
}

/// The local date of an instant in the zone.
pub fn local_date(ms: i64, tz: &TimeZone) -> Date {
    Timestamp::from_millisecond(ms)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned(tz.clone())
        .date()
}

/// The instant local midnight of `date` begins (the first instant of the day where a zone
/// skips midnight).
pub fn day_start_ms(date: Date, tz: &TimeZone) -> i64 {
    date.to_zoned(tz.clone())
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(weekday: u8, start: &str, end: &str) -> HoursSlot {
        HoursSlot {
            subject: "physics".into(),
            weekday,
            start: start.into(),
            end: end.into(),
            mode: Mode::Online,
        }
    }

    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).expect("zone in jiff's bundled database")
    }

    fn starts(slots: &[SlotTime], zone: &TimeZone) -> Vec<String> {
        slots.iter().map(|s| iso(s.starts_ms, zone)).collect()
    }

    #[test]
    fn hours_are_cut_from_their_start_and_a_short_remainder_is_left_out() {
        let zone = tz("Europe/Samara");
        // 2026-12-09 is a Wednesday.
        let wednesday: Date = "2026-12-09".parse().unwrap();
        let slots = cut(&[span(3, "15:00", "16:05")], 20, &zone, wednesday, 1);
        assert_eq!(
            starts(&slots, &zone),
            [
                "2026-12-09T15:00:00+04:00",
                "2026-12-09T15:20:00+04:00",
                "2026-12-09T15:40:00+04:00",
            ]
        );
        assert_eq!(slots[1].ends_ms - slots[1].starts_ms, 20 * 60_000);
        // Other days of the week hold none of Wednesday's hours.
        assert!(
            cut(
                &[span(3, "15:00", "16:00")],
                20,
                &zone,
                "2026-12-10".parse().unwrap(),
                6
            )
            .is_empty()
        );
    }

    #[test]
    fn a_zone_without_daylight_saving_keeps_one_offset_all_year() {
        let zone = tz("Europe/Samara");
        let march: Date = "2027-03-22".parse().unwrap();
        let slots = cut(
            &[span(1, "02:00", "03:00"), span(1, "15:20", "15:40")],
            20,
            &zone,
            march,
            14,
        );
        let utc: Vec<i64> = slots
            .iter()
            .map(|s| (s.starts_ms / 60_000).rem_euclid(24 * 60))
            .collect();
        // 02:00, 02:20, 02:40 and 15:20 local, each Monday: 22:00, 22:20, 22:40 and 11:20 UTC.
        assert_eq!(
            utc,
            [22 * 60, 22 * 60 + 20, 22 * 60 + 40, 11 * 60 + 20].repeat(2)
        );
    }

    #[test]
    fn a_slot_keeps_its_local_time_across_a_change_of_daylight_saving_time() {
        let zone = tz("Europe/Berlin");
        // Summer time begins on Sunday 2027-03-28 at 02:00, which becomes 03:00.
        let before: Date = "2027-03-24".parse().unwrap();
        let slots = cut(&[span(3, "15:20", "15:40")], 20, &zone, before, 14);
        assert_eq!(
            starts(&slots, &zone),
            ["2027-03-24T15:20:00+01:00", "2027-03-31T15:20:00+02:00"]
        );
        assert_eq!(
            slots[1].starts_ms - slots[0].starts_ms,
            (7 * 24 - 1) * 3_600_000
        );
    }

    #[test]
    fn a_skipped_local_time_has_no_slot_and_a_repeated_one_is_the_first() {
        let zone = tz("Europe/Berlin");
        let spring: Date = "2027-03-28".parse().unwrap();
        let slots = cut(&[span(7, "01:30", "03:30")], 30, &zone, spring, 1);
        // 02:00 and 02:30 do not exist that night.
        assert_eq!(
            starts(&slots, &zone),
            ["2027-03-28T01:30:00+01:00", "2027-03-28T03:00:00+02:00",]
        );
        // Winter time: 02:00-03:00 happens twice on 2026-10-25; the slot is the first.
        let autumn: Date = "2026-10-25".parse().unwrap();
        let slots = cut(&[span(7, "02:00", "02:30")], 30, &zone, autumn, 1);
        assert_eq!(starts(&slots, &zone), ["2026-10-25T02:00:00+02:00"]);
    }

    #[test]
    fn overlapping_spans_give_each_start_once() {
        let zone = tz("Europe/Moscow");
        let wednesday: Date = "2026-12-09".parse().unwrap();
        let slots = cut(
            &[span(3, "15:00", "16:00"), span(3, "15:30", "16:30")],
            30,
            &zone,
            wednesday,
            1,
        );
        assert_eq!(
            starts(&slots, &zone),
            [
                "2026-12-09T15:00:00+03:00",
                "2026-12-09T15:30:00+03:00",
                "2026-12-09T16:00:00+03:00",
            ]
        );
    }

    #[test]
    fn starts_parse_with_any_offset() {
        let zone = tz("Europe/Samara");
        let a = parse_start("2026-12-09T15:20:00+04:00").unwrap();
        assert_eq!(parse_start("2026-12-09T11:20:00Z"), Some(a));
        assert_eq!(iso(a, &zone), "2026-12-09T15:20:00+04:00");
        assert_eq!(parse_start("Wednesday 15:20"), None);
        assert_eq!(local_date(a, &zone), "2026-12-09".parse::<Date>().unwrap());
        assert_eq!(
            iso(day_start_ms(local_date(a, &zone), &zone), &zone),
            "2026-12-09T00:00:00+04:00"
        );
    }
}
