//! The client side: [`TlsConnector`] and its builder.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::io::{AsyncRead, AsyncWrite};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use crate::handshake::{DEFAULT_HANDSHAKE_TIMEOUT, handshake, provider, tls_error};
use crate::insecure::NoCertificateVerification;
use crate::pem::{self, Identity};
use crate::stream::TlsStream;

/// Opens client TLS sessions over any transport.
///
/// Cheap to clone (the rustls configuration is shared). [`TlsConnector::default`] trusts the
/// Mozilla roots from `webpki-roots`; [`TlsConnector::builder`] picks custom roots, ALPN and a
/// client certificate; [`TlsConnector::new`] takes any rustls `ClientConfig`.
///
/// # Examples
///
/// ```no_run
/// # tulip_reactor::block_on(async {
/// use std::net::TcpStream;
/// use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
///
/// let tcp = tulip_reactor::Async::<TcpStream>::connect(([93, 184, 215, 14], 443).into()).await?;
/// let mut tls = tulip_tls::TlsConnector::default().connect("example.com", tcp).await?;
/// tls.write_all(b"GET / HTTP/1.0\r\nHost: example.com\r\n\r\n").await?;
/// let mut page = Vec::new();
/// tls.read_to_end(&mut page).await?;
/// # Ok::<(), std::io::Error>(())
/// # });
/// ```
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
    handshake_timeout: Option<Duration>,
}

impl TlsConnector {
    /// A connector over a ready rustls configuration, with the default 10 s handshake timeout.
    pub fn new(config: Arc<ClientConfig>) -> TlsConnector {
        TlsConnector {
            config,
            handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
        }
    }

    /// A connector that trusts the Mozilla root certificates shipped in `webpki-roots`.
    pub fn with_webpki_roots() -> TlsConnector {
        TlsConnector::builder().with_webpki_roots().build().expect(
            "the webpki roots and the ring provider's defaults always make a valid configuration",
        )
    }

    /// A builder that starts with no trusted roots, no ALPN and no client certificate.
    pub fn builder() -> TlsConnectorBuilder {
        TlsConnectorBuilder {
            roots: RootCertStore::empty(),
            alpn: Vec::new(),
            identity: None,
            handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
            sni: true,
            insecure: false,
        }
    }

    /// Sets the handshake timeout; `None` waits forever (not advisable for untrusted peers).
    pub fn with_handshake_timeout(mut self, timeout: Option<Duration>) -> TlsConnector {
        self.handshake_timeout = timeout;
        self
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// Runs a client handshake over `io`, verifying the server's certificate for `server_name`
    /// (a DNS name, or an IP address literal), which is also sent as SNI when it is a DNS name.
    ///
    /// Errors are `io::Error`s: `InvalidInput` for a malformed name, `InvalidData` with rustls's
    /// reason when the handshake fails (for example "invalid peer certificate: certificate not
    /// valid for name ..."), `TimedOut` when the handshake timeout passes, `UnexpectedEof` when
    /// the server hangs up, and the transport's own errors.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: `io` moved into the future, and a handshake dropped half way leaves no
    /// usable connection. Dropping the future closes nothing on its own; it drops `io`.
    pub async fn connect<IO>(&self, server_name: &str, io: IO) -> io::Result<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let name = ServerName::try_from(server_name).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid TLS server name {server_name:?}: {e}"),
            )
        })?;
        let sni = match &name {
            ServerName::DnsName(d) => Some(d.as_ref().to_owned()),
            _ => None,
        };
        let conn =
            ClientConnection::new(self.config.clone(), name.to_owned()).map_err(tls_error)?;
        handshake(TlsStream::new(io, conn.into(), sni), self.handshake_timeout).await
    }
}

impl Default for TlsConnector {
    /// The same as [`TlsConnector::with_webpki_roots`].
    fn default() -> TlsConnector {
        TlsConnector::with_webpki_roots()
    }
}

impl From<Arc<ClientConfig>> for TlsConnector {
    fn from(config: Arc<ClientConfig>) -> TlsConnector {
        TlsConnector::new(config)
    }
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector")
            .field("alpn", &self.config.alpn_protocols.len())
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

/// Builds a [`TlsConnector`]: trusted roots, ALPN, client certificate, handshake timeout.
///
/// # Examples
///
/// ```
/// let connector = tulip_tls::TlsConnector::builder()
///     .with_webpki_roots()
///     .alpn_protocols(["h2", "http/1.1"])
///     .handshake_timeout(Some(std::time::Duration::from_secs(5)))
///     .build()?;
/// assert_eq!(connector.config().alpn_protocols.len(), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TlsConnectorBuilder {
    roots: RootCertStore,
    alpn: Vec<Vec<u8>>,
    identity: Option<Identity>,
    handshake_timeout: Option<Duration>,
    sni: bool,
    insecure: bool,
}

impl TlsConnectorBuilder {
    /// Trusts the Mozilla root certificates shipped in `webpki-roots` (in addition to any others).
    pub fn with_webpki_roots(mut self) -> TlsConnectorBuilder {
        self.roots
            .extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        self
    }

