//! The browser client: every file of `web/`, embedded in the binary and served from one table.

use crate::app::App;
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

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

/// Every file of the client. A new file is one more line here.
const FILES: &[WebFile] = &[
    WebFile {
        path: "/",
        content_type: HTML,
        body: include_str!("../../web/index.html"),
    },
    WebFile {
        path: "/style.css",
        content_type: CSS,
        body: include_str!("../../web/style.css"),
    },
    WebFile {
        path: "/app.js",
        content_type: JS,
        body: include_str!("../../web/app.js"),
    },
    WebFile {
        path: "/dom.js",
        content_type: JS,
        body: include_str!("../../web/dom.js"),
    },
    WebFile {
        path: "/i18n.js",
        content_type: JS,
        body: include_str!("../../web/i18n.js"),
    },
    WebFile {
        path: "/ws.js",
        content_type: JS,
        body: include_str!("../../web/ws.js"),
    },
    WebFile {
        path: "/student.js",
        content_type: JS,
        body: include_str!("../../web/student.js"),
    },
    WebFile {
        path: "/teacher.js",
        content_type: JS,
        body: include_str!("../../web/teacher.js"),
    },
    WebFile {
        path: "/create.js",
        content_type: JS,
        body: include_str!("../../web/create.js"),
    },
    WebFile {
        path: "/session.js",
        content_type: JS,
        body: include_str!("../../web/session.js"),
    },
    WebFile {
        path: "/media.js",
        content_type: JS,
        body: include_str!("../../web/media.js"),
    },
    WebFile {
        path: "/chat.js",
        content_type: JS,
        body: include_str!("../../web/chat.js"),
    },
    WebFile {
        path: "/hours.js",
        content_type: JS,
        body: include_str!("../../web/hours.js"),
    },
    WebFile {
        path: "/admin",
        content_type: HTML,
        body: include_str!("../../web/admin.html"),
    },
    WebFile {
        path: "/admin.js",
        content_type: JS,
        body: include_str!("../../web/admin.js"),
    },
    WebFile {
        path: "/admin.css",
        content_type: CSS,
        body: include_str!("../../web/admin.css"),
    },
    WebFile {
        path: "/admin/words.js",
        content_type: JS,
        body: include_str!("../../web/admin/words.js"),
    },
    WebFile {
        path: "/admin/api.js",
        content_type: JS,
        body: include_str!("../../web/admin/api.js"),
    },
    WebFile {
        path: "/admin/page.js",
        content_type: JS,
        body: include_str!("../../web/admin/page.js"),
    },
    WebFile {
        path: "/admin/dialogs.js",
        content_type: JS,
        body: include_str!("../../web/admin/dialogs.js"),
    },
    WebFile {
        path: "/admin/directories.js",
        content_type: JS,
        body: include_str!("../../web/admin/directories.js"),
    },
    WebFile {
        path: "/admin/users.js",
        content_type: JS,
        body: include_str!("../../web/admin/users.js"),
    },
    WebFile {
        path: "/admin/import.js",
        content_type: JS,
        body: include_str!("../../web/admin/import.js"),
    },
    WebFile {
        path: "/admin/classes.js",
        content_type: JS,
        body: include_str!("../../web/admin/classes.js"),
    },
    WebFile {
        path: "/admin/record.js",
        content_type: JS,
        body: include_str!("../../web/admin/record.js"),
    },
    WebFile {
        path: "/admin/summary.js",
        content_type: JS,
        body: include_str!("../../web/admin/summary.js"),
    },
    WebFile {
        path: "/admin/links.js",
        content_type: JS,
        body: include_str!("../../web/admin/links.js"),
    },
    WebFile {
        path: "/admin/audit.js",
        content_type: JS,
        body: include_str!("../../web/admin/audit.js"),
    },
];

/// Routes for the web client's files.
pub fn routes() -> Router<Arc<App>> {
    FILES.iter().fold(Router::new(), |router, file| {
        router.route(
            file.path,
            get(move |headers: HeaderMap| serve(file, headers)),
        )
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
