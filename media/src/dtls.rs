//! The SFU's DTLS: one key pair and certificate, and one DTLS configuration, made when the
//! server starts and shared by every peer. str0m's default provider builds a configuration
//! per peer, and building one checks the crypto provider with a key exchange and a signature
//! verification: that check was a sixth of the server's CPU while 200 members joined at once.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;
use str0m::crypto::CryptoError;
use str0m::crypto::CryptoProvider;
use str0m::crypto::dtls::{
    DtlsCert, DtlsImplError, DtlsInstance, DtlsOutput, DtlsProvider, DtlsVersion, ProtocolVersion,
};

/// What every SFU peer is built with: the shared certificate, and a crypto provider whose
/// DTLS reuses one configuration.
#[derive(Clone, Debug)]
pub struct Identity {
    pub cert: DtlsCert,
    pub crypto: Arc<CryptoProvider>,
}

impl Identity {
    /// A fresh key pair and certificate (members check it against the fingerprint in the
    /// SFU's SDP) and the provider with the shared configuration; `None` when no certificate
    /// can be made, and each peer then makes its own with str0m's defaults.
    pub fn new() -> Option<Identity> {
        let provider: &'static SharedConfig = PROVIDER.get_or_init(SharedConfig::default);
        let Some(cert) = provider.generate_certificate() else {
            tracing::warn!("no shared DTLS certificate: each SFU peer makes its own");
            return None;
        };
        let defaults = str0m::crypto::from_feature_flags();
        let crypto = CryptoProvider {
            dtls_provider: provider,
            ..defaults
        };
        Some(Identity {
            cert,
            crypto: Arc::new(crypto),
        })
    }
}

/// The provider lives as long as the process: str0m takes it by `'static` reference.
static PROVIDER: OnceLock<SharedConfig> = OnceLock::new();

/// A DTLS provider handing every peer the same configuration (one per MTU asked for; str0m
/// asks for its configured one, the same for every peer).
#[derive(Debug, Default)]
struct SharedConfig {
    configs: Mutex<Vec<(Option<usize>, Arc<dimpl::Config>)>>,
}

impl SharedConfig {
    fn config(&self, mtu: Option<usize>) -> Result<Arc<dimpl::Config>, CryptoError> {
        let mut configs = self.configs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, config)) = configs.iter().find(|(m, _)| *m == mtu) {
            return Ok(Arc::clone(config));
        }
        // ICE has checked the member's address before DTLS starts: no cookie exchange.
        let mut builder = dimpl::Config::builder().use_server_cookie(false);
        if let Some(mtu) = mtu {
            builder = builder.mtu(mtu);
        }
        let config = Arc::new(
            builder
                .build()
                .map_err(|e| CryptoError::Other(format!("no DTLS configuration: {e}")))?,
        );
        configs.push((mtu, Arc::clone(&config)));
        Ok(config)
    }
}

impl DtlsProvider for SharedConfig {
    fn generate_certificate(&self) -> Option<DtlsCert> {
        str0m::crypto::from_feature_flags()
            .dtls_provider
            .generate_certificate()
    }

    fn new_dtls(
        &self,
        cert: &DtlsCert,
        now: Instant,
        version: DtlsVersion,
        mtu: Option<usize>,
    ) -> Result<Box<dyn DtlsInstance>, CryptoError> {
        let config = self.config(mtu)?;
        let cert = cert.clone();
        let dtls = match version {
            DtlsVersion::Dtls12 => dimpl::Dtls::new_12(config, cert, now),
            DtlsVersion::Dtls13 => dimpl::Dtls::new_13(config, cert, now),
            DtlsVersion::Auto => dimpl::Dtls::new_auto(config, cert, now),
            other => {
                return Err(CryptoError::Other(format!(
                    "unsupported DTLS version: {other}"
                )));
            }
        };
        Ok(Box::new(Peer(dtls)))
    }
}

/// One peer's DTLS, as str0m drives it.
struct Peer(dimpl::Dtls);

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("konsult_media::dtls::Peer")
    }
}

impl DtlsInstance for Peer {
    fn set_active(&mut self, active: bool) {
        self.0.set_active(active);
    }

    fn handle_packet(&mut self, packet: &[u8]) -> Result<(), DtlsImplError> {
        self.0.handle_packet(packet)
    }

    fn poll_output<'a>(&mut self, buf: &'a mut [u8]) -> DtlsOutput<'a> {
        self.0.poll_output(buf)
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsImplError> {
        self.0.handle_timeout(now)
    }

    fn send_application_data(&mut self, data: &[u8]) -> Result<usize, DtlsImplError> {
        self.0.send_application_data(data)
    }

    fn is_active(&self) -> bool {
        self.0.is_active()
    }

    fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.0.protocol_version()
    }

    fn is_closing(&self) -> bool {
        self.0.is_closing()
    }

    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    fn close(&mut self) -> Result<(), DtlsImplError> {
        self.0.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use str0m::Rtc;

    fn peer(identity: &Identity) -> Rtc {
        Rtc::builder()
            .set_dtls_cert(identity.cert.clone())
            .set_crypto_provider(Arc::clone(&identity.crypto))
            .build(Instant::now())
    }

    #[test]
    fn every_peer_presents_the_one_certificate_and_shares_one_configuration() {
        let identity = Identity::new().expect("the default crypto provider makes certificates");
        let mut first = peer(&identity);
        let mut second = peer(&identity);
        let fingerprint = |rtc: &mut Rtc| rtc.direct_api().local_dtls_fingerprint().clone();
        assert_eq!(fingerprint(&mut first), fingerprint(&mut second));
        let provider = PROVIDER.get().expect("made with the identity");
        let configs = provider.configs.lock().unwrap();
        assert_eq!(configs.len(), 1, "one configuration for peers with one MTU");
    }
}
