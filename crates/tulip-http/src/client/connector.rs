//! The connection path: straight to the server, to a forward proxy, or through a proxy's
//! `CONNECT` tunnel; then TLS for secure URLs. The client's pool calls it for every new
//! connection, and [`Connector`] offers the same path to other protocols (tulip-ws's
//! `ws_connect`), so a WebSocket goes through the same proxy and TLS settings as the client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tulip_net::{ConnectDeadline, MaybeTlsStream, TcpStream};

use super::pool::PoolConn;
use super::proxy::{Proxies, Proxy, open_tunnel};
use super::timeout::earlier;
use super::url::Target;
use super::{Client, ClientTimeout};
use crate::error::{Error, Kind, Phase, TimeoutKind};
use crate::proto::conn::Conn;

/// The TLS connector type, or a type with no values when the `tls` feature is off (so an
/// `Option<&Tls>` is then always `None`).
#[cfg(feature = "tls")]
pub(crate) type Tls = tulip_tls::TlsConnector;
#[cfg(not(feature = "tls"))]
pub(crate) type Tls = std::convert::Infallible;

/// How one connection reaches its server.
#[derive(Debug, Clone)]
pub(crate) enum Route {
    /// Straight to the server.
    Direct,
    /// To a proxy that forwards plain HTTP requests (absolute-form targets).
    Forward(Proxy),
    /// Through a proxy's `CONNECT` tunnel.
    Tunnel(Proxy),
}

impl Route {
    /// The route through `proxy`, if any: plain HTTP requests are forwarded, everything else
    /// (secure URLs, and any protocol but HTTP, `tunnel_always`) is tunnelled.
    pub(crate) fn through(proxy: Option<&Proxy>, secure: bool, tunnel_always: bool) -> Route {
        match proxy {
            None => Route::Direct,
            Some(p) if secure || tunnel_always => Route::Tunnel(p.clone()),
            Some(p) => Route::Forward(p.clone()),
        }
    }