    /// Trusts the operating system's root certificates (in addition to any others), as
    /// Python's `ssl.create_default_context()` does: on Linux the distribution's bundle
    /// (`/etc/ssl/certs/ca-certificates.crt` and its kin, found by `openssl-probe`), or the
    /// file and folder named by `SSL_CERT_FILE` and `SSL_CERT_DIR` when set; the platform's
    /// store on macOS and Windows (through `rustls-native-certs`).
    ///
    /// Certificates the store holds but rustls cannot use are skipped (system bundles carry
    /// a few). The store is read every time this is called, so build one connector and share
    /// it (cloning is cheap).
    ///
    /// # Errors
    ///
    /// `NotFound` when the store yields no usable certificate, with the loader's complaints
    /// (an unreadable `SSL_CERT_FILE`, say) in the message: install the system's CA bundle
    /// (`ca-certificates` on Debian) or point `SSL_CERT_FILE` at one.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// // Trust both the bundled Mozilla roots and whatever the system adds (a company CA).
    /// let connector = tulip_tls::TlsConnector::builder()
    ///     .with_webpki_roots()
    ///     .with_native_roots()?
    ///     .build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_native_roots(mut self) -> io::Result<TlsConnectorBuilder> {
        let found = rustls_native_certs::load_native_certs();
        let (added, ignored) = self.roots.add_parsable_certificates(found.certs);
        if added == 0 {
            let why = if found.errors.is_empty() {
                "no certificate found".to_owned()
            } else {
                found
                    .errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "the system trust store has no usable root certificate ({why}); install the \
                     CA bundle (ca-certificates) or set SSL_CERT_FILE"
                ),
            ));
        }
        log::debug!(
            "tulip-tls: {added} root certificates from the system store ({ignored} unusable \
             skipped, {} load errors)",
            found.errors.len()
        );
        Ok(self)
    }

    /// **Turns certificate verification off**: the connector accepts any server
    /// certificate, expired, self-signed or issued for another name (aiohttp's `ssl=False`,
    /// curl's `--insecure`). Handshake signatures are still checked, but an attacker on the
    /// path simply presents a certificate of their own, so the connection is encrypted and
    /// **not authenticated**. For test servers only; trust a test CA with
    /// [`add_roots_pem`](Self::add_roots_pem) instead where you can. The first handshake of
    /// such a connector logs a warning (through `log`), so it cannot hide in production.
    ///
    /// The trusted roots are not consulted (the builder may have none).
    ///
    /// # Examples
    ///
    /// ```
    /// let connector = tulip_tls::TlsConnector::builder()
    ///     .danger_skip_certificate_verification()
    ///     .build()?;
    /// # let _ = connector;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn danger_skip_certificate_verification(mut self) -> TlsConnectorBuilder {
        self.insecure = true;
        self
    }

    /// Replaces the trusted roots with `roots`.
    pub fn root_store(mut self, roots: RootCertStore) -> TlsConnectorBuilder {
        self.roots = roots;
        self
    }

    /// Trusts one more root certificate, in DER.
    pub fn add_root(mut self, cert: CertificateDer<'_>) -> io::Result<TlsConnectorBuilder> {
        self.roots.add(cert).map_err(tls_error)?;
        Ok(self)
    }

    /// Trusts every certificate in a PEM bundle.
    pub fn add_roots_pem(self, pem: &[u8]) -> io::Result<TlsConnectorBuilder> {
        pem::certs_from_pem(pem)?
            .into_iter()
            .try_fold(self, TlsConnectorBuilder::add_root)
    }

    /// Trusts every certificate in a PEM file.
    pub fn add_roots_pem_file(self, path: impl AsRef<Path>) -> io::Result<TlsConnectorBuilder> {
        pem::certs_from_pem_file(path)?
            .into_iter()
            .try_fold(self, TlsConnectorBuilder::add_root)
    }

    /// Offers these ALPN protocols, most preferred first (e.g. `["h2", "http/1.1"]`).
    pub fn alpn_protocols<P: Into<Vec<u8>>>(
        mut self,
        protocols: impl IntoIterator<Item = P>,
    ) -> TlsConnectorBuilder {
        self.alpn = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Authenticates to servers that ask for it with this certificate chain and key (mutual TLS).
    pub fn client_identity(mut self, identity: Identity) -> TlsConnectorBuilder {
        self.identity = Some(identity);
        self
    }

    /// Sets the handshake timeout (default 10 s); `None` waits forever.
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> TlsConnectorBuilder {
        self.handshake_timeout = timeout;
        self
    }

    /// Whether to send the server name as SNI (default: yes).
    pub fn sni(mut self, enabled: bool) -> TlsConnectorBuilder {
        self.sni = enabled;
        self
    }

    /// Builds the connector. Fails with `InvalidInput` when no root is trusted (no server
    /// could ever be verified) or when the client key does not fit its certificate.
    pub fn build(self) -> io::Result<TlsConnector> {
        if self.roots.is_empty() && !self.insecure {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "TLS connector has no trusted root certificates: add some or use with_webpki_roots()",
            ));
        }
        let provider = provider();
        let versions = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?;
        let builder = if self.insecure {
            versions
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoCertificateVerification::new(
                    provider,
                )))
        } else {
            versions.with_root_certificates(self.roots)
        };
        let mut config = match self.identity {
            Some(id) => builder
                .with_client_auth_cert(id.chain, id.key)
                .map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("invalid client certificate or key: {e}"),
                    )
                })?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn;
        config.enable_sni = self.sni;
        Ok(TlsConnector {
            config: Arc::new(config),
            handshake_timeout: self.handshake_timeout,
        })
    }
}

impl fmt::Debug for TlsConnectorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnectorBuilder")
            .field("roots", &self.roots.len())
            .field("alpn", &self.alpn.len())
            .field("client_identity", &self.identity.is_some())
            .field("handshake_timeout", &self.handshake_timeout)
            .field("sni", &self.sni)
            .field("danger_skip_certificate_verification", &self.insecure)
            .finish()
    }
}
