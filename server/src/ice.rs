//! The STUN and TURN servers a client gets in `welcome`, with TURN credentials minted by the
//! shared-secret scheme coturn accepts with `use-auth-secret`: the username is
//! `expiry:user`, the credential base64(HMAC-SHA1(secret, username)).

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use konsult_config::MediaConfig;
use konsult_protocol::UserId;
use konsult_protocol::model::IceServer;

/// ICE servers for `user` at `unix_now` seconds.
pub fn servers_for(media: &MediaConfig, user: UserId, unix_now: u64) -> Vec<IceServer> {
    let mut servers = Vec::new();
    if !media.stun_urls.is_empty() {
        servers.push(IceServer {
            urls: media.stun_urls.clone(),
            username: None,
            credential: None,
        });
    }
    if let (false, Some(secret)) = (media.turn_urls.is_empty(), &media.turn_secret) {
        let username = format!("{}:{}", unix_now + media.turn_ttl.as_secs(), user.0);
        servers.push(IceServer {
            urls: media.turn_urls.clone(),
            credential: Some(turn_credential(secret, &username)),
            username: Some(username),
        });
    }
    servers
}

/// base64(HMAC-SHA1(secret, username)).
pub fn turn_credential(secret: &str, username: &str) -> String {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_credentials_match_coturn() {
        // RFC 2202 test case 2 for HMAC-SHA1: key "Jefe", data "what do ya want for nothing?",
        // digest effcdf6ae5eb2fa2d27416d5f184df9c259a7c79.
        assert_eq!(
            turn_credential("Jefe", "what do ya want for nothing?"),
            "7/zfauXrL6LSdBbV8YTfnCWafHk="
        );
    }

    #[test]
    fn servers_carry_expiring_usernames() {
        let mut media = konsult_config::Config::default().media;
        assert!(servers_for(&media, UserId(5), 1000).is_empty());
        media.stun_urls = vec!["stun:stun.example:3478".into()];
        media.turn_urls = vec!["turn:turn.example:3478".into()];
        media.turn_secret = Some("s3cret".into());
        let servers = servers_for(&media, UserId(5), 1000);
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[1].username.as_deref(), Some("4600:5"));
        assert!(servers[1].credential.is_some());
    }
}
