//! The words the server says on its own, in the school's language (`school.language`): the
//! opening messages of a deferred request's thread and the results of polls, which the hub
//! hands over as what happened ([`OpeningText`]), and the dates they mention.

use crate::chat::OpeningRow;
use konsult_config::Language;
use konsult_protocol::model::PollKind;
use konsult_signaling::{OpeningMessage as Opening, OpeningText};

/// An opening message as stored in the thread; `None` when it cannot be worded (a date the
/// hub did not write).
pub fn opening(language: Language, opening: &Opening) -> Option<OpeningRow> {
    Some(OpeningRow {
        author: opening.author,
        text: opening_text(language, &opening.text)?,
        client_id: opening.client_id.clone(),
    })
}

fn opening_text(language: Language, text: &OpeningText) -> Option<String> {
    match text {
        OpeningText::Question(question) => Some(question.clone()),
        OpeningText::OutsideHours { next_available } => {
            let when = spoken(language, next_available)?;
            Some(match language {
                Language::Ru => format!(
                    "Автоответ: сейчас не время моих консультаций. Ближайшее — {when}. \
                     Ваш вопрос сохранён, я отвечу здесь."
                ),
                Language::En => format!(
                    "Automatic reply: this is not my consultation time. Next: {when}. \
                     Your question is saved; I will answer here."
                ),
            })
        }
        OpeningText::PollResult {
            question,
            kind,
            options,
            counts,
            voters,
        } => Some(poll_result(
            language,
            question,
            *kind,
            options,
            counts.as_deref(),
            *voters,
        )),
    }
}

/// A closed poll as its session's thread keeps it: the question, then each option with its
/// votes when the host published them, and how many voted.
fn poll_result(
    language: Language,
    question: &str,
    kind: PollKind,
    options: &[String],
    counts: Option<&[u32]>,
    voters: u32,
) -> String {
    let (poll, yes, no, voted, hidden) = match language {
        Language::Ru => (
            "Опрос",
            "Да",
            "Нет",
            "Проголосовали",
            "Итоги видел только ведущий.",
        ),
        Language::En => (
            "Poll",
            "Yes",
            "No",
            "Voted",
            "The results were shown to the host only.",
        ),
    };
    let names: Vec<&str> = match kind {
        PollKind::YesNo => vec![yes, no],
        _ => options.iter().map(String::as_str).collect(),
    };
    let mut text = format!("{poll}: {question}\n");
    match counts {
        Some(counts) => {
            for (name, n) in names.iter().zip(counts) {
                text.push_str(&format!("— {name}: {n}\n"));
            }
            text.push_str(&format!("{voted}: {voters}"));
        }
        None => {
            for name in &names {
                text.push_str(&format!("— {name}\n"));
            }
            text.push_str(&format!("{voted}: {voters}. {hidden}"));
        }
    }
    text
}

/// A local time as the hub writes it (`2026-12-02T15:30:00+03:00`), said as the school reads
/// it.
fn spoken(language: Language, iso: &str) -> Option<String> {
    match language {
        Language::Ru => spoken_ru(iso),
        Language::En => spoken_en(iso),
    }
}

/// A date and time read from the start of ISO 8601 text: the weekday (0 for Monday), the day,
/// the month (0 for January) and `HH:MM`.
fn civil(iso: &str) -> Option<(usize, i64, usize, &str)> {
    let number = |range: std::ops::Range<usize>| iso.get(range)?.parse::<i64>().ok();
    let (y, m, d) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let time = iso.get(11..16)?;
    let month = usize::try_from(m)
        .ok()?
        .checked_sub(1)
        .filter(|m| *m < 12)?;
    // Days from 1970-01-01 (a Thursday), from the proleptic Gregorian date.
    let (y, mp) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let weekday = (days + 3).rem_euclid(7) as usize;
    Some((weekday, d, month, time))
}

