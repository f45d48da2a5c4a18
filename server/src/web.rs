//! The browser client: every file of `web/`, embedded in the binary and served from one table;
//! its pages also under `/s/<code>/`, where they sign into that school.

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file of the client.
struct WebFile {
    /// The URL path it is served at.
    path: &'static str,
    /// Its `Content-Type`.
    content_type: &'static str,
    /// Its bytes, embedded at build time.
    body: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// A [`WebFile`] served at `$path` from `web/$file`.
macro_rules! web_file {
    ($path:literal, $content_type:expr, $file:literal) => {
        WebFile {
            path: $path,
            content_type: $content_type,
            body: include_str!(concat!("../../web/", $file)),
        }
    };
}

/// Every file of the client. A new file is one more line here.
const FILES: &[WebFile] = &[
    web_file!("/", HTML, "index.html"),
    web_file!("/style.css", CSS, "style.css"),
    web_file!("/app.js", JS, "app.js"),
    web_file!("/dom.js", JS, "dom.js"),
    web_file!("/i18n.js", JS, "i18n.js"),
    web_file!("/ws.js", JS, "ws.js"),
    web_file!("/student.js", JS, "student.js"),
    web_file!("/teacher.js", JS, "teacher.js"),
    web_file!("/create.js", JS, "create.js"),
    web_file!("/session.js", JS, "session.js"),
    web_file!("/polls.js", JS, "polls.js"),
    web_file!("/stage.js", JS, "stage.js"),
    web_file!("/media.js", JS, "media.js"),
    web_file!("/chat.js", JS, "chat.js"),
    web_file!("/upload.js", JS, "upload.js"),
    web_file!("/hours.js", JS, "hours.js"),
    web_file!("/school.js", JS, "school.js"),
    web_file!("/locale.js", JS, "locale.js"),
    web_file!("/notify.js", JS, "notify.js"),
    web_file!("/slots.js", JS, "slots.js"),
    web_file!("/booking.js", JS, "booking.js"),
    web_file!("/day-bookings.js", JS, "day-bookings.js"),
    web_file!("/booking-rules.js", JS, "booking-rules.js"),
    web_file!("/calendar.js", JS, "calendar.js"),
    web_file!("/admin", HTML, "admin.html"),
    web_file!("/admin.js", JS, "admin.js"),
    web_file!("/admin.css", CSS, "admin.css"),
    web_file!("/admin/words.js", JS, "admin/words.js"),
    web_file!("/admin/api.js", JS, "admin/api.js"),
    web_file!("/admin/page.js", JS, "admin/page.js"),
    web_file!("/admin/dialogs.js", JS, "admin/dialogs.js"),
    web_file!("/admin/directories.js", JS, "admin/directories.js"),
    web_file!("/admin/users.js", JS, "admin/users.js"),
    web_file!("/admin/import.js", JS, "admin/import.js"),
    web_file!("/admin/import-progress.js", JS, "admin/import-progress.js"),
    web_file!("/admin/classes.js", JS, "admin/classes.js"),
    web_file!("/admin/record.js", JS, "admin/record.js"),
    web_file!("/admin/summary.js", JS, "admin/summary.js"),
    web_file!("/admin/links.js", JS, "admin/links.js"),
    web_file!("/admin/audit.js", JS, "admin/audit.js"),
    web_file!("/admin/charts.js", JS, "admin/charts.js"),
    web_file!(
        "/vendor/uplot/uPlot.iife.min.js",
        JS,
        "vendor/uplot/uPlot.iife.min.js"
    ),
    web_file!(
        "/vendor/uplot/uPlot.min.css",
        CSS,
        "vendor/uplot/uPlot.min.css"
    ),
    web_file!("/vendor/uplot/LICENSE", TEXT, "vendor/uplot/LICENSE"),
];

/// The pages served again under `/s/<code>`: the client reads the school from the address
/// (its files are loaded from the root).
const SCHOOL_PAGES: &[(&str, &str)] = &[
    ("/s/{code}", "/"),
    ("/s/{code}/", "/"),
    ("/s/{code}/admin", "/admin"),
];

/// Routes for the web client's files, for a router of any state.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let router = FILES.iter().fold(Router::new(), |router, file| {
        router.route(
            file.path,
            get(move |headers: HeaderMap| serve(file, headers)),
        )
    });
    SCHOOL_PAGES.iter().fold(router, |router, (route, page)| {
        match FILES.iter().find(|file| file.path == *page) {
            Some(file) => router.route(route, get(move |headers: HeaderMap| serve(file, headers))),
            None => router,
        }
    })
}

/// The files carry no version in their names, so browsers revalidate each load with the
/// `ETag` (a hash of the bytes) and get `304 Not Modified` while the binary is the same.
async fn serve(file: &'static WebFile, headers: HeaderMap) -> Response {
    let etag = format!("\"{:016x}\"", fnv1a(file.body.as_bytes()));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let etag = HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"0\""));
    let cache = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ETAG, etag),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (
        cache,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(file.content_type),
        )],
        file.body,
    )
        .into_response()
}

/// 64-bit FNV-1a: a cheap, stable content hash for the `ETag`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
