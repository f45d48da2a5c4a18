//! Tokens from a school portal: servers started with `ServerOptions::with_portal()` accept them
//! and create each user on first sight, so a test can have as many users of any role as it needs.

use serde_json::{Value, json};

/// The portal's issuer (`iss`) that `with_portal` configures.
pub const PORTAL_ISSUER: &str = "https://portal.school.example";
/// The portal's shared HS256 secret that `with_portal` configures.
pub const PORTAL_SECRET: &str = "portal-shared-secret";

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Signs `claims` with HS256.
pub fn sign(secret: &[u8], claims: &Value) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret).expect("key"),
    )
    .expect("sign")
}

/// A portal token for `login` with `role` (`student`, `teacher`, `support`, `admin`), in class
/// 9A, serving `subjects`, valid for ten minutes.
pub fn portal_token(login: &str, role: &str, subjects: &[&str]) -> String {
    sign(
        PORTAL_SECRET.as_bytes(),
        &json!({
            "sub": login, "name": login, "role": role, "class": "9A", "subjects": subjects,
            "iss": PORTAL_ISSUER, "exp": unix_now() + 600,
        }),
    )
}
