//! The server side: [`TlsAcceptor`] and its builder.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::io::{AsyncRead, AsyncWrite};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

use crate::handshake::{DEFAULT_HANDSHAKE_TIMEOUT, handshake, provider, tls_error};
use crate::pem::Identity;
use crate::sni::SniResolver;
use crate::stream::TlsStream;

/// Accepts server TLS sessions over any transport.
///
/// Cheap to clone (the rustls configuration is shared), so one acceptor serves every
/// connection of a listener.
///
/// # Examples
///
/// ```no_run
/// # tulip_reactor::block_on(async {
/// use std::net::TcpListener;
/// use tulip_reactor::Async;
///
/// let acceptor = tulip_tls::TlsAcceptor::from_pem_files("cert.pem", "key.pem")?;
/// let listener = TcpListener::bind("127.0.0.1:8443")?;
/// // A real server accepts asynchronously (tulip-net); std's blocking accept keeps this short.
/// let (tcp, _peer) = listener.accept()?;
/// let tls = acceptor.accept(Async::new(tcp)?).await?;
/// println!("client asked for {:?}", tls.server_name());
/// # Ok::<(), std::io::Error>(())
/// # });
/// ```
#[derive(Clone)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
    handshake_timeout: Option<Duration>,
}

impl TlsAcceptor {
    /// An acceptor over a ready rustls configuration, with the default 10 s handshake timeout.
    pub fn new(config: Arc<ServerConfig>) -> TlsAcceptor {
        TlsAcceptor {
            config,
            handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
        }
    }

    /// A builder for a server presenting `identity`, with no ALPN and no client authentication.
    pub fn builder(identity: Identity) -> TlsAcceptorBuilder {
        TlsAcceptorBuilder {
            identity,
            sni_identities: Vec::new(),
            alpn: Vec::new(),
            client_auth: ClientAuth::None,
            handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
        }
    }

    /// An acceptor presenting the certificate chain and key in these PEM bytes.
    pub fn from_pem(cert_chain_pem: &[u8], key_pem: &[u8]) -> io::Result<TlsAcceptor> {
        TlsAcceptor::builder(Identity::from_pem(cert_chain_pem, key_pem)?).build()
    }

    /// An acceptor presenting the certificate chain and key in these PEM files.
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> io::Result<TlsAcceptor> {
        TlsAcceptor::builder(Identity::from_pem_files(cert_chain, key)?).build()
    }

    /// Sets the handshake timeout; `None` waits forever (a peer that never speaks then holds
    /// its connection open until the transport fails).
    pub fn with_handshake_timeout(mut self, timeout: Option<Duration>) -> TlsAcceptor {
        self.handshake_timeout = timeout;
        self
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// Runs a server handshake over `io`.
    ///
    /// Errors are `io::Error`s: `InvalidData` with rustls's reason when the handshake fails
    /// (for example "peer is incompatible: no ALPN protocol in common" or a client certificate
    /// that does not verify), `TimedOut` after the handshake timeout, `UnexpectedEof` when the
    /// client hangs up, and the transport's own errors.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: `io` moved into the future, and a handshake dropped half way leaves no
    /// usable connection. Dropping the future drops `io`.
    pub async fn accept<IO>(&self, io: IO) -> io::Result<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let conn = ServerConnection::new(self.config.clone()).map_err(tls_error)?;
        handshake(
            TlsStream::new(io, conn.into(), None),
            self.handshake_timeout,
        )
        .await
    }
}

impl From<Arc<ServerConfig>> for TlsAcceptor {
    fn from(config: Arc<ServerConfig>) -> TlsAcceptor {
        TlsAcceptor::new(config)
    }
}

impl fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("alpn", &self.config.alpn_protocols.len())
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

enum ClientAuth {
    None,
    Optional(RootCertStore),
    Required(RootCertStore),
}