    /// What the pool key adds for this route (connections through another proxy, or the
    /// same proxy with other credentials, are other connections).
    pub(crate) fn key(&self) -> Option<Arc<str>> {
        match self {
            Route::Direct => None,
            Route::Forward(p) => Some(format!("forward {}", p.key()).into()),
            Route::Tunnel(p) => Some(format!("tunnel {}", p.key()).into()),
        }
    }
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Resolves `host` and races its addresses, each step under `deadline`; errors name `place`.
async fn dial(
    host: &str,
    port: u16,
    deadline: Option<ConnectDeadline>,
    place: &str,
) -> Result<TcpStream, Error> {
    let addrs = ConnectDeadline::within(deadline, tulip_net::lookup_host(host, port))
        .await
        .map_err(|e| Error::connect(e, Phase::Resolve).at(place))?;
    let mut tcp = ConnectDeadline::within(
        deadline,
        tulip_net::happy_eyeballs(addrs, tulip_net::HAPPY_EYEBALLS_DELAY, TcpStream::connect),
    )
    .await
    .map_err(|e| Error::connect(e, Phase::Connect).at(place))?;
    // The pool and WebSockets close connections by dropping them: debug mode's unclosed
    // check is not for them.
    tcp.untrack();
    // Small requests and frames must not wait for Nagle.
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// Opens a byte stream to `host:port` along `route`: dial (the proxy, when there is one),
/// open the tunnel, run the TLS handshake when `secure` (with `tls`; `None` means the
/// `tls` feature is off). Every step runs under `deadline`, and a failure says which step
/// and which host or proxy.
pub(crate) async fn open_stream(
    route: &Route,
    secure: bool,
    host: &str,
    port: u16,
    tls: Option<&Tls>,
    deadline: Option<ConnectDeadline>,
    max_head: usize,
) -> Result<MaybeTlsStream, Error> {
    let place = host_port(host, port);
    let mut tcp = match route {
        Route::Direct => dial(host, port, deadline, &place).await?,
        Route::Forward(proxy) | Route::Tunnel(proxy) => {
            dial(
                proxy.host(),
                proxy.port(),
                deadline,
                &format!("proxy {proxy}"),
            )
            .await?
        }
    };
    if let Route::Tunnel(proxy) = route {
        ConnectDeadline::within(deadline, async {
            Ok(open_tunnel(&mut tcp, proxy, host, port, max_head).await)
        })
        .await
        .map_err(|e| {
            Error::connect(e, Phase::ProxyTunnel).at(format!("proxy {proxy} to {place}"))
        })??;
    }
    if !secure {
        return Ok(MaybeTlsStream::Plain(tcp));
    }
    match tls {
        #[cfg(feature = "tls")]
        Some(tls) => {
            let stream = ConnectDeadline::within(deadline, tls.connect(host, tcp))
                .await
                .map_err(|e| Error::connect(e, Phase::TlsHandshake).at(&place))?;
            Ok(MaybeTlsStream::Tls(Box::new(stream)))
        }
        _ => Err(Error::new(
            Kind::User,
            "https:// and wss:// need tulip-http's `tls` feature",
        )
        .at(&place)),
    }
}

/// The TLS connector every client and [`Connector`] without one of its own uses: the
/// Mozilla roots, parsed once per process (that takes a few milliseconds).
#[cfg(feature = "tls")]
pub(crate) fn default_tls() -> &'static tulip_tls::TlsConnector {
    static WEBPKI: std::sync::OnceLock<tulip_tls::TlsConnector> = std::sync::OnceLock::new();
    WEBPKI.get_or_init(tulip_tls::TlsConnector::with_webpki_roots)
}

/// Opens connections to servers the way a [`Client`] does: through the proxy its settings
/// pick for the URL (always a `CONNECT` tunnel: the stream may carry any protocol), then TLS
/// for secure URLs, all under one connect timeout. tulip-ws's `ws_connect` takes one, so a
/// WebSocket goes through the same proxy and TLS settings as the HTTP client
/// ([`Client::connector`]).
///
/// # Examples
///
/// ```
/// use tulip_http::{Connector, Proxies, Proxy};
///
/// tulip_executor::run(async {
///     let listener = tulip_net::TcpListener::bind(([127, 0, 0, 1], 0).into()).await?;
///     let port = listener.local_addr()?.port();
///     // localhost bypasses the proxy (which does not exist): the stream goes straight there.
///     let connector = Connector::new()
///         .proxies(Proxies::all(Proxy::new("http://127.0.0.1:9")?).no_proxy("127.0.0.1"));
///     let stream = connector.connect(false, "127.0.0.1", port).await?;
///     assert!(!stream.is_tls());
///     Ok::<_, Box<dyn std::error::Error>>(())
/// })?;
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Connector {
    proxies: Arc<Proxies>,
    #[cfg(feature = "tls")]
    tls: Option<tulip_tls::TlsConnector>,
    connect_timeout: Option<Duration>,
    max_head: usize,
    /// The client's cookie jar and credentials, for a WebSocket handshake to send and (for
    /// the jar) to update, as the client's own requests do.
    cookie_jar: Option<super::CookieJar>,
    auth: Option<super::BasicAuth>,
}

impl Default for Connector {
    fn default() -> Connector {
        Connector::new()
    }
}

impl Connector {
    /// No proxy, the Mozilla roots for TLS, a 30 s connect timeout.
    pub fn new() -> Connector {
        Connector {
            proxies: Arc::new(Proxies::none()),
            #[cfg(feature = "tls")]
            tls: None,
            connect_timeout: ClientTimeout::default().connect,
            max_head: 64 * 1024,
            cookie_jar: None,
            auth: None,
        }
    }

    /// Which proxy each URL goes through.
    pub fn proxies(mut self, proxies: Proxies) -> Connector {
        self.proxies = Arc::new(proxies);
        self
    }

    /// The TLS settings for secure URLs (default: the Mozilla roots).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: tulip_tls::TlsConnector) -> Connector {
        self.tls = Some(tls);
        self
    }

    /// The limit on name resolution, TCP connect, tunnel and TLS handshake together; `None`
    /// waits as long as each step does.
    pub fn connect_timeout(mut self, limit: Option<Duration>) -> Connector {
        self.connect_timeout = limit;
        self
    }

    /// The cookie jar of the client this connector came from ([`Client::connector`]), if
    /// any: a WebSocket handshake sends its cookies for the URL and stores the `Set-Cookie`
    /// headers of the server's 101 answer in it.
    pub fn cookie_jar(&self) -> Option<&super::CookieJar> {
        self.cookie_jar.as_ref()
    }

