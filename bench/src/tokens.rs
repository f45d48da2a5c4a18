//! Portal tokens for the load's users: Konsult accepts tokens signed by the school portal
//! (`auth.portal_issuer`, `auth.portal_secret`) and creates the account on first sight, which
//! is far faster than thousands of argon2 password logins.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// The issuer the bench configures Konsult with.
pub const ISSUER: &str = "konsult-bench";
/// The shared secret the bench configures Konsult with.
pub const SECRET: &str = "konsult-bench-portal-secret-not-for-production";

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
    pub role: &'static str,
    pub class: Option<String>,
    pub subjects: Vec<String>,
}

impl Who {
    /// Student number `i` (login `bench-s{i}`) in class `class`.
    pub fn student(i: usize, class: &str) -> Who {
        Who {
            login: format!("bench-s{i}"),
            role: "student",
            class: Some(class.to_string()),
            subjects: Vec::new(),
        }
    }

    /// Teacher number `i` (login `bench-t{i}`) of `subjects`.
    pub fn teacher(i: usize, subjects: &[&str]) -> Who {
        Who {
            login: format!("bench-t{i}"),
            role: "teacher",
            class: None,
            subjects: subjects.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// Mints a portal token, valid for a day.
pub fn mint(who: &Who) -> String {
    let iat = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let claims = Claims {
        sub: &who.login,
        name: &who.login,
        role: who.role,
        class: who.class.as_deref(),
        subjects: who.subjects.iter().map(String::as_str).collect(),
        iss: ISSUER,
        iat,
        exp: iat + 86_400,
    };
    // HS256 over a plain struct with a non-empty key does not fail.
    EncodingKey::from_secret(SECRET.as_bytes())
        .and_then(|key| jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key))
        .unwrap_or_default()
}