/// Builds a [`TlsAcceptor`]: ALPN, client authentication, handshake timeout.
///
/// # Examples
///
/// ```no_run
/// let id = tulip_tls::Identity::from_pem_files("cert.pem", "key.pem")?;
/// let client_ca = tulip_tls::pem::root_store_from_pem_file("clients-ca.pem")?;
/// let acceptor = tulip_tls::TlsAcceptor::builder(id)
///     .alpn_protocols(["http/1.1"])
///     .client_auth_required(client_ca)
///     .build()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TlsAcceptorBuilder {
    identity: Identity,
    sni_identities: Vec<(String, Identity)>,
    alpn: Vec<Vec<u8>>,
    client_auth: ClientAuth,
    handshake_timeout: Option<Duration>,
}

impl TlsAcceptorBuilder {
    /// Accepts these ALPN protocols, most preferred first. A client that offers ALPN but none
    /// of these fails the handshake; a client that offers none still connects.
    pub fn alpn_protocols<P: Into<Vec<u8>>>(
        mut self,
        protocols: impl IntoIterator<Item = P>,
    ) -> TlsAcceptorBuilder {
        self.alpn = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Presents `identity` to clients that ask for `server_name` through SNI (name-based
    /// virtual hosting); other clients get the builder's default identity.
    pub fn sni_identity(
        mut self,
        server_name: impl Into<String>,
        identity: Identity,
    ) -> TlsAcceptorBuilder {
        self.sni_identities.push((server_name.into(), identity));
        self
    }

    /// Requires every client to present a certificate issued by one of `roots`.
    pub fn client_auth_required(mut self, roots: RootCertStore) -> TlsAcceptorBuilder {
        self.client_auth = ClientAuth::Required(roots);
        self
    }

    /// Asks clients for a certificate issued by one of `roots` but also lets clients without
    /// one in; [`TlsStream::peer_certificates`] tells them apart.
    pub fn client_auth_optional(mut self, roots: RootCertStore) -> TlsAcceptorBuilder {
        self.client_auth = ClientAuth::Optional(roots);
        self
    }

    /// Sets the handshake timeout (default 10 s); `None` waits forever.
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> TlsAcceptorBuilder {
        self.handshake_timeout = timeout;
        self
    }

    /// Builds the acceptor. Fails with `InvalidInput` when the key does not fit the
    /// certificate or a client-auth root store is empty.
    pub fn build(self) -> io::Result<TlsAcceptor> {
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?;
        let builder = match self.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Optional(roots) | ClientAuth::Required(roots) if roots.is_empty() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "client authentication needs at least one trusted root certificate",
                ));
            }
            ClientAuth::Optional(roots) => {
                builder.with_client_cert_verifier(client_verifier(roots, true)?)
            }
            ClientAuth::Required(roots) => {
                builder.with_client_cert_verifier(client_verifier(roots, false)?)
            }
        };
        let mut config = if self.sni_identities.is_empty() {
            builder
                .with_single_cert(self.identity.chain, self.identity.key)
                .map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("invalid server certificate or key: {e}"),
                    )
                })?
        } else {
            let resolver = SniResolver::new(self.identity, self.sni_identities, &provider())?;
            builder.with_cert_resolver(Arc::new(resolver))
        };
        config.alpn_protocols = self.alpn;
        Ok(TlsAcceptor {
            config: Arc::new(config),
            handshake_timeout: self.handshake_timeout,
        })
    }
}

fn client_verifier(
    roots: RootCertStore,
    optional: bool,
) -> io::Result<Arc<dyn rustls::server::danger::ClientCertVerifier>> {
    let mut builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
    if optional {
        builder = builder.allow_unauthenticated();
    }
    builder.build().map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid client-auth roots: {e}"),
        )
    })
}

impl fmt::Debug for TlsAcceptorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let client_auth = match self.client_auth {
            ClientAuth::None => "none",
            ClientAuth::Optional(_) => "optional",
            ClientAuth::Required(_) => "required",
        };
        f.debug_struct("TlsAcceptorBuilder")
            .field("identity", &self.identity)
            .field("sni_identities", &self.sni_identities.len())
            .field("alpn", &self.alpn.len())
            .field("client_auth", &client_auth)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish()
    }
}