    /// The client-wide credentials of the client this connector came from, if any: a
    /// WebSocket handshake sends them as `Authorization` unless its headers carry one.
    pub fn basic_auth(&self) -> Option<&super::BasicAuth> {
        self.auth.as_ref()
    }

    /// The proxy a URL would go through.
    pub fn proxy_for(&self, secure: bool, host: &str, port: u16) -> Option<&Proxy> {
        self.proxies.for_url(secure, host, port)
    }

    /// Opens a stream to `host:port` (TLS with SNI and certificate checks for `host` when
    /// `secure`), through a `CONNECT` tunnel when the proxy settings pick a proxy for it.
    ///
    /// # Errors
    ///
    /// [`Error::is_connect`] with the failed step (DNS, TCP, tunnel, TLS) and the host or
    /// proxy in the message and the cause as [`source`](std::error::Error::source); a proxy
    /// refusing the tunnel gives its status in [`Error::proxy_status`];
    /// [`Error::is_timeout`] past the connect timeout.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the attempt: there is nothing to resume, and nothing
    /// leaks (a half-open connection or tunnel is closed).
    pub async fn connect(
        &self,
        secure: bool,
        host: &str,
        port: u16,
    ) -> Result<MaybeTlsStream, Error> {
        let route = Route::through(self.proxy_for(secure, host, port), secure, true);
        #[cfg(feature = "tls")]
        let tls = Some(self.tls.as_ref().unwrap_or_else(|| default_tls()));
        #[cfg(not(feature = "tls"))]
        let tls = None;
        let deadline = self.connect_timeout.map(ConnectDeadline::after);
        open_stream(&route, secure, host, port, tls, deadline, self.max_head).await
    }
}

impl Client {
    /// A [`Connector`] with this client's proxy settings (its own, or the environment's
    /// under [`trust_env`](super::ClientBuilder::trust_env)), TLS settings and connect
    /// timeout: hand it to tulip-ws's `ws_connect` so WebSockets take the same way out as
    /// HTTP requests.
    pub fn connector(&self) -> Connector {
        let cfg = &self.inner.config;
        Connector {
            proxies: cfg.proxies.clone(),
            #[cfg(feature = "tls")]
            tls: Some(base_tls(self).clone()),
            connect_timeout: cfg.timeouts.connect,
            max_head: cfg.max_head,
            cookie_jar: Some(cfg.cookie_jar.clone()),
            auth: cfg.auth.clone(),
        }
    }
}

/// A new connection: HTTP/1.1 for the pool (boxed once here, and the box then moves between
/// the pool and each response as a pointer), or HTTP/2 to share.
pub(crate) enum Connected {
    H1(Box<PoolConn>),
    H2(h2::client::SendRequest<Bytes>),
}

/// The client's TLS connector without ALPN: the one it was given, or the one its TLS
/// options make (built on first use), or the shared default.
#[cfg(feature = "tls")]
fn base_tls(client: &Client) -> &tulip_tls::TlsConnector {
    let cfg = &client.inner.config;
    cfg.tls.get_or_init(|| default_tls().clone())
}

/// The TLS connector for `https://`, offering `h2` then `http/1.1` when HTTP/2 is on and the
/// connector does not choose its own ALPN protocols.
#[cfg(feature = "tls")]
fn tls_connector(client: &Client) -> tulip_tls::TlsConnector {
    let cfg = &client.inner.config;
    let tls = base_tls(client);
    if !cfg.http2 || !tls.config().alpn_protocols.is_empty() {
        return tls.clone();
    }
    let mut rustls = (**tls.config()).clone();
    rustls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    tulip_tls::TlsConnector::new(std::sync::Arc::new(rustls))
}

