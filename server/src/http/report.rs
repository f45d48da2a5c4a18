//! The administration's report, computed in one place from the consultation record: the
//! summary tables (by form, teacher and month) and the series of its four charts. The JSON of
//! `GET /api/consultations/summary` and its CSV (`report_csv`) are both written from a
//! [`Report`], so the charts and the file always show the same numbers.

use super::record_view::RecordView;
use serde::Serialize;
use std::collections::BTreeMap;

/// The key under which confidential consultations are counted instead of a teacher or a
/// subject.
pub const CONFIDENTIAL: &str = "support (confidential)";

/// Forms as the record writes them (`form mode`), in the order the report shows them.
pub const FORMS: [&str; 6] = [
    "individual online",
    "individual offline",
    "group online",
    "group offline",
    "frontal online",
    "frontal offline",
];

/// A deferred question counts as answered within a day when staff replied at most this long
/// after it was asked.
const DAY_SECS: i64 = 24 * 60 * 60;

/// One line of the summary: how many consultations and how they ended.
#[derive(Debug, Default, Serialize)]
pub struct Tally {
    pub key: String,
    pub total: u64,
    pub held: u64,
    pub deferred: u64,
    pub cancelled: u64,
    pub in_progress: u64,
    /// Minutes of live consultation held.
    pub minutes: u64,
}

impl Tally {
    fn keyed(key: String) -> Tally {
        Tally {
            key,
            ..Tally::default()
        }
    }

    fn add(&mut self, v: &RecordView) {
        self.total += 1;
        match v.outcome.as_str() {
            "held" => self.held += 1,
            "deferred" => self.deferred += 1,
            "cancelled" => self.cancelled += 1,
            _ => self.in_progress += 1,
        }
        self.minutes += minutes(v);
    }
}

fn minutes(v: &RecordView) -> u64 {
    v.duration_secs.unwrap_or(0).max(0) as u64 / 60
}

/// The whole report for a span of the record.
#[derive(Debug, Serialize)]
pub struct Report {
    pub total: Tally,
    /// Consultations a student asked for anonymously, counted and nothing more.
    pub anonymous: u64,
    pub by_form: Vec<Tally>,
    pub by_teacher: Vec<Tally>,
    pub by_month: Vec<Tally>,
    pub charts: Charts,
}

/// The series of the report's four charts.
#[derive(Debug, Serialize)]
pub struct Charts {
    pub weekly_by_form: WeeklyByForm,
    pub wait_by_subject: Vec<SubjectWait>,
    pub load_by_teacher: Vec<TeacherLoad>,
    pub offline_answered: Vec<OfflineWeek>,
}

/// Consultations per week, one series per form that occurs.
#[derive(Debug, Serialize)]
pub struct WeeklyByForm {
    /// The Monday of each week (the school's time zone), every week from the first
    /// consultation's to the last one's, empty weeks included.
    pub weeks: Vec<String>,
    pub series: Vec<FormSeries>,
}

#[derive(Debug, Serialize)]
pub struct FormSeries {
    /// `form mode`, as in `by_form`.
    pub form: String,
    /// One count per week of `weeks`.
    pub counts: Vec<u64>,
}

/// How long students of a subject waited for a teacher (`wait_secs` of the record).
#[derive(Debug, Serialize)]
pub struct SubjectWait {
    /// The subject's code, or [`CONFIDENTIAL`].
    pub subject: String,
    /// Consultations with a known wait.
    pub requests: u64,
    /// Nearest-rank median and 90th percentile, in seconds.
    pub median_secs: i64,
    pub p90_secs: i64,
}

/// What one staff member took on.
#[derive(Debug, Serialize)]
pub struct TeacherLoad {
    /// The staff member's name, or [`CONFIDENTIAL`].
    pub teacher: String,
    pub consultations: u64,
    pub held: u64,
    pub minutes: u64,
}

/// Deferred (offline) questions asked in one week and when staff answered them.
#[derive(Debug, Serialize)]
pub struct OfflineWeek {
    /// The week's Monday, as in `weekly_by_form`.
    pub week: String,
    pub asked: u64,
    /// Answered at most 24 hours after they were asked.
    pub within_day: u64,
    /// Answered, later than that.
    pub later: u64,
    pub unanswered: u64,
    /// `within_day` of `asked`, in whole percent (rounded); 0 for a week without questions.
    pub within_day_percent: u64,
}

