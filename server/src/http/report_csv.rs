//! The report as a CSV file (`GET /api/consultations/summary` with `Accept: text/csv`): one
//! section per table and per chart of the screen, each a title line, a header line and its
//! rows, with a blank line between sections, worded in Russian or English; lines end in CRLF.
//! Subjects are named as the school's subjects list names them, with their code beside.

use super::record_view::inert;
use super::report::{CONFIDENTIAL, Report, Tally};
use konsult_config::Language;
use std::collections::HashMap;

/// The words of the file, in one language.
struct Words {
    title: &'static str,
    by_form: &'static str,
    by_teacher: &'static str,
    by_month: &'static str,
    form: &'static str,
    teacher: &'static str,
    month: &'static str,
    week: &'static str,
    subject: &'static str,
    code: &'static str,
    all: &'static str,
    tally: [&'static str; 6],
    weekly_by_form: &'static str,
    wait_by_subject: &'static str,
    wait: [&'static str; 3],
    load_by_teacher: &'static str,
    load: [&'static str; 3],
    offline_answered: &'static str,
    offline: [&'static str; 5],
    confidential: &'static str,
    forms: [&'static str; 3],
    modes: [&'static str; 2],
}

const RU: Words = Words {
    title: "Отчёт о консультациях",
    by_form: "По формам",
    by_teacher: "По учителям",
    by_month: "По месяцам",
    form: "Форма",
    teacher: "Учитель",
    month: "Месяц",
    week: "Неделя (с понедельника)",
    subject: "Предмет",
    code: "Код предмета",
    all: "Всего",
    tally: [
        "Всего",
        "Состоялось",
        "Отложено",
        "Отменено",
        "Идёт",
        "Минут",
    ],
    weekly_by_form: "Консультации по неделям и формам",
    wait_by_subject: "Время ожидания по предметам",
    wait: ["Запросов", "Медиана, с", "90-й процентиль, с"],
    load_by_teacher: "Нагрузка по учителям",
    load: ["Консультаций", "Состоялось", "Минут"],
    offline_answered: "Офлайн-вопросы: ответ в течение суток",
    offline: [
        "Задано",
        "Ответ в течение суток",
        "Ответ позже",
        "Без ответа",
        "В течение суток, %",
    ],
    confidential: "служба сопровождения (конфиденциально)",
    forms: ["Индивидуальная", "Групповая", "Фронтальная"],
    modes: ["онлайн", "офлайн"],
};

const EN: Words = Words {
    title: "Consultation report",
    by_form: "By form",
    by_teacher: "By teacher",
    by_month: "By month",
    form: "Form",
    teacher: "Teacher",
    month: "Month",
    week: "Week (from Monday)",
    subject: "Subject",
    code: "Subject code",
    all: "Total",
    tally: [
        "Total",
        "Held",
        "Deferred",
        "Cancelled",
        "In progress",
        "Minutes",
    ],
    weekly_by_form: "Consultations per week by form",
    wait_by_subject: "Waiting time by subject",
    wait: ["Requests", "Median, s", "90th percentile, s"],
    load_by_teacher: "Load per teacher",
    load: ["Consultations", "Held", "Minutes"],
    offline_answered: "Offline questions answered within a day",
    offline: [
        "Asked",
        "Answered within a day",
        "Answered later",
        "Unanswered",
        "Within a day, %",
    ],
    confidential: "support service (confidential)",
    forms: ["Individual", "Group", "Whole class"],
    modes: ["online", "offline"],
};

impl Words {
    fn of(language: Language) -> &'static Words {
        match language {
            Language::Ru => &RU,
            Language::En => &EN,
        }
    }

    /// `individual online` as "Individual, online".
    fn form(&self, key: &str) -> String {
        let (form, mode) = key.split_once(' ').unwrap_or((key, ""));
        let form = match form {
            "individual" => self.forms[0],
            "group" => self.forms[1],
            "frontal" => self.forms[2],
            other => other,
        };
        let mode = match mode {
            "online" => self.modes[0],
            "offline" => self.modes[1],
            other => other,
        };
        format!("{form}, {mode}")
    }

    /// A teacher or subject key as people read it.
    fn key(&self, key: &str) -> String {
        match key {
            CONFIDENTIAL => self.confidential.to_string(),
            "-" => "—".to_string(),
            other => other.to_string(),
        }
    }
}

/// The school's subjects by code, with the names its administration gave them.
#[derive(Debug)]
pub struct SubjectNames(HashMap<String, String>);

impl SubjectNames {
    /// From the school's subjects list (`code`, `name`). A name equal to its code is no name:
    /// the store keeps a subject first met in an account's list that way.
    pub fn new(subjects: Vec<(String, String)>) -> SubjectNames {
        SubjectNames(
            subjects
                .into_iter()
                .filter(|(code, name)| !name.trim().is_empty() && name != code)
                .collect(),
        )
    }

    /// A subject key of the report as two cells: its name (the school's, else the code) and
    /// its code; the confidential line and a consultation without a subject have no code.
    fn cells(&self, w: &Words, key: &str) -> [String; 2] {
        match key {
            CONFIDENTIAL | "-" => [w.key(key), String::new()],
            code => [
                self.0
                    .get(code)
                    .cloned()
                    .unwrap_or_else(|| code.to_string()),
                code.to_string(),
            ],
        }
    }
}

/// Lines of cells, written as one CSV file.
struct Sheet(String);

impl Sheet {
    fn line<I: IntoIterator<Item = String>>(&mut self, cells: I) {
        let mut line = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::new());
        // Writing to memory does not fail.
        let _ = line.write_record(cells.into_iter().map(inert));
        let bytes = line.into_inner().unwrap_or_default();
        self.0.push_str(&String::from_utf8_lossy(&bytes));
    }

    /// A line with no cell at all (a record of one empty cell would be written `""`).
    fn blank(&mut self) {
        self.0.push_str("\r\n");
    }

    fn section(&mut self, title: &str, header: Vec<String>) {
        self.blank();
        self.line([title.to_string()]);
        self.line(header);
    }
}

fn counts(tally: &Tally) -> [String; 6] {
    [
        tally.total,
        tally.held,
        tally.deferred,
        tally.cancelled,
        tally.in_progress,
        tally.minutes,
    ]
    .map(|n| n.to_string())
}

fn header(first: &str, rest: &[&str]) -> Vec<String> {
    std::iter::once(first)
        .chain(rest.iter().copied())
        .map(String::from)
        .collect()
}

/// The report as CSV text, starting with a byte order mark so that spreadsheets read the
/// Cyrillic text as UTF-8. `span` names the dates the report covers; `subjects` names the
/// subjects as the report's charts do.
pub fn write(report: &Report, language: Language, span: &str, subjects: &SubjectNames) -> String {
    let w = Words::of(language);
    let mut sheet = Sheet(String::from("\u{feff}"));
    sheet.line([w.title.to_string(), span.to_string()]);

    sheet.section(w.by_form, header(w.form, &w.tally));
    for tally in &report.by_form {
        sheet.line(std::iter::once(w.form(&tally.key)).chain(counts(tally)));
    }
    sheet.line(std::iter::once(w.all.to_string()).chain(counts(&report.total)));
    for (title, first, tallies) in [
        (w.by_teacher, w.teacher, &report.by_teacher),
        (w.by_month, w.month, &report.by_month),
    ] {
        sheet.section(title, header(first, &w.tally));
        for tally in tallies {
            sheet.line(std::iter::once(w.key(&tally.key)).chain(counts(tally)));
        }
    }

    let charts = &report.charts;
    let weekly = &charts.weekly_by_form;
    let forms: Vec<String> = weekly.series.iter().map(|s| w.form(&s.form)).collect();
    sheet.section(
        w.weekly_by_form,
        std::iter::once(w.week.to_string()).chain(forms).collect(),
    );
    for (at, week) in weekly.weeks.iter().enumerate() {
        let cells = weekly.series.iter().map(|s| s.counts[at].to_string());
        sheet.line(std::iter::once(week.clone()).chain(cells));
    }

    sheet.section(
        w.wait_by_subject,
        [w.subject, w.code]
            .into_iter()
            .chain(w.wait)
            .map(String::from)
            .collect(),
    );
    for line in &charts.wait_by_subject {
        sheet.line(subjects.cells(w, &line.subject).into_iter().chain([
            line.requests.to_string(),
            line.median_secs.to_string(),
            line.p90_secs.to_string(),
        ]));
    }

    sheet.section(w.load_by_teacher, header(w.teacher, &w.load));
    for line in &charts.load_by_teacher {
        sheet.line([
            w.key(&line.teacher),
            line.consultations.to_string(),
            line.held.to_string(),
            line.minutes.to_string(),
        ]);
    }

    sheet.section(w.offline_answered, header(w.week, &w.offline));
    for line in &charts.offline_answered {
        sheet.line([
            line.week.clone(),
            line.asked.to_string(),
            line.within_day.to_string(),
            line.later.to_string(),
            line.unanswered.to_string(),
            line.within_day_percent.to_string(),
        ]);
    }

    sheet.0
}
