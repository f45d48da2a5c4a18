//! `GET /help`: the school's public page on how students get help (items 6 and 14 of the
//! regulation): the six forms, who helps with what and when, and useful links. No login; plain
//! HTML that reads well on a parent's phone. `GET /api/help` gives the same as JSON. With
//! several schools each has its page at `/s/<code>/help` (and `/api/help?school=<code>`), and
//! `/help` lists the schools.

use super::error::ApiError;
use crate::app::App;
use crate::store::schools::School;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse};
use konsult_protocol::ErrorCode;
use konsult_protocol::model::{HoursSlot, Mode, Role};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
pub struct Lang {
    lang: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SchoolQuery {
    school: Option<String>,
}

/// The school a page is about: the one named, else the only one. `None` when several schools
/// and none named.
async fn chosen(app: &App, code: Option<&str>) -> Result<Option<School>, ApiError> {
    match crate::schools::resolve(&app.store, code).await {
        Ok(school) => Ok(Some(school)),
        Err(crate::schools::ResolveError::Ambiguous(_)) => Ok(None),
        Err(crate::schools::ResolveError::Store(e)) => Err(e.into()),
        Err(e) => Err(ApiError::new(ErrorCode::NotFound, e.to_string())),
    }
}

/// The school's name on its page: its own, else `school.name`.
fn school_name(app: &App, school: &School) -> String {
    if school.name.is_empty() {
        app.config.school.name.clone()
    } else {
        school.name.clone()
    }
}

/// One staff member as the page lists them.
struct Helper {
    name: String,
    role: Role,
    subjects: Vec<String>,
    hours: Vec<HoursSlot>,
}

async fn helpers(app: &App, school: &School) -> Result<Vec<Helper>, ApiError> {
    let users = app.store.active_users(school.id).await?;
    let hours: HashMap<_, _> = app.store.all_hours(school.id).await?.into_iter().collect();
    let mut out: Vec<Helper> = users
        .into_iter()
        .filter(|u| u.role.is_staff())
        .map(|u| Helper {
            hours: hours.get(&u.id).cloned().unwrap_or_default(),
            name: u.name,
            role: u.role,
            subjects: u.subjects,
        })
        .collect();
    out.sort_by(|a, b| (a.role != Role::Teacher, &a.name).cmp(&(b.role != Role::Teacher, &b.name)));
    Ok(out)
}

pub async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("help.css"),
    )
}

