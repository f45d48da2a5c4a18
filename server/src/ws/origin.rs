//! The WebSocket `Origin` check: a browser page may open `/ws` only from the server's own
//! origin as the client reached it (the listener's scheme, the `Host` header's host and port)
//! or one of `server.allowed_origins`; scheme, host and port must all match.

use axum::http::{HeaderMap, header};

/// An origin as compared: scheme and host in lower case, the port made explicit.
#[derive(Debug, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

/// The port a scheme implies when none is written.
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// Splits `host[:port]` (an IPv6 host in brackets); the port defaults to the scheme's.
fn host_port(authority: &str, scheme: &str) -> Option<(String, u16)> {
    if authority.is_empty() || authority.contains(['/', '@', '?', '#']) {
        return None;
    }
    let (host, port) = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => {
            let port = authority[i + 1..].parse().ok()?;
            (&authority[..i], port)
        }
        _ => (authority, default_port(scheme)?),
    };
    if host.is_empty() {
        return None;
    }
    Some((host.to_ascii_lowercase(), port))
}

/// `scheme://host[:port]` (a trailing `/` tolerated), as a browser sends it in `Origin`.
fn parse(origin: &str) -> Option<Origin> {
    let (scheme, rest) = origin.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let (host, port) = host_port(rest.trim_end_matches('/'), &scheme)?;
    Some(Origin { scheme, host, port })
}

/// Whether the request's `Origin` may open a WebSocket on a listener serving `scheme`.
/// Clients that are not browsers send no `Origin` and are judged by their token alone.
pub fn allowed(headers: &HeaderMap, scheme: &str, allowed_origins: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some(origin) = origin.to_str().ok().and_then(parse) else {
        return false;
    };
    if allowed_origins
        .iter()
        .filter_map(|a| parse(a.as_str()))
        .any(|a| a == origin)
    {
        return true;
    }
    let own = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| host_port(h, scheme))
        .map(|(host, port)| Origin {
            scheme: scheme.to_string(),
            host,
            port,
        });
    own.is_some_and(|own| own == origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().expect("host"));
        if let Some(o) = origin {
            h.insert(header::ORIGIN, o.parse().expect("origin"));
        }
        h
    }

    #[test]
    fn scheme_host_and_port_must_all_match() {
        let allowed_list = vec!["https://portal.school.example".to_string()];
        let ok = |origin: Option<&str>, host: &str, scheme: &str| {
            allowed(&headers(origin, host), scheme, &allowed_list)
        };
        assert!(ok(None, "k:8080", "http"));
        assert!(ok(Some("http://k:8080"), "k:8080", "http"));
        assert!(ok(Some("HTTP://K:8080"), "k:8080", "http"));
        assert!(ok(Some("http://k"), "k:80", "http"));
        assert!(ok(Some("https://k"), "k", "https"));
        assert!(ok(Some("http://[::1]:8080"), "[::1]:8080", "http"));
        assert!(ok(Some("https://portal.school.example"), "k", "http"));
        assert!(ok(Some("https://portal.school.example:443"), "k", "http"));
        assert!(!ok(Some("http://portal.school.example"), "k", "http"));
        assert!(!ok(Some("https://k:8080"), "k:8080", "http"));
        assert!(!ok(Some("http://k:8080"), "k:8080", "https"));
        assert!(!ok(Some("http://k:8081"), "k:8080", "http"));
        assert!(!ok(Some("http://k"), "k:8080", "http"));
        assert!(!ok(Some("https://evil.example"), "k:8080", "http"));
        assert!(!ok(Some("http://[::1]:8081"), "[::1]:8080", "http"));
        assert!(!ok(Some("null"), "k:8080", "http"));
        assert!(!ok(Some("http://user@k:8080"), "k:8080", "http"));
    }
}
