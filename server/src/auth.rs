//! Who a request comes from: password hashes, Konsult's own access tokens (JWT HS256 with an
//! expiry and the account's token version), and tokens signed by the school portal.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use konsult_protocol::UserId;
use konsult_protocol::model::Role;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The `iss` of tokens Konsult issues.
pub const ISSUER: &str = "konsult";

/// A token or password that does not prove who the caller is.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid token")]
    InvalidToken,
    #[error("token expired")]
    Expired,
    #[error("account not found or deactivated")]
    NoAccount,
    #[error("token revoked by logout")]
    Revoked,
    #[error("the portal token's claims are unusable: {0}")]
    BadClaims(String),
    /// The database could not be asked (out of reach, or every connection busy): the token
    /// may well be good; retry shortly.
    #[error("accounts cannot be checked now: {0}")]
    Unavailable(String),
}

impl AuthError {
    /// The protocol's code for this refusal: `unavailable` when the token was not judged.
    pub fn code(&self) -> konsult_protocol::ErrorCode {
        match self {
            AuthError::Unavailable(_) => konsult_protocol::ErrorCode::Unavailable,
            _ => konsult_protocol::ErrorCode::Unauthorized,
        }
    }
}

/// Claims of a Konsult token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    iat: u64,
    exp: u64,
    /// The account's token version when issued; a reset or deactivation bumps it.
    tv: i64,
    /// The token's own id, for revoking it alone (`POST /api/logout`). Tokens issued before
    /// it existed lack it and are known by their signature.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    jti: String,
}

/// Claims the school portal signs: who the user is in the school.
#[derive(Clone, Debug, Deserialize)]
pub struct PortalClaims {
    pub sub: String,
    pub name: String,
    pub role: String,
    #[serde(default)]
    pub class: Option<String>,
    #[serde(default)]
    pub subjects: Vec<String>,
    /// The code of the user's school; may be left out while the server has one school.
    #[serde(default)]
    pub school: Option<String>,
    /// Expiry (Unix seconds); checked by the decoder, kept for revocation.
    #[serde(default)]
    pub exp: u64,
}

impl PortalClaims {
    /// The role, checked.
    pub fn role(&self) -> Result<Role, AuthError> {
        Role::parse(&self.role)
            .ok_or_else(|| AuthError::BadClaims(format!("unknown role {:?}", self.role)))
    }
}

/// What a valid token says.
#[derive(Clone, Debug)]
pub enum Identity {
    /// A Konsult token for an existing account.
    Local { user: UserId, token_version: i64 },
    /// A portal token; the account may not exist yet.
    Portal(PortalClaims),
}

/// A valid token: who it proves, and its id and expiry for revocation.
#[derive(Clone, Debug)]
pub struct Verified {
    pub identity: Identity,
    /// The `jti` of Konsult's tokens; the signature of others (unique to each token).
    pub id: String,
    /// Expiry, Unix seconds: a revocation need not outlive it.
    pub expires: u64,
}

/// Signs and checks tokens.
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// The portal's issuer and key, when portal sign-in is configured.
    portal: Option<(String, DecodingKey)>,
    ttl: Duration,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("portal", &self.portal.as_ref().map(|(iss, _)| iss))
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Tokens {
    pub fn new(
        secret: &[u8],
        portal: Option<(String, Vec<u8>)>,
        ttl: Duration,
    ) -> Result<Tokens, jsonwebtoken::errors::Error> {
        let portal = match portal {
            Some((iss, key)) => Some((iss, DecodingKey::from_secret(&key)?)),
            None => None,
        };
        Ok(Tokens {
            encoding: EncodingKey::from_secret(secret)?,
            decoding: DecodingKey::from_secret(secret)?,
            portal,
            ttl,
        })
    }

    /// Issues a token for `user`.
    pub fn issue(&self, user: UserId, token_version: i64) -> String {
        let iat = unix_now();
        let claims = Claims {
            sub: user.0.to_string(),
            iss: ISSUER.into(),
            iat,
            exp: iat + self.ttl.as_secs(),
            tv: token_version,
            jti: generate_secret(16),
        };
        // HS256 signing of a plain struct does not fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .unwrap_or_default()
    }

    /// Checks a token's signature, issuer and expiry.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        self.verify_token(token).map(|v| v.identity)
    }

    /// Checks a token's signature, issuer and expiry, and names it for revocation.
    pub fn verify_token(&self, token: &str) -> Result<Verified, AuthError> {
        let signature = token.rsplit('.').next().unwrap_or_default().to_string();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_issuer(&[ISSUER]);
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation) {
            Ok(data) => {
                let id = data
                    .claims
                    .sub
                    .parse()
                    .map_err(|_| AuthError::InvalidToken)?;
                return Ok(Verified {
                    identity: Identity::Local {
                        user: UserId(id),
                        token_version: data.claims.tv,
                    },
                    id: if data.claims.jti.is_empty() {
                        signature
                    } else {
                        data.claims.jti
                    },
                    expires: data.claims.exp,
                });
            }
            Err(e) if is_expired(&e) => return Err(AuthError::Expired),
            Err(_) => {}
        }
        let Some((issuer, key)) = &self.portal else {
            return Err(AuthError::InvalidToken);
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 30;
        validation.set_issuer(&[issuer]);
        match jsonwebtoken::decode::<PortalClaims>(token, key, &validation) {
            Ok(data) => Ok(Verified {
                expires: data.claims.exp,
                identity: Identity::Portal(data.claims),
                id: signature,
            }),
            Err(e) if is_expired(&e) => Err(AuthError::Expired),
            Err(_) => Err(AuthError::InvalidToken),
        }
    }
}

fn is_expired(e: &jsonwebtoken::errors::Error) -> bool {
    matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature)
}

/// Hashes a password with argon2id and a random salt. Slow by design: call it off the async
/// threads.
pub fn hash_password(password: &str) -> String {
    use argon2::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .unwrap_or_default()
}

/// Checks a password against a stored hash. Slow by design: call it off the async threads.
pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// The length of generated passwords.
pub const GENERATED_PASSWORD_CHARS: usize = 12;

/// A random password people can type: 12 characters without look-alikes.
pub fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..GENERATED_PASSWORD_CHARS)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A random secret, hex-encoded.
pub fn generate_secret(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_forgeries() {
        let tokens = Tokens::new(b"secret-one", None, Duration::from_secs(60)).expect("key");
        let token = tokens.issue(UserId(7), 3);
        let again = tokens.issue(UserId(7), 3);
        assert_ne!(
            tokens.verify_token(&token).expect("valid").id,
            tokens.verify_token(&again).expect("valid").id,
            "two logins in the same second get tokens of their own"
        );
        match tokens.verify(&token) {
            Ok(Identity::Local {
                user,
                token_version,
            }) => {
                assert_eq!(user, UserId(7));
                assert_eq!(token_version, 3);
            }
            other => panic!("expected a local identity, got {other:?}"),
        }
        let other = Tokens::new(b"secret-two", None, Duration::from_secs(60)).expect("key");
        assert!(matches!(other.verify(&token), Err(AuthError::InvalidToken)));
        assert!(matches!(
            tokens.verify("not.a.token"),
            Err(AuthError::InvalidToken)
        ));
    }

    #[test]
    fn passwords_verify() {
        let hash = hash_password("demo");
        assert!(verify_password("demo", &hash));
        assert!(!verify_password("Demo", &hash));
        assert!(!verify_password("demo", "garbage"));
        assert_eq!(generate_password().len(), 12);
    }
}
