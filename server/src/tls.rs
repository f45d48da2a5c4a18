//! HTTPS and WSS with rustls when `server.tls_cert` and `server.tls_key` are set: the acceptor
//! for the configured certificate, which `listen.rs` puts in front of the same router.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// A certificate or key that cannot be used; names the config key.
#[derive(Debug, thiserror::Error)]
#[error("config key `{key}`: {reason}")]
pub struct TlsError {
    key: &'static str,
    reason: String,
}

/// The acceptor for the configured certificate chain and key (PEM files).
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|iter| iter.collect())
        .map_err(|e| TlsError {
            key: "server.tls_cert",
            reason: format!("{}: {e}", cert.display()),
        })?;
    if certs.is_empty() {
        return Err(TlsError {
            key: "server.tls_cert",
            reason: format!("{}: no certificate in the file", cert.display()),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError {
        key: "server.tls_key",
        reason: format!("{}: {e}", key.display()),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| TlsError {
            key: "server.tls_key",
            reason: e.to_string(),
        })?;
    let mut config = config;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