/// The local date a consultation happened on: its start, else its request.
fn day(v: &RecordView) -> Option<jiff::civil::Date> {
    let at = v.started_at.as_deref().or(v.requested_at.as_deref())?;
    at.get(..10)?.parse().ok()
}

/// The Monday of the week of `date`.
fn monday(date: jiff::civil::Date) -> jiff::civil::Date {
    let back = i64::from(date.weekday().to_monday_zero_offset());
    date.checked_sub(jiff::Span::new().days(back))
        .unwrap_or(date)
}

/// The value at nearest rank `percent` of sorted `values` (not empty).
fn rank(sorted: &[i64], percent: usize) -> i64 {
    let n = sorted.len();
    let at = (percent * n).div_ceil(100).clamp(1, n);
    sorted[at - 1]
}

fn teacher_key(v: &RecordView) -> Option<String> {
    if v.confidential {
        Some(CONFIDENTIAL.to_string())
    } else {
        v.staff.clone()
    }
}

/// Computes the report from the records a filter selected.
pub fn compute(views: &[RecordView]) -> Report {
    let mut by_form: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_teacher: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_month: BTreeMap<String, Tally> = BTreeMap::new();
    let mut total = Tally::keyed("all".into());
    for view in views {
        let form = format!("{} {}", view.form, view.mode);
        let teacher = teacher_key(view).unwrap_or_else(|| "-".into());
        let month = view
            .started_at
            .as_deref()
            .or(view.requested_at.as_deref())
            .map(|t| t.chars().take(7).collect())
            .unwrap_or_else(|| "-".to_string());
        for (map, key) in [
            (&mut by_form, form),
            (&mut by_teacher, teacher),
            (&mut by_month, month),
        ] {
            map.entry(key.clone())
                .or_insert_with(|| Tally::keyed(key))
                .add(view);
        }
        total.add(view);
    }
    Report {
        total,
        anonymous: views.iter().filter(|v| v.anonymous).count() as u64,
        by_form: by_form.into_values().collect(),
        by_teacher: by_teacher.into_values().collect(),
        by_month: by_month.into_values().collect(),
        charts: Charts {
            weekly_by_form: weekly_by_form(views),
            wait_by_subject: wait_by_subject(views),
            load_by_teacher: load_by_teacher(views),
            offline_answered: offline_answered(views),
        },
    }
}

/// Every week from the first consultation's to the last one's.
fn weeks(views: &[RecordView]) -> Vec<jiff::civil::Date> {
    let mut days = views.iter().filter_map(day).map(monday);
    let Some(first) = days.next() else {
        return Vec::new();
    };
    let (first, last) = days.fold((first, first), |(lo, hi), d| (lo.min(d), hi.max(d)));
    let mut weeks = Vec::new();
    let mut week = first;
    while week <= last {
        weeks.push(week);
        match week.checked_add(jiff::Span::new().days(7)) {
            Ok(next) => week = next,
            Err(_) => break,
        }
    }
    weeks
}

fn week_index(weeks: &[jiff::civil::Date], v: &RecordView) -> Option<usize> {
    let week = monday(day(v)?);
    weeks.binary_search(&week).ok()
}

fn weekly_by_form(views: &[RecordView]) -> WeeklyByForm {
    let weeks = weeks(views);
    let mut counts: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for view in views {
        let Some(at) = week_index(&weeks, view) else {
            continue;
        };
        let form = format!("{} {}", view.form, view.mode);
        let Some(form) = FORMS.iter().find(|f| **f == form) else {
            continue;
        };
        counts.entry(form).or_insert_with(|| vec![0; weeks.len()])[at] += 1;
    }
    let series = FORMS
        .iter()
        .filter_map(|form| {
            counts.remove(form).map(|counts| FormSeries {
                form: (*form).to_string(),
                counts,
            })
        })
        .collect();
    WeeklyByForm {
        weeks: weeks.iter().map(ToString::to_string).collect(),
        series,
    }
}