pub async fn json(
    State(app): State<Arc<App>>,
    Query(query): Query<SchoolQuery>,
) -> Result<Json<Value>, ApiError> {
    let Some(school) = chosen(&app, query.school.as_deref()).await? else {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "this server has several schools: name one with ?school=<code> (GET /api/schools)",
        ));
    };
    let names: HashMap<String, String> = app.store.subjects(school.id).await?.into_iter().collect();
    let staff: Vec<Value> = helpers(&app, &school)
        .await?
        .into_iter()
        .map(|h| {
            json!({
                "name": h.name,
                "role": h.role,
                "subjects": h.subjects.iter().map(|s| json!({"code": s, "name": names.get(s).unwrap_or(s)})).collect::<Vec<_>>(),
                "hours": h.hours,
            })
        })
        .collect();
    let timezone = if school.timezone.is_empty() {
        app.config.school.timezone.clone()
    } else {
        school.timezone.clone()
    };
    Ok(Json(json!({
        "school": school_name(&app, &school),
        "code": school.code,
        "timezone": timezone,
        "staff": staff,
        "links": app.store.help_links(school.id).await?,
    })))
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page's words in one language.
struct Words {
    lang: &'static str,
    title: &'static str,
    lead: &'static str,
    other: (&'static str, &'static str),
    forms_title: &'static str,
    form: &'static str,
    online: &'static str,
    offline: &'static str,
    individual: (&'static str, &'static str, &'static str),
    group: (&'static str, &'static str, &'static str),
    frontal: (&'static str, &'static str, &'static str),
    who_title: &'static str,
    who_lead: &'static str,
    psychologist: &'static str,
    no_hours: &'static str,
    hours_online: &'static str,
    hours_offline: &'static str,
    days: [&'static str; 7],
    how_title: &'static str,
    how: [&'static str; 4],
    links_title: &'static str,
    regulation: &'static str,
    login: &'static str,
    footer: &'static str,
    choose_school: &'static str,
}

const RU: Words = Words {
    lang: "ru",
    title: "Как получить помощь",
    lead: "Каждый ученик имеет право на учебно-методическую помощь: от учителей, школьного психолога и администрации. Помощь бывает живой (видеосвязь) и письменной (чат, сообщения, файлы).",
    other: ("?lang=en", "English"),
    forms_title: "Формы консультаций",
    form: "Форма",
    online: "Онлайн (видео)",
    offline: "Офлайн (переписка)",
    individual: (
        "Индивидуальная",
        "Ученик и учитель один на один по видео. Нажмите «Попросить помощь», выберите предмет — система найдёт свободного учителя.",
        "Личный чат с учителем: вопрос, фото домашней работы, файлы. Ответ придёт, даже если сейчас никто не в сети.",
    ),
    group: (
        "Групповая",
        "Учитель проводит встречу для нескольких учеников; каждый может говорить и показывать экран.",
        "Групповой чат учителя и учеников.",
    ),
    frontal: (
        "Фронтальная",
        "Учитель ведёт занятие для всего класса; ученик говорит, когда учитель даёт ему слово (поднимите руку).",
        "Чат класса с учителем.",
    ),
    who_title: "Кто помогает",
    who_lead: "Учителя по предметам, школьный психолог (консультации конфиденциальны) и администрация.",
    psychologist: "Школьный психолог",
    no_hours: "Часы консультаций не указаны: можно писать в любое время.",
    hours_online: "онлайн",
    hours_offline: "переписка",
    days: ["Пн", "Вт", "Ср", "Чт", "Пт", "Сб", "Вс"],
    how_title: "Как попросить помощь",
    how: [
        "Войдите в Konsult под своим логином (его выдаёт классный руководитель).",
        "Нажмите «Попросить помощь», выберите предмет, форму и коротко опишите вопрос.",
        "Если учитель свободен — начнётся консультация; если нет — вы увидите своё место в очереди.",
        "Если никого нет в сети, вопрос станет чатом, и учитель ответит, как только сможет.",
    ],
    links_title: "Полезные ссылки",
    regulation: "Порядок оказания учебно-методической помощи обучающимся",
    login: "Войти в Konsult",
    footer: "Данные учеников хранятся на сервере школы.",
    choose_school: "Выберите школу",
};

const EN: Words = Words {
    lang: "en",
    title: "How to get help",
    lead: "Every student has the right to help with their studies: from teachers, the school psychologist and the administration. Help is live (video) or written (chat, messages, files).",
    other: ("?lang=ru", "Русский"),
    forms_title: "Forms of consultation",
    form: "Form",
    online: "Online (video)",
    offline: "Offline (written)",
    individual: (
        "Individual",
        "A student and a teacher one to one by video. Press \"Ask for help\" and choose the subject: Konsult finds a free teacher.",
        "A personal chat with a teacher: a question, a photo of homework, files. The answer comes even when nobody is online now.",
    ),
    group: (
        "Group",
        "A teacher meets a few students; everyone can speak and share their screen.",
        "A group chat of the teacher and students.",
    ),
    frontal: (
        "Whole class",
        "A teacher leads a session for the whole class; a student speaks when given the floor (raise your hand).",
        "The class chat with its teacher.",
    ),
    who_title: "Who helps",
    who_lead: "Subject teachers, the school psychologist (consultations are confidential) and the administration.",
    psychologist: "School psychologist",
    no_hours: "No consultation hours set: write any time.",
    hours_online: "online",
    hours_offline: "written",
    days: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    how_title: "How to ask for help",
    how: [
        "Sign in to Konsult with your login (your class teacher gives it to you).",
        "Press \"Ask for help\", choose the subject and the form, and describe your question briefly.",
        "If a teacher is free, the consultation starts; if not, you see your place in the queue.",
        "If nobody is online, your question becomes a chat and a teacher answers as soon as they can.",
    ],
    links_title: "Useful links",
    regulation: "The school's procedure for helping students",
    login: "Sign in to Konsult",
    footer: "Student data stays on the school's server.",
    choose_school: "Choose your school",
};

fn words(lang: &Lang) -> &'static Words {
    if lang.lang.as_deref() == Some("en") {
        &EN
    } else {
        &RU
    }
}

/// `GET /help`: the school's page; with several schools, the list of their pages.
pub async fn page(
    State(app): State<Arc<App>>,
    Query(lang): Query<Lang>,
) -> Result<Html<String>, ApiError> {
    let w = words(&lang);
    match chosen(&app, None).await {
        Ok(Some(school)) => school_page(&app, &school, "/", w).await,
        Ok(None) | Err(_) => school_list(&app, w).await,
    }
}

/// `GET /s/{code}/help`: one school's page.
pub async fn page_of(
    State(app): State<Arc<App>>,
    Path(code): Path<String>,
    Query(lang): Query<Lang>,
) -> Result<Html<String>, ApiError> {
    let Some(school) = chosen(&app, Some(&code)).await? else {
        return Err(ApiError::new(ErrorCode::NotFound, "no such school"));
    };
    let home = format!("/s/{}/", school.code);
    school_page(&app, &school, &home, words(&lang)).await
}

/// The schools of this server, each with a link to its page.
async fn school_list(app: &App, w: &Words) -> Result<Html<String>, ApiError> {
    let mut html = String::with_capacity(4 * 1024);
    html.push_str(&format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><link rel=\"stylesheet\" href=\"/help.css\"></head><body>\
         <header><div><h1>{title}</h1><p class=\"lead\">{choose}</p></div>\
         <nav><a href=\"{other_href}\">{other}</a></nav></header><main><section><ul class=\"schools\">",
        lang = w.lang,
        title = w.title,
        choose = w.choose_school,
        other_href = w.other.0,
        other = w.other.1,
    ));
    for school in app.store.schools().await? {
        html.push_str(&format!(
            "<li><a href=\"/s/{code}/help{query}\">{name}</a></li>",
            code = esc(&school.code),
            query = if w.lang == "en" { "?lang=en" } else { "" },
            name = esc(&school_name(app, &school)),
        ));
    }
    html.push_str(&format!(
        "</ul></section></main><footer>{}</footer></body></html>",
        w.footer
    ));
    Ok(Html(html))
}

/// One school's page; `home` is where its web client is served.
async fn school_page(
    app: &App,
    school: &School,
    home: &str,
    w: &Words,
) -> Result<Html<String>, ApiError> {
    let names: HashMap<String, String> = app.store.subjects(school.id).await?.into_iter().collect();
    let subject_name = |code: &str| {
        if code == konsult_signaling::SUPPORT_SUBJECT {
            w.psychologist.to_string()
        } else {
            names.get(code).cloned().unwrap_or_else(|| code.to_string())
        }
    };
    let school_id = school.id;
    let helpers = helpers(app, school).await?;
    let school = esc(&school_name(app, school));
    let mut html = String::with_capacity(16 * 1024);
    html.push_str(&format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} — {school}</title><link rel=\"stylesheet\" href=\"/help.css\"></head><body>\
         <header><div><h1>{title}</h1><p class=\"lead\">{school}</p></div>\
         <nav><a href=\"{other_href}\" hreflang=\"{other_lang}\">{other}</a></nav></header><main>\
         <section><p>{lead}</p><a class=\"cta\" href=\"{home}\">{login}</a></section>",
        lang = w.lang,
        title = w.title,
        lead = w.lead,
        other_href = w.other.0,
        other_lang = if w.lang == "ru" { "en" } else { "ru" },
        other = w.other.1,
        login = w.login,
        home = esc(home),
    ));
    html.push_str(&format!(
        "<section><h2>{}</h2><table><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th>\
         <th scope=\"col\">{}</th></tr></thead><tbody>",
        w.forms_title, w.form, w.online, w.offline
    ));
    for (name, online, offline) in [w.individual, w.group, w.frontal] {
        html.push_str(&format!(
            "<tr><th scope=\"row\">{name}</th><td>{online}</td><td>{offline}</td></tr>"
        ));
    }
    html.push_str("</tbody></table></section>");
    html.push_str(&format!(
        "<section><h2>{}</h2><ol>{}</ol></section>",
        w.how_title,
        w.how
            .iter()
            .map(|s| format!("<li>{s}</li>"))
            .collect::<String>()
    ));
    html.push_str(&format!(
        "<section><h2>{}</h2><p class=\"muted\">{}</p><div class=\"staff\">",
        w.who_title, w.who_lead
    ));
    for helper in helpers {
        let subjects = if helper.role == Role::Support {
            w.psychologist.to_string()
        } else {
            helper
                .subjects
                .iter()
                .map(|s| esc(&subject_name(s)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let hours = if helper.hours.is_empty() {
            format!("<p class=\"muted\">{}</p>", w.no_hours)
        } else {
            let items: String = helper
                .hours
                .iter()
                .map(|h| {
                    format!(
                        "<li>{} {}–{}, {} ({})</li>",
                        w.days[usize::from(h.weekday.clamp(1, 7) - 1)],
                        esc(&h.start),
                        esc(&h.end),
                        esc(&subject_name(&h.subject)),
                        if h.mode == Mode::Online {
                            w.hours_online
                        } else {
                            w.hours_offline
                        }
                    )
                })
                .collect();
            format!("<ul class=\"muted\">{items}</ul>")
        };
        html.push_str(&format!(
            "<div class=\"person\"><strong>{}</strong><span class=\"muted\">{}</span>{}</div>",
            esc(&helper.name),
            subjects,
            hours
        ));
    }
    html.push_str("</div></section>");
    html.push_str(&format!("<section><h2>{}</h2><ul>", w.links_title));
    for link in app.store.help_links(school_id).await? {
        html.push_str(&format!(
            "<li><a href=\"{}\" rel=\"noopener noreferrer\">{}</a></li>",
            esc(&link.url),
            esc(&link.title)
        ));
    }
    html.push_str(&format!(
        "<li><a href=\"/help/regulation\">{}</a></li></ul></section></main><footer>{}</footer></body></html>",
        w.regulation, w.footer
    ));
    Ok(Html(html))
}

/// The regulation Konsult implements, as the school adopted it.
pub async fn regulation() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        include_str!("regulation.txt"),
    )
}