/// Said in Russian: "ср, 2 декабря, 15:30". `None` for text that is not such a time.
pub fn spoken_ru(iso: &str) -> Option<String> {
    const WEEKDAYS: [&str; 7] = ["пн", "вт", "ср", "чт", "пт", "сб", "вс"];
    const MONTHS: [&str; 12] = [
        "января",
        "февраля",
        "марта",
        "апреля",
        "мая",
        "июня",
        "июля",
        "августа",
        "сентября",
        "октября",
        "ноября",
        "декабря",
    ];
    let (weekday, d, month, time) = civil(iso)?;
    Some(format!(
        "{}, {d} {}, {time}",
        WEEKDAYS[weekday], MONTHS[month]
    ))
}

/// Said in English: "Wed, 2 December, 15:30". `None` for text that is not such a time.
pub fn spoken_en(iso: &str) -> Option<String> {
    const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let (weekday, d, month, time) = civil(iso)?;
    Some(format!(
        "{}, {d} {}, {time}",
        WEEKDAYS[weekday], MONTHS[month]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use konsult_protocol::UserId;

    #[test]
    fn times_are_said_with_weekday_day_and_month() {
        assert_eq!(
            spoken_ru("2026-12-02T15:30:00+03:00").as_deref(),
            Some("ср, 2 декабря, 15:30")
        );
        assert_eq!(
            spoken_ru("2024-02-29T08:05:00+00:00").as_deref(),
            Some("чт, 29 февраля, 08:05")
        );
        assert_eq!(
            spoken_ru("2027-01-04T00:00:00-05:00").as_deref(),
            Some("пн, 4 января, 00:00")
        );
        assert_eq!(spoken_ru("2026-13-02T15:30:00+03:00"), None);
        assert_eq!(spoken_ru("soon"), None);
        assert_eq!(
            spoken_en("2026-12-02T15:30:00+03:00").as_deref(),
            Some("Wed, 2 December, 15:30")
        );
        assert_eq!(spoken_en("2026-00-02T15:30:00+03:00"), None);
    }

    #[test]
    fn the_automatic_reply_is_worded_in_the_school_language() {
        let auto = Opening {
            author: UserId(2),
            text: OpeningText::OutsideHours {
                next_available: "2026-12-02T15:30:00+03:00".into(),
            },
            client_id: "request-7-auto".into(),
        };
        let ru = opening(Language::Ru, &auto).expect("worded");
        assert_eq!(
            ru.text,
            "Автоответ: сейчас не время моих консультаций. Ближайшее — ср, 2 декабря, 15:30. \
             Ваш вопрос сохранён, я отвечу здесь."
        );
        assert_eq!(
            (ru.author, ru.client_id.as_str()),
            (UserId(2), "request-7-auto")
        );
        let en = opening(Language::En, &auto).expect("worded");
        assert_eq!(
            en.text,
            "Automatic reply: this is not my consultation time. Next: Wed, 2 December, 15:30. \
             Your question is saved; I will answer here."
        );
        let poll = Opening {
            author: UserId(2),
            text: OpeningText::PollResult {
                question: "Понятна тема?".into(),
                kind: PollKind::YesNo,
                options: vec![],
                counts: Some(vec![3, 1]),
                voters: 4,
            },
            client_id: "poll:9:1".into(),
        };
        assert_eq!(
            opening(Language::Ru, &poll).map(|m| m.text).as_deref(),
            Some("Опрос: Понятна тема?\n— Да: 3\n— Нет: 1\nПроголосовали: 4")
        );
        let hidden = Opening {
            text: OpeningText::PollResult {
                question: "Which?".into(),
                kind: PollKind::Single,
                options: vec!["A".into(), "B".into()],
                counts: None,
                voters: 2,
            },
            ..poll
        };
        assert_eq!(
            opening(Language::En, &hidden).map(|m| m.text).as_deref(),
            Some("Poll: Which?\n— A\n— B\nVoted: 2. The results were shown to the host only.")
        );
        let question = Opening {
            author: UserId(5),
            text: OpeningText::Question("Как решать квадратные уравнения?".into()),
            client_id: "request-7".into(),
        };
        assert_eq!(
            opening(Language::En, &question).map(|m| m.text).as_deref(),
            Some("Как решать квадратные уравнения?")
        );
    }
}
