//! Tokens from a school portal: a server configured with a portal's issuer and secret accepts
//! the tokens it signs and creates each user on first sight, so a test or a load can have as
//! many users of any role as it needs, far faster than password logins.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// A portal Konsult is configured to trust (`auth.portal_issuer`, `auth.portal_secret`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Portal {
    /// The issuer (`iss`) its tokens name.
    pub issuer: &'static str,
    /// The shared HS256 secret.
    pub secret: &'static str,
}

/// The portal of the black-box tests (`ServerOptions::with_portal`).
pub const TEST_PORTAL: Portal = Portal {
    issuer: "https://portal.school.example",
    secret: "portal-shared-secret-of-the-black-box-tests",
};

/// The portal the load generator configures Konsult with.
pub const BENCH_PORTAL: Portal = Portal {
    issuer: "konsult-bench",
    secret: "konsult-bench-portal-secret-not-for-production",
};

impl Portal {
    /// The `KONSULT_*` variables that make a server trust this portal.
    pub fn env(&self) -> [(&'static str, &'static str); 2] {
        [
            ("KONSULT_AUTH_PORTAL_ISSUER", self.issuer),
            ("KONSULT_AUTH_PORTAL_SECRET", self.secret),
        ]
    }

    /// A token for `who`, issued now and valid for `valid`.
    pub fn mint(&self, who: &Who, valid: Duration) -> String {
        let iat = unix_now();
        let claims = Claims {
            sub: &who.login,
            name: &who.login,
            role: &who.role,
            class: who.class.as_deref(),
            subjects: who.subjects.iter().map(String::as_str).collect(),
            iss: self.issuer,
            iat,
            exp: iat + valid.as_secs(),
        };
        // HS256 over a plain struct with a non-empty key does not fail.
        EncodingKey::from_secret(self.secret.as_bytes())
            .and_then(|key| jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key))
            .unwrap_or_default()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    name: &'a str,
    role: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    class: Option<&'a str>,
    subjects: Vec<&'a str>,
    iss: &'a str,
    iat: u64,
    exp: u64,
}

/// Who a token speaks for.
#[derive(Clone, Debug)]
pub struct Who {
    pub login: String,
    /// `student`, `teacher`, `support` or `admin` (or, in a test, one Konsult does not know).
    pub role: String,
    pub class: Option<String>,
    pub subjects: Vec<String>,
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Signs any `claims` with HS256 (for tokens a test makes wrong on purpose).
pub fn sign(secret: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret).expect("key"),
    )
    .expect("sign")
}

/// A test portal token for `login` with `role` (`student`, `teacher`, `support`, `admin`), in
/// class 9A, serving `subjects`, valid for ten minutes.
pub fn portal_token(login: &str, role: &str, subjects: &[&str]) -> String {
    let who = Who {
        login: login.to_string(),
        role: role.to_string(),
        class: Some("9A".to_string()),
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
    };
    TEST_PORTAL.mint(&who, Duration::from_secs(600))
}