fn wait_by_subject(views: &[RecordView]) -> Vec<SubjectWait> {
    let mut waits: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for view in views {
        let Some(wait) = view.wait_secs else { continue };
        let subject = if view.confidential {
            CONFIDENTIAL.to_string()
        } else {
            view.subject.clone().unwrap_or_else(|| "-".into())
        };
        waits.entry(subject).or_default().push(wait.max(0));
    }
    waits
        .into_iter()
        .map(|(subject, mut secs)| {
            secs.sort_unstable();
            SubjectWait {
                subject,
                requests: secs.len() as u64,
                median_secs: rank(&secs, 50),
                p90_secs: rank(&secs, 90),
            }
        })
        .collect()
}

fn load_by_teacher(views: &[RecordView]) -> Vec<TeacherLoad> {
    let mut load: BTreeMap<String, TeacherLoad> = BTreeMap::new();
    for view in views {
        let Some(teacher) = teacher_key(view) else {
            continue;
        };
        let line = load.entry(teacher.clone()).or_insert(TeacherLoad {
            teacher,
            consultations: 0,
            held: 0,
            minutes: 0,
        });
        line.consultations += 1;
        line.held += u64::from(view.outcome == "held");
        line.minutes += minutes(view);
    }
    load.into_values().collect()
}

fn offline_answered(views: &[RecordView]) -> Vec<OfflineWeek> {
    let weeks = weeks(views);
    let mut lines: Vec<OfflineWeek> = weeks
        .iter()
        .map(|week| OfflineWeek {
            week: week.to_string(),
            asked: 0,
            within_day: 0,
            later: 0,
            unanswered: 0,
            within_day_percent: 0,
        })
        .collect();
    for view in views.iter().filter(|v| v.outcome == "deferred") {
        let Some(at) = week_index(&weeks, view) else {
            continue;
        };
        let line = &mut lines[at];
        line.asked += 1;
        match view.answer_secs {
            Some(secs) if secs <= DAY_SECS => line.within_day += 1,
            Some(_) => line.later += 1,
            None => line.unanswered += 1,
        }
    }
    for line in &mut lines {
        line.within_day_percent = (line.within_day * 100 + line.asked / 2)
            .checked_div(line.asked)
            .unwrap_or(0);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(form: &str, at: &str, outcome: &str) -> RecordView {
        RecordView {
            id: 1,
            form: form.into(),
            mode: "online".into(),
            subject: Some("math".into()),
            topic: None,
            staff: Some("Anna".into()),
            students: Vec::new(),
            requested_at: Some(at.into()),
            started_at: None,
            ended_at: None,
            wait_secs: None,
            duration_secs: None,
            answered_at: None,
            answer_secs: None,
            outcome: outcome.into(),
            confidential: false,
            anonymous: false,
        }
    }

    #[test]
    fn weeks_start_on_monday_and_empty_weeks_are_kept() {
        let views = [
            view("individual", "2026-11-04T10:00:00+04:00", "held"),
            view("group", "2026-11-22T10:00:00+04:00", "held"),
        ];
        let weekly = weekly_by_form(&views);
        assert_eq!(weekly.weeks, ["2026-11-02", "2026-11-09", "2026-11-16"]);
        assert_eq!(weekly.series.len(), 2);
        assert_eq!(weekly.series[0].form, "individual online");
        assert_eq!(weekly.series[0].counts, [1, 0, 0]);
        assert_eq!(weekly.series[1].counts, [0, 0, 1]);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let secs: Vec<i64> = (1..=10).collect();
        assert_eq!(rank(&secs, 50), 5);
        assert_eq!(rank(&secs, 90), 9);
        assert_eq!(rank(&[7], 90), 7);
    }

    #[test]
    fn a_deferred_question_answered_in_a_day_counts_as_within_a_day() {
        let mut fast = view("individual", "2026-11-04T10:00:00+04:00", "deferred");
        fast.answer_secs = Some(DAY_SECS);
        let mut slow = view("individual", "2026-11-04T11:00:00+04:00", "deferred");
        slow.answer_secs = Some(DAY_SECS + 1);
        let open = view("individual", "2026-11-05T11:00:00+04:00", "deferred");
        let lines = offline_answered(&[fast, slow, open]);
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(
            (line.asked, line.within_day, line.later, line.unanswered),
            (3, 1, 1, 1)
        );
        assert_eq!(line.within_day_percent, 33);
    }
}
