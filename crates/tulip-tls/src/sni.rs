//! Server certificate selection by the SNI name a client sends (asyncio's `sni_callback`).

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::pem::Identity;

/// Picks the identity registered for the client's SNI name, or the default one when the client
/// sent no name or one without an identity of its own.
#[derive(Debug)]
pub(crate) struct SniResolver {
    by_name: HashMap<String, Arc<CertifiedKey>>,
    default: Arc<CertifiedKey>,
}

impl SniResolver {
    pub(crate) fn new(
        default: Identity,
        named: Vec<(String, Identity)>,
        provider: &CryptoProvider,
    ) -> io::Result<SniResolver> {
        let mut by_name = HashMap::with_capacity(named.len());
        for (name, identity) in named {
            let key = certified(identity, provider, &name)?;
            // DNS names compare without regard to case; rustls hands us the client's name as sent.
            by_name.insert(name.to_ascii_lowercase(), key);
        }
        Ok(SniResolver {
            by_name,
            default: certified(default, provider, "the default identity")?,
        })
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let named = hello
            .server_name()
            .and_then(|name| self.by_name.get(&name.to_ascii_lowercase()));
        Some(named.unwrap_or(&self.default).clone())
    }
}

fn certified(
    identity: Identity,
    provider: &CryptoProvider,
    what: &str,
) -> io::Result<Arc<CertifiedKey>> {
    CertifiedKey::from_der(identity.chain, identity.key, provider)
        .map(Arc::new)
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid certificate or key for {what}: {e}"),
            )
        })
}