/// Connects for one request: along `route`, with TLS for https, each step under what is left
/// of the connect timeout; a failure says which step failed and for which `host:port` or
/// proxy. Plain connections through a forward proxy never speak HTTP/2.
pub(crate) async fn connect(
    client: &Client,
    target: &Target,
    route: &Route,
    timeouts: ClientTimeout,
    connect_deadline: Option<Instant>,
) -> Result<Connected, Error> {
    let inner = &client.inner;
    let place = target.host_port();
    // Resolution, dialling, the tunnel and the TLS handshake run under the earlier of what is
    // left of `connect` (which also covered the wait for a pool slot) and `sock_connect`,
    // and a timeout says which of the two fired.
    let sock_deadline = timeouts.sock_connect.map(|d| Instant::now() + d);
    let (at, sock_first) = earlier(connect_deadline, sock_deadline);
    let which = if sock_first {
        TimeoutKind::SockConnect
    } else {
        TimeoutKind::Connect
    };
    let deadline =
        at.map(|at| ConnectDeadline::after(at.saturating_duration_since(Instant::now())));
    #[cfg(feature = "tls")]
    let tls = target.https.then(|| tls_connector(client));
    #[cfg(not(feature = "tls"))]
    let tls: Option<Tls> = None;
    let transport = open_stream(
        route,
        target.https,
        &target.host,
        target.port,
        tls.as_ref(),
        deadline,
        inner.config.max_head,
    )
    .await
    .map_err(|e| e.with_timeout_kind(which).at(&target.uri))?;
    inner.pool.stat(|s| s.connects += 1);
    let h2 = match &transport {
        MaybeTlsStream::Plain(_) => {
            inner.config.http2_prior_knowledge && !matches!(route, Route::Forward(_))
        }
        #[cfg(feature = "tls")]
        MaybeTlsStream::Tls(t) => t.alpn_protocol() == Some(b"h2"),
        #[allow(unreachable_patterns)]
        _ => false,
    };
    if h2 {
        let handshake = crate::h2::client::handshake(transport);
        return match at {
            Some(at) => match tulip_reactor::timeout_at(at, handshake).await {
                Ok(r) => r.map(Connected::H2),
                Err(_) => Err(Error::timeout("HTTP/2 handshake timed out")
                    .with_timeout_kind(which)
                    .during(Phase::Connect)
                    .at(&place)),
            },
            None => handshake.await.map(Connected::H2),
        };
    }
    // A request write that makes no progress fails after the sock_read timeout; none when
    // unset.
    let mut pc = PoolConn::new(Conn::new(transport, timeouts.sock_read));
    if let Route::Forward(proxy) = route {
        pc.forward = Some(proxy.auth().cloned());
    }
    Ok(Connected::H1(Box::new(pc)))
}

/// What the builder collects about TLS trust; [`ClientBuilder::try_build`] makes the
/// connector from it.
///
/// [`ClientBuilder::try_build`]: super::ClientBuilder::try_build
#[derive(Debug)]
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub(crate) struct TlsOptions {
    bundled: bool,
    system: bool,
    #[cfg(feature = "tls")]
    extra_roots: Vec<tulip_tls::pki_types::CertificateDer<'static>>,
    #[cfg(feature = "tls")]
    identity: Option<tulip_tls::Identity>,
    insecure: bool,
    /// Whether any option differs from the defaults (then `ClientBuilder::tls` must not be
    /// given too).
    touched: bool,
}

impl Default for TlsOptions {
    fn default() -> TlsOptions {
        TlsOptions {
            bundled: true,
            system: false,
            #[cfg(feature = "tls")]
            extra_roots: Vec::new(),
            #[cfg(feature = "tls")]
            identity: None,
            insecure: false,
            touched: false,
        }
    }
}

impl TlsOptions {
    /// Builds the client's TLS connector from the options, when any was set.
    pub(crate) fn settle(self, config: &mut super::Config) -> Result<(), Error> {
        if !self.touched {
            return Ok(());
        }
        #[cfg(feature = "tls")]
        {
            let user =
                |what: &'static str, e: std::io::Error| Error::new(Kind::User, what).with_cause(e);
            if config.tls.get().is_some() {
                return Err(Error::new(
                    Kind::User,
                    "ClientBuilder::tls replaces the TLS trust options (roots, client identity, \
                     danger_skip_certificate_verification): use one or the other",
                ));
            }
            let mut b = tulip_tls::TlsConnector::builder();
            if self.insecure {
                b = b.danger_skip_certificate_verification();
            }
            if self.bundled {
                b = b.with_webpki_roots();
            }
            if self.system {
                b = b
                    .with_native_roots()
                    .map_err(|e| user("the system trust store could not be loaded", e))?;
            }
            for cert in self.extra_roots {
                b = b
                    .add_root(cert)
                    .map_err(|e| user("a root certificate is unusable", e))?;
            }
            if let Some(id) = self.identity {
                b = b.client_identity(id);
            }
            let tls = b
                .build()
                .map_err(|e| user("the TLS settings do not make a valid configuration", e))?;
            config.tls = std::sync::OnceLock::from(tls);
            Ok(())
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = config;
            Err(Error::new(
                Kind::User,
                "TLS options need tulip-http's `tls` feature",
            ))
        }
    }
}

