//! Device tokens (OWASP's "device cookies"): a long-lived signed value a successful login gives
//! the browser, naming the login, so that the login guard can tell the account owner's own
//! device from everyone else's and lock only the guessers out.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The `iss` of device tokens; access tokens carry another, so neither passes for the other.
const ISSUER: &str = "konsult-device";
/// How long a device stays trusted after its last successful login.
pub const DEVICE_TTL: Duration = Duration::from_secs(180 * 24 * 3600);
/// The cookie the browser keeps the token in (HttpOnly, SameSite=Strict, sent only to
/// `/api/login`).
pub const COOKIE: &str = "konsult_device";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The login, as the guard normalizes it.
    sub: String,
    iss: String,
    iat: u64,
    exp: u64,
    /// The device's id: its failures are counted under it.
    jti: String,
}

/// Signs and checks device tokens.
pub struct DeviceTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for DeviceTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceTokens").finish_non_exhaustive()
    }
}

impl DeviceTokens {
    /// Device tokens signed with the server's token secret.
    pub fn new(secret: &[u8]) -> Result<DeviceTokens, jsonwebtoken::errors::Error> {
        Ok(DeviceTokens {
            encoding: EncodingKey::from_secret(secret)?,
            decoding: DecodingKey::from_secret(secret)?,
        })
    }

    /// A new token for this device and `login`.
    pub fn issue(&self, login: &str) -> String {
        let iat = unix_now();
        let claims = Claims {
            sub: normalize(login),
            iss: ISSUER.into(),
            iat,
            exp: iat + DEVICE_TTL.as_secs(),
            jti: crate::auth::generate_secret(16),
        };
        // HS256 signing of a plain struct does not fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .unwrap_or_default()
    }

    /// The device's id when `token` is a valid, unexpired device token for `login`.
    pub fn device_for(&self, token: &str, login: &str) -> Option<String> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).ok()?;
        (data.claims.sub == normalize(login) && !data.claims.jti.is_empty())
            .then_some(data.claims.jti)
    }
}

/// The `Set-Cookie` value that keeps `token` in the browser.
pub fn cookie(token: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={token}; Path=/api/login; Max-Age={}; HttpOnly; SameSite=Strict{}",
        DEVICE_TTL.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// Every `konsult_device` value in a `Cookie` header.
pub fn from_cookie_header(header: &str) -> impl Iterator<Item = &str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim_matches('"'))
}

/// Logins as the guard counts them.
pub fn normalize(login: &str) -> String {
    login.trim().to_lowercase()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_token_names_its_login_only() {
        let devices = DeviceTokens::new(b"a-secret-of-at-least-thirty-two-bytes").expect("key");
        let token = devices.issue("Teacher1");
        let id = devices.device_for(&token, "teacher1").expect("valid");
        assert!(!id.is_empty());
        assert_eq!(devices.device_for(&token, "student1"), None);
        let other = DeviceTokens::new(b"another-secret-of-thirty-two-bytes!!").expect("key");
        assert_eq!(other.device_for(&token, "teacher1"), None, "forged");
        let access = crate::auth::Tokens::new(
            b"a-secret-of-at-least-thirty-two-bytes",
            None,
            Duration::from_secs(60),
        )
        .expect("key");
        assert!(access.verify(&token).is_err(), "not an access token");
        let access_token = access.issue(konsult_protocol::UserId(1), 0);
        assert_eq!(devices.device_for(&access_token, "1"), None);
        let header = format!("a=b; {COOKIE}={token}; c=d");
        assert_eq!(from_cookie_header(&header).collect::<Vec<_>>(), vec![token]);
    }
}
