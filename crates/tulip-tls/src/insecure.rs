//! The certificate verifier behind [`TlsConnectorBuilder::danger_skip_certificate_verification`]
//! (aiohttp's `ssl=False`): it accepts any server certificate, and says so once at warn level.
//!
//! Only the certificate *chain* is not checked: the handshake signatures still are, so the
//! peer must hold the key of the certificate it sent. That protects nothing against an active
//! attacker (who sends a certificate of their own), which is why the option's name says
//! "danger" and the first handshake logs a warning.
//!
//! [`TlsConnectorBuilder::danger_skip_certificate_verification`]:
//!     crate::TlsConnectorBuilder::danger_skip_certificate_verification

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

/// Accepts every server certificate; checks handshake signatures with the provider's
/// algorithms.
#[derive(Debug)]
pub(crate) struct NoCertificateVerification {
    provider: Arc<CryptoProvider>,
    /// Set by the first handshake, so the warning is logged once per connector.
    warned: AtomicBool,
}

impl NoCertificateVerification {
    pub(crate) fn new(provider: Arc<CryptoProvider>) -> NoCertificateVerification {
        NoCertificateVerification {
            provider,
            warned: AtomicBool::new(false),
        }
    }
}

impl ServerCertVerifier for NoCertificateVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !self.warned.swap(true, Ordering::Relaxed) {
            log::warn!(
                "TLS certificate verification is OFF for this connector \
                 (danger_skip_certificate_verification): accepted {server_name:?} without \
                 checking its certificate; anyone on the path can read and change this traffic. \
                 Use it for test servers only (this warning is logged once per connector)"
            );
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