/// TLS trust (aiohttp's `ssl=`: an `SSLContext` with `cafile`, `load_cert_chain`, the
/// system store; or `ssl=False`). These build the client's TLS connector; a connector given
/// whole with [`tls`](super::ClientBuilder::tls) excludes them.
#[cfg(feature = "tls")]
impl super::ClientBuilder {
    /// Whether to trust the Mozilla roots bundled in `webpki-roots` (default on).
    pub fn tls_bundled_roots(mut self, on: bool) -> super::ClientBuilder {
        self.tls_trust.bundled = on;
        self.tls_trust.touched = true;
        self
    }

    /// Whether to trust the operating system's store too (default off; Python's
    /// `ssl.create_default_context()`): on Linux the distribution's CA bundle, or
    /// `SSL_CERT_FILE`/`SSL_CERT_DIR` when set. Read when the client is built;
    /// [`try_build`](super::ClientBuilder::try_build) fails with [`Error::is_user`] when the
    /// store has no usable certificate.
    pub fn tls_system_roots(mut self, on: bool) -> super::ClientBuilder {
        self.tls_trust.system = on;
        self.tls_trust.touched = true;
        self
    }

    /// Trusts every certificate of a PEM bundle as a root, beside the others (a private or
    /// test CA: aiohttp's `ssl.create_default_context(cafile=...)`).
    ///
    /// Malformed PEM makes [`try_build`](super::ClientBuilder::try_build) fail with
    /// [`Error::is_user`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let (ca_pem, _) = tulip_test_support::pki::self_signed(&["localhost"]);
    /// let client = tulip_http::Client::builder()
    ///     .add_root_certificate_pem(ca_pem.as_bytes())
    ///     .try_build()?;
    /// # drop(client);
    /// # Ok::<_, tulip_http::Error>(())
    /// ```
    pub fn add_root_certificate_pem(mut self, pem: &[u8]) -> super::ClientBuilder {
        match tulip_tls::pem::certs_from_pem(pem) {
            Ok(certs) => self.tls_trust.extra_roots.extend(certs),
            Err(e) => {
                self.error.get_or_insert(
                    Error::new(Kind::User, "root certificate PEM is malformed").with_cause(e),
                );
            }
        }
        self.tls_trust.touched = true;
        self
    }

    /// Trusts every certificate of a PEM file as a root, like
    /// [`add_root_certificate_pem`](Self::add_root_certificate_pem).
    pub fn add_root_certificate_pem_file(
        mut self,
        path: impl AsRef<std::path::Path>,
    ) -> super::ClientBuilder {
        match tulip_tls::pem::certs_from_pem_file(path) {
            Ok(certs) => self.tls_trust.extra_roots.extend(certs),
            Err(e) => {
                self.error.get_or_insert(
                    Error::new(Kind::User, "root certificate file unusable").with_cause(e),
                );
            }
        }
        self.tls_trust.touched = true;
        self
    }

    /// Presents this certificate chain and key to servers that ask for one (mutual TLS,
    /// aiohttp's `SSLContext.load_cert_chain`); load it with
    /// [`Identity::from_pem`](tulip_tls::Identity::from_pem) or `from_pem_files`.
    pub fn tls_client_identity(mut self, identity: tulip_tls::Identity) -> super::ClientBuilder {
        self.tls_trust.identity = Some(identity);
        self.tls_trust.touched = true;
        self
    }

    /// **Turns off the server certificate check** for every `https://` request of this
    /// client (aiohttp's `ssl=False`, curl's `--insecure`): expired, self-signed and
    /// wrong-name certificates are all accepted, so anyone on the path can read and change
    /// the traffic. For test servers only; prefer trusting the test CA with
    /// [`add_root_certificate_pem`](Self::add_root_certificate_pem). The client's first
    /// handshake logs a warning (through `log`).
    pub fn danger_skip_certificate_verification(mut self) -> super::ClientBuilder {
        self.tls_trust.insecure = true;
        self.tls_trust.touched = true;
        self
    }
}
